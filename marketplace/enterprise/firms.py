"""Firm look-ups and profile edits."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from marketplace.errors import InputError, NotFoundError, msg
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmName,
    FirmPatent,
    FirmProduct,
    Industry,
    NameKind,
    Patent,
    Product,
    Tier,
)
from marketplace.models.base import utcnow
from marketplace.models.firms import name_key
from marketplace.regions import normalize_region, parse_region


def get_firm(session: Session, firm_id: int) -> Firm:
    firm = session.get(
        Firm,
        firm_id,
        options=[
            selectinload(Firm.names),
            selectinload(Firm.products).selectinload(FirmProduct.product),
            selectinload(Firm.industries).selectinload(FirmIndustry.industry),
            selectinload(Firm.patents).selectinload(FirmPatent.patent),
        ],
    )
    if firm is None:
        raise _no_such_firm(firm_id)
    return firm


def _no_such_firm(firm_id: int) -> NotFoundError:
    return NotFoundError(
        msg("firm %(id)s does not exist; find firms with `firms search TEXT`", id=firm_id), field="firm_id"
    )


def search_firms(
    session: Session,
    text: str,
    *,
    limit: int = 20,
    offset: int = 0,
    kind: FirmKind | None = None,
) -> list[Firm]:
    """Firms whose name, short name, former name or a product contains ``text``."""
    query = _firm_search(session, text, kind)
    text = text.strip()
    # Exact and name matches first, then listed firms, then by id for a stable order.
    contains = _contains_ignoring_case(session, text)
    name_first = (Firm.name == text).desc(), contains(Firm.name, text).desc()
    query = query.order_by(*name_first, Firm.stock_code.is_(None), Firm.id)
    return list(session.scalars(query.offset(offset).limit(limit)))


def count_firms(session: Session, text: str, *, kind: FirmKind | None = None) -> int:
    """How many firms :func:`search_firms` finds in all (for paging)."""
    query = _firm_search(session, text, kind).with_only_columns(Firm.id).order_by(None)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _firm_search(session: Session, text: str, kind: FirmKind | None) -> Any:
    text = (text or "").strip()
    if not text:
        raise InputError(msg("search text is empty; give part of a firm or product name"), field="text")
    contains = _contains_ignoring_case(session, text)
    by_name = select(FirmName.firm_id).where(contains(FirmName.name, text))
    by_product = (
        select(FirmProduct.firm_id)
        .join(Product, Product.id == FirmProduct.product_id)
        .where(contains(Product.name, text))
    )
    query = select(Firm).where(
        or_(contains(Firm.name, text), contains(Firm.short_name, text), Firm.id.in_(by_name), Firm.id.in_(by_product))
    )
    return query.where(Firm.kind == kind) if kind is not None else query


def _contains_ignoring_case(session: Session, text: str):  # noqa: ANN202 - returns (column, text) -> SQL condition
    """Substring match that ignores Latin case on every database, with % and _ taken literally.

    SQLite's LIKE already ignores ASCII case, and wrapping both sides in lower() (what ILIKE
    becomes there) doubles the cost of the scan. PostgreSQL's LIKE does not, so text with cased
    letters gets ILIKE there; text without any (Chinese, digits: most searches) gets LIKE, which
    finds the same rows and scans twice as fast (measured on the full data: 45 -> 23 ms a search,
    the statement that took most of the server's time under load; docs/benchmarks.md)."""
    if session.get_bind().dialect.name == "sqlite" or text.lower() == text == text.upper():
        return lambda column, text: column.contains(text, autoescape=True)
    return lambda column, text: column.icontains(text, autoescape=True)


def list_firms(session: Session, *, limit: int = 20, offset: int = 0, kind: FirmKind | None = None) -> list[Firm]:
    query = select(Firm).order_by(Firm.stock_code.is_(None), Firm.id)
    if kind is not None:
        query = query.where(Firm.kind == kind)
    return list(session.scalars(query.offset(offset).limit(limit)))


def firm_summary(firm: Firm) -> dict[str, Any]:
    return {
        "firm_id": firm.id,
        "name": firm.name,
        "short_name": firm.short_name,
        "stock_code": firm.stock_code,
        "kind": firm.kind.value if firm.kind else None,
        "tier": firm.tier.value if firm.tier else None,
        "region": firm.region,
    }


def firm_detail(session: Session, firm_id: int) -> dict[str, Any]:
    """Everything the firm page, ``GET /api/v1/firms/{id}`` and ``firms show`` print: the firm, then
    its names, products (largest share of revenue first), industries and patents read as plain rows.
    Loading them as ORM objects (``get_firm``, for edits) took two thirds of the firm page's CPU
    under load (docs/benchmarks.md, "Load")."""
    firm = session.get(Firm, firm_id)
    if firm is None:
        raise _no_such_firm(firm_id)
    names = session.execute(
        select(FirmName.name, FirmName.kind).where(FirmName.firm_id == firm_id).order_by(FirmName.id)
    )
    products = session.execute(
        select(Product.name, FirmProduct.weight, FirmProduct.source)
        .join(Product, Product.id == FirmProduct.product_id)
        .where(FirmProduct.firm_id == firm_id)
        .order_by(func.coalesce(FirmProduct.weight, 0).desc(), FirmProduct.id)
    )
    industries = session.execute(
        select(Industry.name, Industry.code, FirmIndustry.source)
        .join(Industry, Industry.id == FirmIndustry.industry_id)
        .where(FirmIndustry.firm_id == firm_id)
        .order_by(FirmIndustry.id)
    )
    patents = session.execute(
        select(Patent.title, FirmPatent.source)
        .join(Patent, Patent.id == FirmPatent.patent_id)
        .where(FirmPatent.firm_id == firm_id)
        .order_by(FirmPatent.id)
    )
    return {
        **firm_summary(firm),
        "kind_label": firm.kind.label_zh if firm.kind else None,
        "tier_label": firm.tier.label_zh if firm.tier else None,
        "exchange": firm.exchange,
        "listed_on": firm.listed_on.isoformat() if firm.listed_on else None,
        "description": firm.description,
        "source": firm.source,
        "fact_sources": firm.fact_sources,
        "names": [{"name": name, "kind": kind.value} for name, kind in names],
        "products": [{"name": name, "weight": weight, "source": source} for name, weight, source in products],
        "industries": [{"name": name, "code": code, "source": source} for name, code, source in industries],
        "patents": [{"title": title, "source": source} for title, source in patents],
    }


def clean_firm_name(name: str) -> str:
    """A firm name as stored: trimmed, without invisible characters (zero-width, direction marks)."""
    return "".join(ch for ch in (name or "") if unicodedata.category(ch) not in ("Cf", "Cc")).strip()


def firms_named(session: Session, name: str) -> set[int]:
    """The firms a name refers to: the registered name, the short name or any other name a firm
    is known by, compared by :func:`name_key` (indexed lookups, no scan)."""
    key = name_key(name)
    if not key:
        return set()
    found = set(session.scalars(select(Firm.id).where(or_(Firm.name_key == key, Firm.short_name_key == key))))
    return found | set(session.scalars(select(FirmName.firm_id).where(FirmName.name_key == key)))


def create_firm(
    session: Session,
    *,
    name: str,
    kind: FirmKind = FirmKind.SME,
    short_name: str | None = None,
    region: str | None = None,
    tier: Tier | None = None,
    description: str | None = None,
    source: str = "user",
) -> Firm:
    name = clean_firm_name(name)
    if not name:
        raise InputError(msg("name: a firm needs its registered name"), field="name")
    if firms_named(session, name):
        raise InputError(msg("name: a firm named %(name)r already exists", name=name), field="name")
    firm = Firm(
        name=name,
        short_name=(short_name or "").strip() or None,
        kind=kind,
        tier=tier,
        region=normalize_region(region),
        description=description,
        source=source,
        fact_sources={"name": source, "kind": "user"},
    )
    firm.names.append(FirmName(name=name, kind=NameKind.REGISTERED, source=source))
    session.add(firm)
    session.flush()
    return firm


def update_profile(
    session: Session,
    firm: Firm,
    *,
    description: str | None = None,
    region: str | None = None,
    tier: Tier | None = None,
    products: list[str] | None = None,
    industries: list[str] | None = None,
    patents: list[str] | None = None,
    source: str = "user",
) -> Firm:
    """Replace parts of a capability profile with what the firm says. A list that is given is the
    whole list: entries not in it are removed, new ones are recorded with ``source``. ``tier`` is
    set as recognised: for trusted sources (imports, demo data); a firm's own users claim a tier
    with ``marketplace.enterprise.tiers.claim_tier`` instead."""
    facts = dict(firm.fact_sources or {})
    if description is not None:
        firm.description = description.strip() or None
        facts["description"] = source
    if region is not None:
        firm.region = parse_region(region)
        facts["region"] = source
    if tier is not None:
        firm.tier = tier
        facts["tier"] = source
    firm.fact_sources = facts
    for field, values, limit in (
        ("products", products, 255),
        ("industries", industries, 255),
        ("patents", patents, 500),
    ):
        _check_lines(field, values, limit)
    if products is not None:
        _replace_links(session, firm, firm.products, FirmProduct, "product", Product, "name", products, source)
    if industries is not None:
        _replace_industries(session, firm, industries, source)
    if patents is not None:
        _replace_links(session, firm, firm.patents, FirmPatent, "patent", Patent, "title", patents, source)
    firm.updated_at = utcnow()  # marks the profile as changed for every server process's engine
    session.flush()
    return firm


def _check_lines(field: str, values: list[str] | None, limit: int) -> None:
    """Each entry (a line, or a part between 、) within what the table stores, named by its number."""
    for number, value in enumerate(values or [], start=1):
        length = len((value or "").strip())
        if length > limit:
            raise InputError(
                msg(
                    "%(field)s: entry %(number)s has %(length)s characters; at most %(limit)s per entry",
                    field=field,
                    number=number,
                    length=length,
                    limit=limit,
                ),
                field=field,
            )


def _clean(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        v = (v or "").strip()
        if v:
            seen.setdefault(v, None)
    return list(seen)


def _replace_links(session, firm, links, link_cls, attr, target_cls, key, values, source) -> None:  # noqa: ANN001
    wanted = _clean(values)
    for link in [link for link in links if getattr(getattr(link, attr), key) not in wanted]:
        links.remove(link)
    have = {getattr(getattr(link, attr), key) for link in links}
    for value in wanted:
        if value in have:
            continue
        target = session.scalar(select(target_cls).where(getattr(target_cls, key) == value))
        if target is None:
            target = target_cls(**{key: value, "source": source})
            session.add(target)
        links.append(link_cls(**{attr: target, "source": source}))


def _replace_industries(session: Session, firm: Firm, values: list[str], source: str) -> None:
    wanted = _clean(values)
    for link in [fi for fi in firm.industries if fi.industry.name not in wanted]:
        firm.industries.remove(link)
    have = {fi.industry.name for fi in firm.industries}
    for name in wanted:
        if name in have:
            continue
        industry = session.scalar(select(Industry).where(Industry.name == name).order_by(Industry.code.is_(None)))
        if industry is None:
            industry = Industry(key=f"name:{name}", name=name, source=source)
            session.add(industry)
        firm.industries.append(FirmIndustry(industry=industry, source=source))


def resolve_firm(session: Session, ref: str, field: str = "firm") -> Firm:
    """A firm by id, or by exactly one of its names."""
    ref = (ref or "").strip()
    if ref.isascii() and ref.isdigit():  # "²".isdigit() is true, int("²") fails
        return get_firm(session, int(ref))
    ids = set(session.scalars(select(FirmName.firm_id).where(FirmName.name == ref)))
    ids |= set(session.scalars(select(Firm.id).where(or_(Firm.name == ref, Firm.short_name == ref))))
    if not ids:
        raise NotFoundError(
            msg("%(field)s: no firm named %(ref)r; use `firms search` to find it", field=field, ref=ref), field=field
        )
    if len(ids) > 1:
        raise InputError(
            msg("%(field)s: %(ref)r names several firms (%(ids)s); give the id", field=field, ref=ref, ids=sorted(ids)),
            field=field,
        )
    return get_firm(session, ids.pop())
