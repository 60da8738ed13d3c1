"""Counts of what the marketplace holds."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.models import (
    Demand,
    Firm,
    FirmKind,
    FirmRelation,
    Industry,
    MatchSuggestion,
    Patent,
    Product,
    ProductRelation,
)


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def counts(session: Session) -> dict[str, int]:
    return {
        "firms": _count(session, Firm),
        "large_firms": _count(session, Firm, Firm.kind == FirmKind.LARGE),
        "smes": _count(session, Firm, Firm.kind == FirmKind.SME),
        "products": _count(session, Product),
        "product_relations": _count(session, ProductRelation),
        "industries": _count(session, Industry),
        "patents": _count(session, Patent),
        "firm_relations": _count(session, FirmRelation),
        "demands": _count(session, Demand),
        "suggestions": _count(session, MatchSuggestion),
    }
