"""Importer for the ChainKG A-share industry-chain data (JSON Lines, see ../shared/data/README.md).

Loads Shenwan industries with their hierarchy and upstream links, listed companies (as large
enterprises, with registered, short and former names), products with revenue shares, and
product relations. Idempotent: rows already present are left as they are.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from marketplace.importers.base import (
    FirmDirectory,
    ImportReport,
    KeyCache,
    LinkSet,
    RowErrors,
    iter_jsonl,
    require_file,
)
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmName,
    FirmProduct,
    Industry,
    IndustryUpstream,
    NameKind,
    Product,
    ProductRelation,
    ProductRelationKind,
)
from marketplace.regions import infer_region

SOURCE = "chainkg"
FILES = (
    "industries.jsonl",
    "industry_hierarchy.jsonl",
    "industry_upstream.jsonl",
    "companies.jsonl",
    "products.jsonl",
    "company_product.jsonl",
    "company_industry.jsonl",
    "product_relations.jsonl",
)


def shenwan_level(code: str) -> int:
    """Shenwan codes: AA0000 is level 1, AABB00 level 2, AABBCC level 3."""
    if code.endswith("0000"):
        return 1
    if code.endswith("00"):
        return 2
    return 3


def import_chainkg(session: Session, directory: Path, *, skip_bad: bool = False, progress: bool = True) -> ImportReport:
    """Import every ChainKG file from ``directory`` into the session's open transaction."""
    directory = Path(directory)
    paths = {name: require_file(directory, name) for name in FILES}
    report = ImportReport("chainkg")
    errors = RowErrors(report, skip_bad)
    industries = _industries(session, paths, errors, report, progress)
    firms = _companies(session, paths["companies.jsonl"], errors, report, progress)
    products = _products(session, paths["products.jsonl"], errors, report, progress)
    _company_products(session, paths["company_product.jsonl"], firms, products, errors, report, progress)
    _company_industries(session, paths["company_industry.jsonl"], firms, industries, errors, report, progress)
    _product_relations(session, paths["product_relations.jsonl"], products, errors, report, progress)
    session.flush()
    return report


def _industries(
    session: Session, paths: dict[str, Path], errors: RowErrors, report: ImportReport, progress: bool
) -> dict[str, int]:
    cache = KeyCache(session, Industry.__table__, "key")
    rows = []
    for lineno, row in iter_jsonl(paths["industries.jsonl"], errors, {"code": str, "name": str}, progress):
        code = row["code"].strip()
        if not (len(code) == 6 and code.isdigit()):
            errors.bad(paths["industries.jsonl"], lineno, f"industry code {code!r} is not 6 digits")
            continue
        rows.append(
            {
                "key": f"sw:{code}",
                "code": code,
                "name": row["name"].strip(),
                "level": shenwan_level(code),
                "source": SOURCE,
            }
        )
    report.added["industries"] += cache.ensure(rows)
    by_code = {k.removeprefix("sw:"): v for k, v in cache.ids.items() if k.startswith("sw:")}

    hierarchy = paths["industry_hierarchy.jsonl"]
    for _lineno, row in iter_jsonl(hierarchy, errors, {"industry": str, "parent": str}, progress):
        child, parent = by_code.get(row["industry"]), by_code.get(row["parent"])
        if child is None or parent is None:
            report.notes["industry_hierarchy: unknown industry code (skipped)"] += 1
            continue
        session.execute(
            update(Industry).where(Industry.id == child, Industry.parent_id.is_(None)).values(parent_id=parent)
        )

    links = LinkSet(session, IndustryUpstream.__table__, ("industry_id", "upstream_id"))
    upstream = paths["industry_upstream.jsonl"]
    for lineno, row in iter_jsonl(upstream, errors, {"industry": str, "upstream": str}, progress):
        ind, up = by_code.get(row["industry"]), by_code.get(row["upstream"])
        if ind is None or up is None:
            report.notes["industry_upstream: unknown industry code (skipped)"] += 1
            continue
        support = row.get("support", 0)
        if not isinstance(support, int) or isinstance(support, bool) or support < 0:
            errors.bad(upstream, lineno, f"support must be a non-negative integer, got {support!r}")
            continue
        links.add({"industry_id": ind, "upstream_id": up, "support": support, "source": SOURCE})
    links.flush()
    report.added["industry_upstream"] += links.added
    return by_code


def _parse_date(text: object) -> date | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _companies(session: Session, path: Path, errors: RowErrors, report: ImportReport, progress: bool) -> dict[str, int]:
    """Upsert listed companies; returns stock code -> firm id."""
    directory = FirmDirectory(session)
    existing_names = set(session.execute(select(FirmName.firm_id, FirmName.name)).tuples())
    by_code: dict[str, int] = {}
    for lineno, row in iter_jsonl(path, errors, {"code": str, "name": str}, progress):
        code = row["code"].strip()
        if not (len(code) == 6 and code.isdigit()):
            errors.bad(path, lineno, f"stock code {code!r} is not 6 digits")
            continue
        other = row.get("other_names") or []
        if not isinstance(other, list) or not all(isinstance(n, str) for n in other):
            errors.bad(path, lineno, "other_names must be a list of strings")
            continue
        short = row["name"].strip()
        full = (row.get("fullname") or "").strip() or short
        firm_id = directory.find([full, short, *other], stock_code=code)
        firm = session.get(Firm, firm_id) if firm_id else None
        if firm is None:
            firm = Firm(name=full, source=SOURCE, fact_sources={})
            session.add(firm)
            report.added["firms"] += 1
        elif SOURCE not in firm.source:
            firm.source = f"{firm.source}+{SOURCE}"
        _apply_listing(firm, full, short, code, row)
        session.flush()
        directory.remember(firm.id, [full, short, *other], code)
        by_code[code] = firm.id
        names = [(full, NameKind.REGISTERED), (short, NameKind.SHORT)]
        names += [(n.strip(), NameKind.FORMER) for n in other if n.strip()]
        for name, kind in names:
            if (firm.id, name) not in existing_names:
                existing_names.add((firm.id, name))
                session.add(FirmName(firm_id=firm.id, name=name, kind=kind, source=SOURCE))
                report.added["firm_names"] += 1
    session.flush()
    return by_code


def _apply_listing(firm: Firm, full: str, short: str, code: str, row: dict) -> None:
    """Listed-company facts win over names inferred from other sources."""
    facts = dict(firm.fact_sources or {})
    firm.name = full
    firm.short_name = short
    firm.stock_code = code
    firm.exchange = row.get("exchange") or firm.exchange
    firm.listed_on = _parse_date(row.get("listed")) or firm.listed_on
    if facts.get("kind") != "user":  # a kind set by the firm itself is kept
        firm.kind = FirmKind.LARGE
        facts["kind"] = "chainkg:listed-company"
    if not firm.region:
        region = infer_region(full)
        if region:
            firm.region = region
            facts["region"] = "inferred:registered-name"
    facts.setdefault("name", SOURCE)
    firm.fact_sources = facts


def _products(session: Session, path: Path, errors: RowErrors, report: ImportReport, progress: bool) -> KeyCache:
    cache = KeyCache(session, Product.__table__, "name")
    rows = [
        {"name": row["name"].strip(), "source": SOURCE} for _, row in iter_jsonl(path, errors, {"name": str}, progress)
    ]
    report.added["products"] += cache.ensure(rows)
    return cache


def _company_products(
    session: Session,
    path: Path,
    firms: dict[str, int],
    products: KeyCache,
    errors: RowErrors,
    report: ImportReport,
    progress: bool,
) -> None:
    links = LinkSet(session, FirmProduct.__table__, ("firm_id", "product_id"))
    rows = []
    for lineno, row in iter_jsonl(path, errors, {"company": str, "product": str}, progress):
        weight = row.get("weight", 0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
            errors.bad(path, lineno, f"weight must be a number (share of revenue), got {weight!r}")
            continue
        if not 0 <= weight <= 1:
            report.notes["company_product: revenue share outside 0..1 (kept as reported)"] += 1
        firm_id = firms.get(row["company"])
        if firm_id is None:
            report.notes["company_product: unknown company code (skipped)"] += 1
            continue
        rows.append((firm_id, row["product"].strip(), float(weight) or None))
    report.added["products"] += products.ensure({"name": p, "source": SOURCE} for _, p, _ in rows)
    for firm_id, product, weight in rows:
        links.add({"firm_id": firm_id, "product_id": products.get(product), "weight": weight, "source": SOURCE})
    links.flush()
    report.added["firm_products"] += links.added


def _company_industries(
    session: Session,
    path: Path,
    firms: dict[str, int],
    industries: dict[str, int],
    errors: RowErrors,
    report: ImportReport,
    progress: bool,
) -> None:
    links = LinkSet(session, FirmIndustry.__table__, ("firm_id", "industry_id"))
    for _lineno, row in iter_jsonl(path, errors, {"company": str, "industry": str}, progress):
        firm_id, industry_id = firms.get(row["company"]), industries.get(row["industry"])
        if industry_id is None or firm_id is None:
            what = "industry" if industry_id is None else "company"
            report.notes[f"company_industry: unknown {what} code (skipped)"] += 1
            continue
        links.add({"firm_id": firm_id, "industry_id": industry_id, "source": SOURCE})
    links.flush()
    report.added["firm_industries"] += links.added


def _product_relations(
    session: Session, path: Path, products: KeyCache, errors: RowErrors, report: ImportReport, progress: bool
) -> None:
    kinds = {k.value: k for k in ProductRelationKind}
    rows = []
    for lineno, row in iter_jsonl(path, errors, {"product": str, "relation": str, "other": str}, progress):
        kind = kinds.get(row["relation"])
        if kind is None:
            errors.bad(path, lineno, f"unknown relation {row['relation']!r}; expected one of {', '.join(kinds)}")
            continue
        rows.append((row["product"].strip(), kind, row["other"].strip()))
    names = ({"name": n, "source": SOURCE} for a, _, b in rows for n in (a, b))
    report.added["products"] += products.ensure(names)
    links = LinkSet(session, ProductRelation.__table__, ("product_id", "relation", "other_id"))
    for a, kind, b in rows:
        links.add(
            {"product_id": products.get(a), "relation": kind.value, "other_id": products.get(b), "source": SOURCE}
        )
    links.flush()
    report.added["product_relations"] += links.added
