"""Counts of what the marketplace holds."""

from __future__ import annotations

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import Viewer, visible_demands_clause, visible_suggestions_clause
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


def catalogue_counts(session: Session) -> dict[str, int]:
    """Totals of the imported catalogue (firms, products, ...): the same for every viewer."""
    return {
        "firms": _count(session, Firm),
        "large_firms": _count(session, Firm, Firm.kind == FirmKind.LARGE),
        "smes": _count(session, Firm, Firm.kind == FirmKind.SME),
        "products": _count(session, Product),
        "product_relations": _count(session, ProductRelation),
        "industries": _count(session, Industry),
        "patents": _count(session, Patent),
        "firm_relations": _count(session, FirmRelation),
    }


def visible_counts(session: Session, viewer: Viewer | None = None) -> dict[str, int]:
    """Demands and suggestions that ``viewer`` may see (None: everything, for the CLI)."""
    demands = visible_demands_clause(viewer) if viewer is not None else true()
    suggestions = visible_suggestions_clause(viewer) if viewer is not None else true()
    return {
        "demands": _count(session, Demand, demands),
        "suggestions": _count(session, MatchSuggestion, suggestions),
    }


def counts(session: Session, viewer: Viewer | None = None) -> dict[str, int]:
    """Totals; demands and suggestions only count what ``viewer`` may see (None: everything,
    for the CLI on the server)."""
    return {**catalogue_counts(session), **visible_counts(session, viewer)}


def demand_breakdown(session: Session, viewer: Viewer | None = None) -> dict[str, dict[str, int]]:
    """Demands (that ``viewer`` may see) by type and by status."""
    from marketplace.models import DemandStatus, DemandType

    seen = visible_demands_clause(viewer) if viewer is not None else true()
    by_type = dict(session.execute(select(Demand.type, func.count()).where(seen).group_by(Demand.type)).tuples().all())
    by_status = dict(
        session.execute(select(Demand.status, func.count()).where(seen).group_by(Demand.status)).tuples().all()
    )
    return {
        "by_type": {t.value: by_type.get(t, 0) for t in DemandType},
        "by_status": {s.value: by_status.get(s, 0) for s in DemandStatus},
    }


def suggestion_funnel(session: Session, viewer: Viewer | None = None) -> dict[str, int]:
    """How many suggestions (on demands ``viewer`` may see) reached each step: suggested (all)
    -> accepted -> contacted."""
    from marketplace.models import SuggestionStatus

    seen = visible_suggestions_clause(viewer) if viewer is not None else true()
    by_status = dict(
        session.execute(select(MatchSuggestion.status, func.count()).where(seen).group_by(MatchSuggestion.status))
        .tuples()
        .all()
    )
    contacted = by_status.get(SuggestionStatus.CONTACTED, 0)
    accepted = by_status.get(SuggestionStatus.ACCEPTED, 0) + contacted
    return {
        "suggested": sum(by_status.values()),
        "accepted": accepted,
        "contacted": contacted,
        "declined": by_status.get(SuggestionStatus.DECLINED, 0),
    }


def unmet_industries(session: Session, limit: int = 10, viewer: Viewer | None = None) -> list[tuple[str, int]]:
    """Industries named by open demands (that ``viewer`` may see) that no firm has accepted yet,
    most demanded first."""
    from collections import Counter

    from marketplace.models import DemandStatus, FirmIndustry, SuggestionStatus

    accepted = select(MatchSuggestion.demand_id).where(
        MatchSuggestion.status.in_([SuggestionStatus.ACCEPTED, SuggestionStatus.CONTACTED])
    )
    open_demands = session.scalars(
        select(Demand).where(
            Demand.status == DemandStatus.OPEN,
            Demand.id.not_in(accepted),
            visible_demands_clause(viewer) if viewer is not None else true(),
        )
    ).all()
    tally: Counter[str] = Counter()
    for demand in open_demands:
        names = set(demand.wanted_industries or [])
        if not names:
            rows = session.execute(
                select(Industry.name)
                .join(FirmIndustry, FirmIndustry.industry_id == Industry.id)
                .where(FirmIndustry.firm_id == demand.owner_firm_id)
            )
            names = {name for (name,) in rows}
        tally.update(names)
    return tally.most_common(limit)
