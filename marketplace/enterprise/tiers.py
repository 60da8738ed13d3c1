"""Tier readiness (梯度培育): evaluate a firm's figures against the published criteria of each tier.

The criteria are data (``marketplace/tier_criteria/<year>.yaml``, validated when loaded): tiers
with prerequisite conditions, a scored indicator table with a pass mark, and direct-qualification
routes. A firm's figures come from what it filled in, falling back to what its profile tells
(years since listing, patents on record). The assessment says which tiers are met, the score
where a tier is scored, each missing condition with the gap, and what the next tier needs.
Who may see a firm's figures is decided by :func:`can_view_figures` alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import acting_user_ids
from marketplace.enterprise.units import unit_en
from marketplace.errors import ConflictError, InputError, PermissionDeniedError, Term, msg
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmPatent,
    FirmProduct,
    Industry,
    Organization,
    Role,
    Tier,
    TierFigures,
)

CRITERIA_DIR = Path(__file__).resolve().parents[1] / "tier_criteria"
OPS = (">=", "<=", ">", "<", "==", "in", "true")
NEAR_SCORE = 10  # a scored tier is "nearly met" within this many points of its pass mark
TRUE_WORDS = {"1", "true", "yes", "y", "是", "有", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "无", "off", ""}


# --- criteria ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criteria:
    """One edition of the tier criteria, as loaded from its YAML file."""

    year: int
    title_zh: str
    title_en: str
    sources: list[dict[str, Any]]
    fields: dict[str, dict[str, Any]]
    tiers: list[dict[str, Any]]

    def tier(self, key: str) -> dict[str, Any]:
        for t in self.tiers:
            if t["key"] == key:
                return t
        raise InputError(
            msg("tier: unknown tier %(key)r; use one of %(tiers)s", key=key, tiers=[t["key"] for t in self.tiers]),
            field="tier",
        )


def available_years() -> list[int]:
    return sorted(int(p.stem) for p in CRITERIA_DIR.glob("*.yaml") if p.stem.isdigit())


@lru_cache(maxsize=8)
def load_criteria(year: int | None = None) -> Criteria:
    """The criteria of ``year`` (default: the newest edition); malformed files fail loudly."""
    years = available_years()
    if year is None:
        year = years[-1]
    if year not in years:
        raise InputError(
            msg("year: no tier criteria for %(year)s; available: %(years)s", year=year, years=years), field="year"
        )
    path = CRITERIA_DIR / f"{year}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    criteria = Criteria(
        year=int(raw["version"]),
        title_zh=raw["title_zh"],
        title_en=raw["title_en"],
        sources=raw["sources"],
        fields=raw["fields"],
        tiers=raw["tiers"],
    )
    _check_criteria(criteria, path)
    return criteria


FIELD_KEYS = {"type", "unit", "zh", "en", "profile", "choices"}


def _check_criteria(c: Criteria, path: Path) -> None:
    for key, spec in c.fields.items():
        if set(spec) - FIELD_KEYS or spec.get("type") not in ("number", "bool", "choice"):
            raise ValueError(f"{path.name}: field {key} has unknown keys {sorted(set(spec) - FIELD_KEYS)} or type")
    source_ids = {s["id"] for s in c.sources}
    keys = [t["key"] for t in c.tiers]
    for tier in c.tiers:
        where = f"{path.name}: tier {tier['key']}"
        if tier.get("source") not in source_ids:
            raise ValueError(f"{where}: source {tier.get('source')!r} is not listed under sources")
        if tier.get("requires") and tier["requires"] not in keys[: keys.index(tier["key"])]:
            raise ValueError(f"{where}: requires {tier['requires']!r}, which is not a lower tier")
        for cond in tier.get("conditions", []) + tier.get("direct", []):
            _check_condition(c, cond, where)
        score = tier.get("score")
        if score:
            groups = {g["key"] for g in score.get("groups", [])}
            for ind in score["indicators"]:
                if ind.get("group") not in groups:
                    raise ValueError(f"{where}: indicator {ind['key']} has unknown group {ind.get('group')!r}")
                for band in ind.get("bands", []):
                    _check_condition(c, band["when"], where)
                if "per_unit" in ind and ind["per_unit"]["field"] not in c.fields:
                    raise ValueError(f"{where}: indicator {ind['key']} reads unknown field")


def _check_condition(c: Criteria, cond: dict[str, Any], where: str) -> None:
    if "any" in cond or "all" in cond:
        for sub in cond.get("any", []) + cond.get("all", []):
            _check_condition(c, sub, where)
        return
    spec = c.fields.get(cond.get("field"))
    if spec is None:
        raise ValueError(f"{where}: condition on unknown field {cond.get('field')!r}")
    if cond.get("op") not in OPS:
        raise ValueError(f"{where}: unknown operator {cond.get('op')!r} on {cond['field']}")
    if cond["op"] == "in" and any(v not in spec.get("choices", {}) for v in cond["value"]):
        raise ValueError(f"{where}: {cond['field']} has no choice among {cond['value']}")


# --- figures ---------------------------------------------------------------------------------


def parse_figures(criteria: Criteria, raw: dict[str, Any]) -> dict[str, Any]:
    """Typed figures from user input; unknown fields and unreadable values are refused by name.
    Empty values are dropped (a figure not given is unknown, not zero)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        spec = criteria.fields.get(key)
        if spec is None:
            raise InputError(
                msg("%(key)s: unknown figure; known figures: %(known)s", key=key, known=", ".join(criteria.fields)),
                field=key,
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[key] = _parse_value(key, spec, value)
    return out


def _name(spec: dict[str, Any]) -> Term:
    """A figure's name for messages: Chinese on Chinese pages, English otherwise."""
    return Term(spec["zh"], spec.get("en") or spec["zh"])


# a pipeline group of firms whose industry or region is not on record (pages show them translated)
UNKNOWN_CHAIN, UNKNOWN_REGION = "（未知行业）", "（未知地区）"
MAX_FIGURE = 1e12  # any figure (万元, %, years, counts) beyond this is a typing error


def _parse_value(key: str, spec: dict[str, Any], value: Any) -> Any:
    kind = spec["type"]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise InputError(
            msg("%(key)s: %(name)s takes yes/no (是/否), not %(value)r", key=key, name=_name(spec), value=value),
            field=key,
        )
    if kind == "choice":
        if not isinstance(value, str) or value not in spec["choices"]:  # a list or object is no choice
            raise InputError(
                msg(
                    "%(key)s: %(name)s: choose one of %(choices)s",
                    key=key,
                    name=_name(spec),
                    choices=", ".join(spec["choices"]),
                ),
                field=key,
            )
        return value
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):  # true is no amount, nor a list
            raise ValueError(value)
        number = float(value.replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        unit = spec.get("unit", "")
        raise InputError(
            msg(
                "%(key)s: %(name)s must be a number (%(unit)s), not %(value)r",
                key=key,
                name=_name(spec),
                unit=Term(unit, unit_en(unit)),
                value=value,
            ),
            field=key,
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(msg("%(key)s: %(name)s must be a finite number", key=key, name=_name(spec)), field=key)
    if abs(number) > MAX_FIGURE:  # 1e308 would be stored as a 309-digit integer
        raise InputError(
            msg("%(key)s: %(name)s is at most %(max)s", key=key, name=_name(spec), max=f"{MAX_FIGURE:,.0f}"), field=key
        )
    growth = "growth" in key
    if number < 0 and not growth and key != "net_profit_margin":
        raise InputError(msg("%(key)s: %(name)s cannot be negative", key=key, name=_name(spec)), field=key)
    if spec.get("unit") == "%" and number > 100 and not growth:
        raise InputError(
            msg("%(key)s: %(name)s is a percentage; give a value from 0 to 100", key=key, name=_name(spec)), field=key
        )
    return int(number) if number.is_integer() else number


def profile_figures(
    listed_on: date | None, patents: int, top_product_share: float | None = None, today: date | None = None
) -> dict[str, Any]:
    """Figures a profile tells without the firm typing them in: years since listing (a lower bound
    of years in business and in the segment), patents on record (taken for Ⅰ类 intellectual
    property related to the main product until the firm says otherwise) and the revenue share of
    its main product as its annual report gives it (product weights, clamped to 0..1)."""
    today = today or date.today()
    out: dict[str, Any] = {}
    if listed_on is not None:
        years = (today - listed_on).days // 365
        out["years_in_segment"] = years
        out["years_in_business"] = years
    if patents:
        out["class_i_ip_count"] = patents
    if top_product_share is not None and top_product_share > 0:
        out["main_product_share"] = round(min(1.0, top_product_share) * 100, 1)
    return out


def get_figures(session: Session, firm: Firm, year: int | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(figures, where each came from): what the firm filled in, else what its profile tells."""
    criteria = load_criteria(year)
    row = session.scalar(
        select(TierFigures).where(TierFigures.firm_id == firm.id, TierFigures.criteria_year == criteria.year)
    )
    stored = dict(row.figures) if row else {}
    shares = [fp.weight for fp in firm.products if fp.weight is not None]
    derived = profile_figures(firm.listed_on, len(firm.patents), max(shares, default=None))
    figures = {**derived, **stored}
    sources = {k: ("firm" if k in stored else "profile") for k in figures}
    return figures, sources


def save_figures(
    session: Session, firm: Firm, raw: dict[str, Any], *, by: str, year: int | None = None, replace: bool = False
) -> TierFigures:
    """Store the figures a firm (or its organizer) entered; with ``replace`` the given figures are
    the whole set, otherwise they update the stored ones."""
    criteria = load_criteria(year)
    parsed = parse_figures(criteria, raw)
    row = session.scalar(
        select(TierFigures).where(TierFigures.firm_id == firm.id, TierFigures.criteria_year == criteria.year)
    )
    if row is None:
        row = TierFigures(firm_id=firm.id, criteria_year=criteria.year, figures={})
        session.add(row)
    merged = parsed if replace else {**(row.figures or {}), **parsed}
    if not replace:
        for key, value in raw.items():  # an emptied field removes the figure
            if value is None or (isinstance(value, str) and not value.strip()):
                merged.pop(key, None)
    row.figures = merged
    row.updated_by = by
    session.flush()
    return row


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class Check:
    met: bool | None  # None: a figure it needs is missing
    text_zh: str
    text_en: str
    field: str | None = None
    value: Any = None
    required: Any = None
    gap: float | None = None
    verified: bool = True
    note: str | None = None
    gap_zh: str | None = None  # how far off, said in words: "差 20万元" / "short by 20 ×10k CNY"
    gap_en: str | None = None
    missing_figures: list[dict[str, str]] | None = None  # the figures not filled in that it needs
    missing_zh: str | None = None  # those figures named: "未填写：营业收入、研发人员占比"
    missing_en: str | None = None
    _closeness: float | None = None  # the gap relative to the required value, to pick the nearest route

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if (v is not None or k == "met") and not k.startswith("_")}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _label(c: Criteria, cond: dict[str, Any]) -> tuple[str, str]:
    if "zh" in cond:
        return cond["zh"], cond.get("en", cond["zh"])
    spec = c.fields[cond["field"]]
    op, value = cond["op"], cond.get("value")
    unit = spec.get("unit", "")
    if op == "true":
        return spec["zh"], spec["en"]
    if op == "in":
        choices = spec["choices"]
        return (
            f"{spec['zh']}：" + "或".join(choices[v]["zh"] for v in value),
            f"{spec['en']}: " + " or ".join(choices[v]["en"] for v in value),
        )
    if op == "==" and isinstance(value, bool):
        return (f"{spec['zh']}：{'是' if value else '否'}", f"{spec['en']}: {'yes' if value else 'no'}")
    sym = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}[op]
    return f"{spec['zh']} {sym} {_fmt(value)}{unit}", f"{spec['en']} {sym} {_fmt(value)} {unit_en(unit)}".rstrip()


def _missing(c: Criteria, keys: list[str]) -> dict[str, Any]:
    """The figures ``keys`` (in order, once each) as Check fields naming them in both languages."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    figures = [{"key": k, "zh": c.fields[k]["zh"], "en": c.fields[k]["en"]} for k in keys]
    return {
        "missing_figures": figures,
        "missing_zh": "未填写：" + "、".join(f["zh"] for f in figures),
        "missing_en": "not filled in: " + ", ".join(f["en"] for f in figures),
    }


def _leaf_gap(c: Criteria, field: str, op: str, gap: float) -> tuple[str, str]:
    """How far a figure is from its threshold, in words: below a minimum it is short, above a
    maximum it is over ("差 20万元" / "short by 20 ×10k CNY", "超出 10%" / "10 % over")."""
    unit = c.fields[field].get("unit", "")
    amount_en = f"{_fmt(gap)} {unit_en(unit)}".rstrip()
    if op in ("<=", "<"):
        return f"超出 {_fmt(gap)}{unit}", f"{amount_en} over"
    return f"差 {_fmt(gap)}{unit}", f"short by {amount_en}"


def _named_gap(c: Criteria, sub: Check) -> tuple[str, str]:
    """A part's gap with the figure it is about named (a group's gap names its own figures)."""
    if sub.field is None:
        return sub.gap_zh or "", sub.gap_en or ""
    spec = c.fields[sub.field]
    return f"{spec['zh']}{sub.gap_zh}", f"{spec['en']}: {sub.gap_en}"


def _missing_keys(check: Check) -> list[str]:
    return [f["key"] for f in check.missing_figures or []]


def check(c: Criteria, cond: dict[str, Any], figures: dict[str, Any]) -> Check:
    """Evaluate one condition (or an any/all group) and say how far the firm is from it: the gap
    to a threshold in words, and — when figures are missing — which ones, by name."""
    group = "any" in cond or "all" in cond
    zh, en = (cond.get("zh", ""), cond.get("en", "")) if group else _label(c, cond)
    if group:
        subs = [check(c, s, figures) for s in cond.get("any") or cond.get("all")]
        results = [s.met for s in subs]
        if "any" in cond:
            met = True if any(r is True for r in results) else (None if None in results else False)
        else:
            met = False if any(r is False for r in results) else (None if None in results else True)
        if "zh" not in cond:
            joiner = ("或", " or ") if "any" in cond else ("且", " and ")
            zh = joiner[0].join(s.text_zh for s in subs)
            en = joiner[1].join(s.text_en for s in subs)
        if met is True:
            return Check(met, zh, en)
        # the figures still missing that could decide it: for "any", those of the routes not ruled out
        missing = [k for s in subs if s.met is None for k in _missing_keys(s)]
        short = [s for s in subs if s.met is False and s.gap_zh]
        gap = gap_zh = gap_en = closeness = None
        if "any" in cond and short:
            nearest = min(short, key=lambda s: s._closeness if s._closeness is not None else float("inf"))
            gap, closeness = nearest.gap, nearest._closeness
            gap_zh, gap_en = _named_gap(c, nearest)
            if len(short) > 1:
                gap_zh, gap_en = f"最接近的一项：{gap_zh}", f"nearest: {gap_en}"
        elif "all" in cond and short:
            named = [_named_gap(c, s) for s in short]
            gap_zh, gap_en = "；".join(z for z, _ in named), "; ".join(e for _, e in named)
            closeness = sum(s._closeness or 0 for s in short)
        return Check(met, zh, en, gap=gap, gap_zh=gap_zh, gap_en=gap_en, _closeness=closeness, **_missing(c, missing))
    field, op, required = cond["field"], cond["op"], cond.get("value")
    verified = cond.get("verified", True)
    value = figures.get(field)
    if value is None:
        return Check(
            None, zh, en, field, None, required, verified=verified, note=cond.get("note"), **_missing(c, [field])
        )
    if op == "true":
        met = value is True
    elif op == "in":
        met = value in required
    elif op == "==":
        met = value == required
    else:
        met = {">=": value >= required, "<=": value <= required, ">": value > required, "<": value < required}[op]
    gap = gap_zh = gap_en = None
    closeness = None if met else 1.0  # a yes/no or choice condition not met: a whole step away
    if not met and op in (">=", ">", "<=", "<"):
        gap = round(abs(required - value), 4)
        gap_zh, gap_en = _leaf_gap(c, field, op, gap)
        closeness = gap / abs(required) if required else gap
    return Check(
        met, zh, en, field, value, required, gap, verified, cond.get("note"), gap_zh, gap_en, _closeness=closeness
    )


def score_tier(c: Criteria, tier: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    """Points per indicator and group, the total, and whether it passes (with group minimums)."""
    spec = tier["score"]
    indicators = []
    by_group: Counter[str] = Counter()
    for ind in spec["indicators"]:
        points, missing = _indicator_points(c, ind, figures)
        by_group[ind["group"]] += points
        indicators.append(
            {
                "key": ind["key"],
                "group": ind["group"],
                "zh": ind["zh"],
                "en": ind["en"],
                "points": points,
                "max": ind["max"],
                "missing": missing,
            }
        )
    groups = []
    groups_ok = True
    for g in spec.get("groups", []):
        ok = by_group[g["key"]] >= g.get("min", 0)
        groups_ok = groups_ok and ok
        groups.append({**g, "points": by_group[g["key"]], "ok": ok})
    total = sum(by_group.values())
    return {
        "total": total,
        "min": spec["min"],
        "max": sum(i["max"] for i in spec["indicators"]),
        "passed": total >= spec["min"] and groups_ok,
        "gap": max(0, spec["min"] - total),
        "groups": groups,
        "indicators": indicators,
    }


def _indicator_points(c: Criteria, ind: dict[str, Any], figures: dict[str, Any]) -> tuple[int, bool]:
    if "per_unit" in ind:
        rule = ind["per_unit"]
        value = figures.get(rule["field"])
        if value is None:
            return 0, True
        return min(ind["max"], int(value // rule["unit"]) * rule["points"]), False
    missing = True
    for band in ind["bands"]:  # highest first
        result = check(c, band["when"], figures)
        if result.met:
            return band["points"], False
        if result.met is False:
            missing = False
    return 0, missing


def assess(figures: dict[str, Any], year: int | None = None) -> dict[str, Any]:
    """Which tiers the figures meet, and for each the conditions, score and direct routes."""
    c = load_criteria(year)
    results: dict[str, dict[str, Any]] = {}
    for tier in c.tiers:
        conditions = [check(c, cond, figures) for cond in tier.get("conditions", [])]
        direct = [check(c, cond, figures) for cond in tier.get("direct", [])]
        score = score_tier(c, tier, figures) if tier.get("score") else None
        prerequisite = tier.get("requires")
        prereq_ok = results[prerequisite]["met"] if prerequisite else True
        via_direct = any(d.met for d in direct)
        scored_ok = score is None or score["passed"] or via_direct
        conditions_ok = all(x.met for x in conditions)
        met = bool(conditions_ok and scored_ok and prereq_ok)
        unmet = [x for x in conditions if x.met is not True]
        near = not met and prereq_ok and _nearly(unmet, score, scored_ok)
        results[tier["key"]] = {
            "key": tier["key"],
            "zh": tier["zh"],
            "en": tier["en"],
            "basis": tier.get("basis"),
            "basis_en": tier.get("basis_en") or tier.get("basis"),
            "source": tier["source"],
            "met": met,
            "nearly": near,
            "requires": prerequisite,
            "requires_met": prereq_ok,
            "conditions": [x.as_dict() for x in conditions],
            "missing": [x.as_dict() for x in unmet],
            "score": score,
            "direct": [x.as_dict() for x in direct],
            "via_direct": via_direct,
        }
    order = [t["key"] for t in c.tiers]
    met_keys = [k for k in order if results[k]["met"]]
    highest = met_keys[-1] if met_keys else None
    next_key = (
        next((k for k in order[order.index(highest) + 1 :] if not results[k]["met"]), None) if highest else order[0]
    )
    return {
        "criteria_year": c.year,
        "highest": highest,
        "met": met_keys,
        "next": _next_needs(results[next_key]) if next_key else None,
        "tiers": [results[k] for k in order],
    }


def _nearly(unmet: list[Check], score: dict[str, Any] | None, scored_ok: bool) -> bool:
    """One condition short (or a scored tier within NEAR_SCORE points), everything else met."""
    if not unmet:
        return score is not None and not scored_ok and score["gap"] <= NEAR_SCORE
    return len(unmet) == 1 and scored_ok


def _next_needs(tier: dict[str, Any]) -> dict[str, Any]:
    needs = list(tier["missing"])
    score = tier["score"]
    if score and not score["passed"] and not tier["via_direct"]:
        headroom = sorted(
            (i for i in score["indicators"] if i["points"] < i["max"]), key=lambda i: i["points"] - i["max"]
        )
        needs.append(
            {
                "met": False,
                "text_zh": f"评分 {score['total']} 分，需达到 {score['min']} 分（差 {score['gap']} 分）",
                "text_en": f"score {score['total']}, needs {score['min']} ({score['gap']} short)",
                "gap": score["gap"],
                "headroom": [{"zh": i["zh"], "en": i["en"], "points": i["points"], "max": i["max"]} for i in headroom],
            }
        )
    return {
        "key": tier["key"],
        "zh": tier["zh"],
        "en": tier["en"],
        "needs": needs,
        "requires_met": tier["requires_met"],
    }


def assess_firm(session: Session, firm: Firm, year: int | None = None) -> dict[str, Any]:
    figures, sources = get_figures(session, firm, year)
    result = assess(figures, year)
    result.update(
        firm_id=firm.id,
        firm=firm.name,
        region=firm.region,
        declared_tier=firm.tier.value if firm.tier else None,
        figures=figures,
        figure_sources=sources,
    )
    return result


# --- organizers ------------------------------------------------------------------------------


def _known_chain(session: Session, chain: str | None) -> str | None:
    """``chain`` (part of an industry name, or the pipeline's "unknown industry" group) or an
    InputError naming it; blank is no filter."""
    text = (chain or "").strip()
    if not text:
        return None
    if text in UNKNOWN_CHAIN:
        return text
    if session.scalar(select(Industry.id).where(Industry.name.contains(text, autoescape=True)).limit(1)) is None:
        raise InputError(
            msg(
                "chain: no industry name contains %(chain)r; give part of an industry name, or leave it out",
                chain=text[:40],
            ),
            field="chain",
        )
    return text


def pipeline(
    session: Session, *, region: str | None = None, chain: str | None = None, year: int | None = None
) -> dict[str, Any]:
    """How many firms with figures meet or nearly meet each tier, by region and chain (industry).
    A region that names no province, or a chain that no industry name contains, is refused naming
    the parameter (it would only ever answer an empty pipeline)."""
    from marketplace.regions import parse_region

    region = parse_region(region, "region")
    chain = _known_chain(session, chain)
    criteria = load_criteria(year)
    query = (
        select(Firm, TierFigures.figures)
        .join(TierFigures, TierFigures.firm_id == Firm.id)
        .where(TierFigures.criteria_year == criteria.year)
    )
    if region:
        query = query.where(Firm.region == region)
    rows = session.execute(query).all()
    firm_ids = [f.id for f, _ in rows]
    industries: dict[int, list[str]] = defaultdict(list)
    patents: Counter[int] = Counter()
    top_share: dict[int, float | None] = {}
    if firm_ids:
        for fid, name in session.execute(
            select(FirmIndustry.firm_id, Industry.name)
            .join(Industry, Industry.id == FirmIndustry.industry_id)
            .where(FirmIndustry.firm_id.in_(firm_ids))
        ):
            industries[fid].append(name)
        for (fid,) in session.execute(select(FirmPatent.firm_id).where(FirmPatent.firm_id.in_(firm_ids))):
            patents[fid] += 1
        for fid, share in session.execute(
            select(FirmProduct.firm_id, func.max(FirmProduct.weight))
            .where(FirmProduct.firm_id.in_(firm_ids))
            .group_by(FirmProduct.firm_id)
        ):
            top_share[fid] = share
    keys = [t["key"] for t in criteria.tiers]
    totals = {k: {"met": 0, "nearly": 0} for k in keys}
    groups: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    firms_out = []
    for firm, stored in rows:
        chains = industries.get(firm.id) or [UNKNOWN_CHAIN]
        if chain and not any(chain in name for name in chains):
            continue
        derived = profile_figures(firm.listed_on, patents[firm.id], top_share.get(firm.id))
        figures = {**derived, **(stored or {})}
        result = assess(figures, criteria.year)
        group = groups.setdefault(
            (firm.region or UNKNOWN_REGION, chains[0]), {k: {"met": 0, "nearly": 0} for k in keys}
        )
        for t in result["tiers"]:
            for flag in ("met", "nearly"):
                if t[flag]:
                    totals[t["key"]][flag] += 1
                    group[t["key"]][flag] += 1
        firms_out.append(
            {
                "firm_id": firm.id,
                "name": firm.name,
                "region": firm.region,
                "chain": chains[0],
                "highest": result["highest"],
                "nearly": [t["key"] for t in result["tiers"] if t["nearly"]],
            }
        )
    return {
        "criteria_year": criteria.year,
        "tiers": [{"key": t["key"], "zh": t["zh"], "en": t["en"], **totals[t["key"]]} for t in criteria.tiers],
        "groups": [
            {"region": r, "chain": ch, "tiers": counts}
            for (r, ch), counts in sorted(groups.items(), key=lambda x: x[0])
        ],
        "firms": firms_out,
    }


# --- permission ------------------------------------------------------------------------------


def can_view_figures(session: Session, user: Any, firm: Firm) -> bool:
    """A firm's figures (and anything computed from them: tier assessment, policy matches) are
    visible to the firm's own users, the organizers of the firm's region, and admins."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.role is Role.ADMIN:
        return True
    if user.role in (Role.SME, Role.LARGE):
        return user.firm_id == firm.id
    return _organizes_region_of(session, user, firm)


def _organizes_region_of(session: Session, user: Any, firm: Firm) -> bool:
    """An organizer whose organization looks after the firm's region."""
    return user.role is Role.ORGANIZER and bool(firm.region) and organizer_region(session, user) == firm.region


def organizer_region(session: Session, user: Any) -> str | None:
    """The region an organizer looks after (None for admins: all regions)."""
    if user.role is Role.ORGANIZER and user.organization_id is not None:
        org = session.get(Organization, user.organization_id)
        return org.region if org else None
    return None


def report_region(session: Session, user: Any, requested: str | None = None) -> str | None:
    """The region an organizer's or admin's report covers: an organizer always sees its own region
    (whatever it asked for), an admin the one it asked for (None: all regions). An organizer whose
    organization has no region is refused."""
    if user.role is Role.ORGANIZER:
        region = organizer_region(session, user)
        if region is None:
            raise PermissionDeniedError(
                msg("贵组织未设置所辖地区，请联系管理员补充 / your organization has no region: ask an admin to set it"),
                field="region",
            )
        return region
    return requested


def is_sme(firm: Firm) -> bool:
    return firm.kind is FirmKind.SME


# --- recognition of a claimed tier ------------------------------------------------------------


def claim_tier(session: Session, firm: Firm, tier: Tier | None) -> str:
    """What a firm's own users do with its tier: claim one, which waits for an organizer of the
    firm's region or an admin to recognise it (:func:`decide_tier_claim`) — a firm cannot grant
    itself the tier that policies, buyers' filters and rankings rely on — or drop it (no
    recognition needed to give a tier up). Returns "claimed", "cleared" or "unchanged"."""
    if tier is None:
        if firm.tier is None and firm.tier_claim is None:
            return "unchanged"
        firm.tier, firm.tier_claim = None, None
        firm.fact_sources = {**(firm.fact_sources or {}), "tier": "user"}
        return "cleared"
    if tier is firm.tier:
        firm.tier_claim = None
        return "unchanged"
    if tier is firm.tier_claim:
        return "unchanged"
    firm.tier_claim = tier
    return "claimed"


def can_recognise_tier(session: Session, user: Any, firm: Firm) -> bool:
    """Admins, and the organizers of the firm's region; never the firm's own users."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.role is Role.ADMIN:
        return True
    return _organizes_region_of(session, user, firm)


def decide_tier_claim(session: Session, user: Any, firm: Firm, *, accept: bool) -> Firm:
    """Recognise (``accept``) or turn down the firm's claimed tier; its users are told."""
    if not can_recognise_tier(session, user, firm):
        raise PermissionDeniedError(
            msg("tier_claim: only an organizer of the firm's region or an admin recognises a tier"), field="tier_claim"
        )
    claim = firm.tier_claim
    if claim is None:
        raise ConflictError(msg("tier_claim: %(firm)s has no tier claim waiting", firm=firm.name), field="tier_claim")
    if accept:
        firm.tier = claim
        firm.fact_sources = {**(firm.fact_sources or {}), "tier": f"recognised:{user.email}"}
    firm.tier_claim = None
    session.flush()
    from marketplace.accounts.notifications import notify

    users = acting_user_ids(session, [firm.id])
    notify(
        session,
        user_ids=users,
        kind="tier",
        title_zh=f"梯度申报{'已认定' if accept else '未通过'}：{claim.label_zh}",
        title_en=f"Tier claim {'recognised' if accept else 'turned down'}: {claim.label_en}",
        link="/profile",
    )
    return firm


def pending_tier_claims(session: Session, region: str | None) -> list[Firm]:
    """Firms waiting for their claimed tier to be recognised (in ``region``; None: everywhere)."""
    query = select(Firm).where(Firm.tier_claim.is_not(None)).order_by(Firm.updated_at, Firm.id)
    if region is not None:
        query = query.where(Firm.region == region)
    return list(session.scalars(query))
