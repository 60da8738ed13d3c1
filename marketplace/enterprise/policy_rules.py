"""Eligibility rules of support policies (惠企政策) and the firm facts they read: each rule kind
(a figure in a range, a tier, a region or firm kind, an industry or chain keyword) validated by
:func:`validate_rules` and explained in both languages.

Rules are a list of ``{"field": NAME, ...}`` objects. Each rule kind evaluates one firm (``check``,
with its explanation) and a whole column of firms at once (``mask``, numpy, for the batch); both
live side by side in one class so they cannot drift. Publishing and matching policies is
:mod:`marketplace.enterprise.policies`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.enterprise.tiers import load_criteria, profile_figures
from marketplace.enterprise.units import unit_en
from marketplace.errors import InputError, msg
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmProduct,
    Industry,
    Policy,
    Product,
    Tier,
    TierFigures,
)
from marketplace.regions import PROVINCES, normalize_region

TIER_RANK = {t.value: t.rank for t in Tier}


# --- facts about firms ---------------------------------------------------------------------------


@dataclass(slots=True)
class FirmFacts:
    """What policy rules read about one firm."""

    firm_id: int
    name: str
    kind: str
    tier: str | None
    region: str | None
    industries: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def load_facts(session: Session, firm_ids: list[int] | None = None) -> list[FirmFacts]:
    """Facts of the given firms (all firms when None), read in bulk."""
    query = select(Firm.id, Firm.name, Firm.kind, Firm.tier, Firm.region, Firm.listed_on)
    if firm_ids is not None:
        query = query.where(Firm.id.in_(firm_ids))
    facts: dict[int, FirmFacts] = {}
    for fid, name, kind, tier, region, listed_on in session.execute(query):
        f = FirmFacts(fid, name, kind.value, tier.value if tier else None, region)
        if listed_on is not None:
            f.figures = profile_figures(listed_on, 0)
        facts[fid] = f

    def scoped(q):  # noqa: ANN001, ANN202
        return q if firm_ids is None else q.where(q.selected_columns[0].in_(firm_ids))

    for fid, name in session.execute(
        scoped(select(FirmIndustry.firm_id, Industry.name).join(Industry, Industry.id == FirmIndustry.industry_id))
    ):
        if fid in facts:
            facts[fid].industries.append(name)
    for fid, name in session.execute(
        scoped(select(FirmProduct.firm_id, Product.name).join(Product, Product.id == FirmProduct.product_id))
    ):
        if fid in facts:
            facts[fid].products.append(name)
    year = load_criteria().year
    for fid, figures in session.execute(
        scoped(select(TierFigures.firm_id, TierFigures.figures).where(TierFigures.criteria_year == year))
    ):
        if fid in facts:
            facts[fid].figures = {**facts[fid].figures, **(figures or {})}
    return list(facts.values())


class _NameIndex:
    """Distinct names (industries or products) with the firms holding each; finds the names that
    contain a word by scanning one joined string in C instead of every name in Python."""

    def __init__(self, holders: dict[str, list[int]]) -> None:
        self.names = [n.replace("\n", " ") for n in holders]
        self.rows = [np.asarray(r, dtype=np.int64) for r in holders.values()]
        self.text = "\n".join(self.names)
        self.starts = np.cumsum([0] + [len(n) + 1 for n in self.names[:-1]]) if self.names else np.zeros(0)

    def rows_containing(self, word: str) -> np.ndarray:
        found: set[int] = set()
        pos = self.text.find(word)
        while pos >= 0:
            i = int(np.searchsorted(self.starts, pos, side="right")) - 1
            found.add(i)
            pos = self.text.find(word, int(self.starts[i]) + len(self.names[i]) + 1)  # next name
        if not found:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([self.rows[i] for i in found])


class Columns:
    """The facts of many firms as arrays, with lazily built keyword look-ups, for batch masks."""

    def __init__(self, facts: list[FirmFacts]) -> None:
        self.facts = facts
        self.n = len(facts)
        self.ids = np.array([f.firm_id for f in facts], dtype=np.int64)
        self.tier = np.array([TIER_RANK.get(f.tier, 0) if f.tier else 0 for f in facts], dtype=np.int8)
        self.codes: dict[str, dict[str, int]] = {"region": {}, "kind": {}}
        self.region = self._encode("region", [f.region or "" for f in facts])
        self.kind = self._encode("kind", [f.kind for f in facts])
        self._numbers: dict[str, np.ndarray] = {}
        self._names: dict[str, _NameIndex] = {}
        self._keyword_cache: dict[tuple[str, str], np.ndarray] = {}

    def _encode(self, name: str, values: list[str]) -> np.ndarray:
        codes = self.codes[name]
        return np.array([codes.setdefault(v, len(codes)) for v in values], dtype=np.int32)

    def code_mask(self, name: str, values: list[str]) -> np.ndarray:
        """Firms whose region (or kind) is one of ``values``."""
        wanted = [self.codes[name][v] for v in values if v in self.codes[name]]
        return np.isin(self.region if name == "region" else self.kind, wanted)

    def number(self, name: str) -> np.ndarray:
        if name not in self._numbers:
            self._numbers[name] = np.array([_num(f.figures.get(name)) for f in self.facts], dtype=np.float64)
        return self._numbers[name]

    def keyword(self, attr: str, word: str) -> np.ndarray:
        """Firms with an industry/product name containing ``word``."""
        key = (attr, word)
        if key not in self._keyword_cache:
            if attr not in self._names:
                holders: dict[str, list[int]] = defaultdict(list)
                for i, f in enumerate(self.facts):
                    for name in getattr(f, attr):
                        holders[name].append(i)
                self._names[attr] = _NameIndex(holders)
            mask = np.zeros(self.n, dtype=bool)
            mask[self._names[attr].rows_containing(word)] = True
            self._keyword_cache[key] = mask
        return self._keyword_cache[key]


def _finite(v: float) -> bool:
    """A number a float holds: not NaN or ±Infinity, nor an integer beyond a float's range."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan


# --- rules -------------------------------------------------------------------------------------


@dataclass
class Verdict:
    met: bool
    text_zh: str
    text_en: str
    field: str
    missing_data: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "met": self.met,
            "missing_data": self.missing_data,
            "zh": self.text_zh,
            "en": self.text_en,
        }


class RangeRule:
    """A figure between ``min`` and ``max`` (inclusive); a missing figure does not qualify.

    Every rule kind has ``holds`` (one firm, the meaning of the rule), ``check`` (the same verdict,
    explained) and ``mask`` (the vectorised twin of ``holds`` for many firms; a test keeps them equal)."""

    keys = {"field", "min", "max"}

    def __init__(self, name: str, zh: str, en: str, unit: str, figure: str | None = None) -> None:
        self.name, self.zh, self.en, self.unit = name, zh, en, unit
        self.figure = figure or name

    def validate(self, rule: dict[str, Any], where: str) -> dict[str, Any]:
        lo, hi = rule.get("min"), rule.get("max")
        for key, v in (("min", lo), ("max", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise InputError(
                    msg(
                        "%(where)s.%(key)s: %(name)s %(key)s must be a number, not %(value)r",
                        where=where,
                        key=key,
                        name=self.name,
                        value=v,
                    ),
                    field=f"{where}.{key}",
                )
            if v is not None and not _finite(v):
                raise InputError(
                    msg(
                        "%(where)s.%(key)s: %(name)s %(key)s must be a finite number, not %(value)s",
                        where=where,
                        key=key,
                        name=self.name,
                        value=v,
                    ),
                    field=f"{where}.{key}",
                )
        if lo is None and hi is None:
            raise InputError(msg("%(where)s: %(name)s needs min or max", where=where, name=self.name), field=where)
        if lo is not None and hi is not None and lo > hi:
            raise InputError(
                msg(
                    "%(where)s: %(name)s range is contradictory (min %(min)s > max %(max)s); no firm could qualify",
                    where=where,
                    name=self.name,
                    min=lo,
                    max=hi,
                ),
                field=where,
            )
        return {
            "field": self.name,
            **({"min": lo} if lo is not None else {}),
            **({"max": hi} if hi is not None else {}),
        }

    def describe(self, rule: dict[str, Any]) -> tuple[str, str]:
        lo, hi = rule.get("min"), rule.get("max")
        u, en = self.unit, unit_en(self.unit)
        if lo is not None and hi is not None:
            return f"{self.zh} {lo}–{hi}{u}", f"{self.en} {lo}–{hi} {en}".rstrip()
        if lo is not None:
            return f"{self.zh} ≥ {lo}{u}", f"{self.en} ≥ {lo} {en}".rstrip()
        return f"{self.zh} ≤ {hi}{u}", f"{self.en} ≤ {hi} {en}".rstrip()

    def holds(self, rule: dict[str, Any], f: FirmFacts) -> bool:
        value = f.figures.get(self.figure)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        lo, hi = rule.get("min"), rule.get("max")
        return (lo is None or value >= lo) and (hi is None or value <= hi)

    def check(self, rule: dict[str, Any], f: FirmFacts) -> Verdict:
        zh, en = self.describe(rule)
        value = f.figures.get(self.figure)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return Verdict(
                False, f"{zh}：缺少数据，请填写企业数据", f"{en}: figure missing, fill it in", self.name, True
            )
        lo = rule.get("min")
        ok = self.holds(rule, f)
        gap = ""
        if not ok:
            gap = f"（差 {round(lo - value, 2)}{self.unit}）" if lo is not None and value < lo else ""
        now_en = f"{en}: now {value} {unit_en(self.unit)}".rstrip()
        return Verdict(ok, f"{zh}：当前 {value}{self.unit}{gap}", now_en, self.name)

    def mask(self, rule: dict[str, Any], cols: Columns) -> np.ndarray:
        v = cols.number(self.figure)
        ok = ~np.isnan(v)
        if rule.get("min") is not None:
            ok &= v >= rule["min"]
        if rule.get("max") is not None:
            ok &= v <= rule["max"]
        return ok


class TierRule:
    """The firm's recognised tier: at least ``min``, or one of ``in``."""

    keys = {"field", "min", "in"}
    name = "tier"

    def validate(self, rule: dict[str, Any], where: str) -> dict[str, Any]:
        if ("min" in rule) == ("in" in rule):
            raise InputError(msg("%(where)s: tier takes either min or in", where=where), field=where)
        allowed = [t.value for t in Tier]
        values = [rule["min"]] if "min" in rule else rule["in"]
        if not isinstance(values, list) or not values or any(v not in allowed for v in values):
            raise InputError(
                msg("%(where)s: tier values must be among %(allowed)s", where=where, allowed=allowed), field=where
            )
        return {"field": "tier", **({"min": rule["min"]} if "min" in rule else {"in": list(values)})}

    def describe(self, rule: dict[str, Any]) -> tuple[str, str]:
        if "min" in rule:
            t = Tier(rule["min"])
            return f"企业梯度：{t.label_zh}及以上", f"Tier: {t.label_en} or higher"
        return (
            "企业梯度：" + "、".join(Tier(v).label_zh for v in rule["in"]),
            "Tier: " + ", ".join(Tier(v).label_en for v in rule["in"]),
        )

    def holds(self, rule: dict[str, Any], f: FirmFacts) -> bool:
        if f.tier is None:
            return False
        return TIER_RANK[f.tier] >= TIER_RANK[rule["min"]] if "min" in rule else f.tier in rule["in"]

    def check(self, rule: dict[str, Any], f: FirmFacts) -> Verdict:
        zh, en = self.describe(rule)
        if f.tier is None:
            return Verdict(False, f"{zh}：尚未认定梯度", f"{en}: no tier recognised yet", "tier")
        ok = self.holds(rule, f)
        return Verdict(ok, f"{zh}：当前 {Tier(f.tier).label_zh}", f"{en}: now {Tier(f.tier).label_en}", "tier")

    def mask(self, rule: dict[str, Any], cols: Columns) -> np.ndarray:
        if "min" in rule:
            return cols.tier >= TIER_RANK[rule["min"]]
        return np.isin(cols.tier, [TIER_RANK[v] for v in rule["in"]])


class SetRule:
    """The firm's region or kind is one of ``in``."""

    keys = {"field", "in"}

    def __init__(self, name: str, zh: str, en: str) -> None:
        self.name, self.zh, self.en = name, zh, en

    def _clean(self, values: list[Any], where: str) -> list[str]:
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InputError(
                msg("%(where)s: %(name)s needs a non-empty list under 'in'", where=where, name=self.name),
                field=where,
            )
        if self.name == "region":
            out = [normalize_region(v) for v in values]
            bad = [v for v, n in zip(values, out, strict=True) if n not in PROVINCES]
            if bad:
                raise InputError(
                    msg("%(where)s: region %(region)r is not a province (上海, 江苏 ...)", where=where, region=bad[0]),
                    field=where,
                )
            return out
        allowed = [k.value for k in FirmKind]
        if any(v not in allowed for v in values):
            raise InputError(
                msg("%(where)s: kind values must be among %(allowed)s", where=where, allowed=allowed), field=where
            )
        return values

    def validate(self, rule: dict[str, Any], where: str) -> dict[str, Any]:
        return {"field": self.name, "in": self._clean(rule.get("in"), where)}

    def _label(self, v: str) -> tuple[str, str]:
        return (FirmKind(v).label_zh, FirmKind(v).label_en) if self.name == "kind" else (v, v)

    def describe(self, rule: dict[str, Any]) -> tuple[str, str]:
        labels = [self._label(v) for v in rule["in"]]
        return f"{self.zh}：" + "、".join(z for z, _ in labels), f"{self.en}: " + ", ".join(e for _, e in labels)

    def holds(self, rule: dict[str, Any], f: FirmFacts) -> bool:
        value = f.region if self.name == "region" else f.kind
        return bool(value) and value in rule["in"]

    def check(self, rule: dict[str, Any], f: FirmFacts) -> Verdict:
        zh, en = self.describe(rule)
        value = f.region if self.name == "region" else f.kind
        if not value:
            return Verdict(False, f"{zh}：未知", f"{en}: unknown", self.name, True)
        z, e = self._label(value)
        return Verdict(self.holds(rule, f), f"{zh}：当前 {z}", f"{en}: now {e}", self.name)

    def mask(self, rule: dict[str, Any], cols: Columns) -> np.ndarray:
        return cols.code_mask(self.name, rule["in"])


class KeywordRule:
    """The firm has an industry (or product) whose name contains one of ``any``."""

    keys = {"field", "any"}

    def __init__(self, name: str, attr: str, zh: str, en: str) -> None:
        self.name, self.attr, self.zh, self.en = name, attr, zh, en

    def validate(self, rule: dict[str, Any], where: str) -> dict[str, Any]:
        values = rule.get("any")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v.strip() and "\n" not in v for v in values)
        ):
            raise InputError(
                msg("%(where)s: %(name)s needs a non-empty list of names under 'any'", where=where, name=self.name),
                field=where,
            )
        return {"field": self.name, "any": [v.strip() for v in values]}

    def describe(self, rule: dict[str, Any]) -> tuple[str, str]:
        return f"{self.zh}：" + "、".join(rule["any"]), f"{self.en}: " + ", ".join(rule["any"])

    def holds(self, rule: dict[str, Any], f: FirmFacts) -> bool:
        return any(w in n for n in getattr(f, self.attr) for w in rule["any"])

    def check(self, rule: dict[str, Any], f: FirmFacts) -> Verdict:
        zh, en = self.describe(rule)
        names = getattr(f, self.attr)
        hits = [n for n in names if any(w in n for w in rule["any"])]
        if hits:
            return Verdict(
                True, f"{zh}：符合（{'、'.join(hits[:3])}）", f"{en}: yes ({', '.join(hits[:3])})", self.name
            )
        return Verdict(
            False, f"{zh}：企业档案中没有相符的{self.zh}", f"{en}: none in the profile", self.name, not names
        )

    def mask(self, rule: dict[str, Any], cols: Columns) -> np.ndarray:
        out = np.zeros(cols.n, dtype=bool)
        for word in rule["any"]:
            out |= cols.keyword(self.attr, word)
        return out


RULES: dict[str, Any] = {
    "tier": TierRule(),
    "region": SetRule("region", "注册地区", "Region"),
    "kind": SetRule("kind", "企业类型", "Firm kind"),
    "industry": KeywordRule("industry", "industries", "所属行业", "Industry"),
    "chain": KeywordRule("chain", "products", "产业链产品", "Chain products"),
    "revenue": RangeRule("revenue", "上年度营业收入", "Revenue last year", "万元"),
    "employees": RangeRule("employees", "从业人员", "Employees", "人"),
    "age_years": RangeRule("age_years", "成立年限", "Years since founding", "年", figure="years_in_business"),
    "rd_share": RangeRule("rd_share", "研发费用占营业收入比重", "R&D share of revenue", "%"),
    "rd_expense": RangeRule("rd_expense", "上年度研发费用", "R&D spending last year", "万元"),
    "years_in_segment": RangeRule("years_in_segment", "从事细分市场年限", "Years in the segment", "年"),
}


def validate_rules(raw: Any) -> list[dict[str, Any]]:
    """Clean rules, or InputError naming the rule and field (unknown field or key, bad value,
    contradictory range, a field given twice)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(msg('rules: give a list of rules such as [{"field": "rd_share", "min": 3}]'), field="rules")
    out, seen = [], set()
    for i, rule in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(rule, dict):
            raise InputError(msg("%(where)s: each rule is an object with a 'field'", where=where), field=where)
        name = rule.get("field")
        if name is not None and not isinstance(name, str):  # a list or object is no field name (nor hashable)
            raise InputError(
                msg(
                    "%(where)s.field: give one field name as text; use one of %(fields)s",
                    where=where,
                    fields=", ".join(RULES),
                ),
                field=f"{where}.field",
            )
        kind = RULES.get(name)
        if kind is None:
            raise InputError(
                msg(
                    "%(where)s.field: unknown field %(name)r; use one of %(fields)s",
                    where=where,
                    name=name,
                    fields=", ".join(RULES),
                ),
                field=f"{where}.field",
            )
        extra = set(rule) - kind.keys
        if extra:
            raise InputError(
                msg(
                    "%(where)s: %(name)s does not take %(extra)s; it takes %(takes)s",
                    where=where,
                    name=name,
                    extra=sorted(extra),
                    takes=sorted(kind.keys - {"field"}),
                ),
                field=where,
            )
        if name in seen:
            raise InputError(
                msg("%(where)s: %(name)s is given twice; merge the two into one rule", where=where, name=name),
                field=where,
            )
        seen.add(name)
        out.append(kind.validate(rule, where))
    return out


def effective_rules(policy: Policy) -> list[dict[str, Any]]:
    """The policy's rules, plus its region when it is regional and says nothing else on region."""
    rules = list(policy.rules or [])
    if policy.region and not any(r["field"] == "region" for r in rules):
        rules.insert(0, {"field": "region", "in": [policy.region]})
    return rules


def describe_rule(rule: dict[str, Any]) -> dict[str, str]:
    zh, en = RULES[rule["field"]].describe(rule)
    return {"zh": zh, "en": en}
