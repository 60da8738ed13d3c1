"""Why a firm was suggested: reasons as structured data, and their rendering in zh-CN or English.

The matching engine returns, and MatchSuggestion stores, a list of reason dicts, each with a
``kind`` and the facts behind it (never a sentence):

- ``products``, ``patents``, ``industries``: ``terms``, the firm's facts the demand text matched;
- ``chain``: ``path``, the chain path (seed first, firm last) as ``{key, name, label, via}`` steps,
  ``key`` being the graph's node id;
- ``cooccurrence``: ``product``, what the firm can probably make; ``evidence``,
  the products it lists that point there; ``share``, the fraction of the product's ``makers``
  (a count) that also make them;
- ``similarity``: ``value``, the dense channel's cosine similarity;
- ``tier``: ``tier``, a :class:`~marketplace.models.Tier` value; ``region``: ``region``, the
  firm's region, which the demand prefers;
- ``lexical``, ``fused``: no facts (a text match with no single named fact / the overall ranking);
- ``legacy``: ``text``, a sentence stored before reasons were data, kept as written.

:func:`render` turns one into text in the reader's language; names from the data stay as written.
:func:`parse_legacy` reads the Chinese sentences older versions stored (migration 0006).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graph.protocol import PathStep

Reason = dict[str, Any]
KINDS = (
    "products",
    "patents",
    "industries",
    "chain",
    "cooccurrence",
    "similarity",
    "tier",
    "region",
    "lexical",
    "fused",
    "legacy",
)

_STEP_TEXT = {
    "zh": {
        "UPSTREAM_OF<": "产品 {b} 是 {a} 的上游原材料",
        "UPSTREAM_OF>": "产品 {b} 是 {a} 的下游产品",
        "SUBCLASS_OF<": "{b} 是 {a} 的细分品类",
        "SUBCLASS_OF>": "{b} 是 {a} 的上位品类",
        "IN_INDUSTRY>": "{a} 属于 {b} 行业",
        "IN_INDUSTRY<": "{b} 属于 {a} 行业",
        "INDUSTRY_UPSTREAM_OF<": "行业 {b} 是 {a} 的上游行业",
        "INDUSTRY_UPSTREAM_OF>": "行业 {b} 是 {a} 的下游行业",
        "PART_OF>": "{a} 是 {b} 的子行业",
        "PART_OF<": "{b} 是 {a} 的子行业",
    },
    "en": {
        "UPSTREAM_OF<": "{b} is an upstream material of {a}",
        "UPSTREAM_OF>": "{b} is a downstream product of {a}",
        "SUBCLASS_OF<": "{b} is a narrower kind of {a}",
        "SUBCLASS_OF>": "{b} is a broader kind of {a}",
        "IN_INDUSTRY>": "{a} belongs to the {b} industry",
        "IN_INDUSTRY<": "{b} belongs to the {a} industry",
        "INDUSTRY_UPSTREAM_OF<": "industry {b} is upstream of {a}",
        "INDUSTRY_UPSTREAM_OF>": "industry {b} is downstream of {a}",
        "PART_OF>": "{a} is a sub-industry of {b}",
        "PART_OF<": "{b} is a sub-industry of {a}",
    },
}
_FIRM_TEXT = {
    "zh": {"PRODUCES<": "{b} 生产 {a}", "IN_INDUSTRY<": "{b} 属于 {a} 行业", "HOLDS_PATENT<": "{b} 持有专利《{a}》"},
    "en": {
        "PRODUCES<": "{b} makes {a}",
        "IN_INDUSTRY<": "{b} is in the {a} industry",
        "HOLDS_PATENT<": "{b} holds patent “{a}”",
    },
}
_TEXT = {
    "zh": {
        "products": "匹配产品：{terms}",
        "patents": "相关专利：{titles}",
        "industries": "所属行业：{terms}",
        "chain": "产业链：{path}",
        "cooccurrence": "潜在能力：生产{evidence}，{share}% 的{product}生产企业（共 {makers} 家）也生产这些",
        "similarity": "语义相似度 {value:.2f}",
        "tier": "企业资质：{tier}",
        "region": "地区：{region}（符合地区偏好）",
        "lexical": "文本相关（BM25）",
        "fused": "综合排序",
        "list": "、",
        "titles": "；",
        "steps": "；",
        "title": "《{}》",
        "unknown": "其他依据",
    },
    "en": {
        "products": "Matching products: {terms}",
        "patents": "Related patents: {titles}",
        "industries": "Industry: {terms}",
        "chain": "Supply chain: {path}",
        "cooccurrence": (
            "Latent capability: makes {evidence}, which {share} % of the {makers} {product} makers also make"
        ),
        "similarity": "Semantic similarity {value:.2f}",
        "tier": "Qualification: {tier}",
        "region": "Region: {region} (preferred)",
        "lexical": "Text match (BM25)",
        "fused": "Overall ranking",
        "list": ", ",
        "titles": "; ",
        "steps": "; ",
        "title": "“{}”",
        "unknown": "Other evidence",
    },
}


def language(locale: object) -> str:
    """'en' for any English locale (en, en_US, en-GB), else 'zh' (the default language)."""
    return "en" if str(locale or "zh").lower().startswith("en") else "zh"


# --- building ------------------------------------------------------------------------------------


def terms(kind: str, values: Iterable[str]) -> Reason:
    """A products / patents / industries reason: the firm's facts the text matched."""
    if kind not in ("products", "patents", "industries"):
        raise ValueError(f"not a term reason kind: {kind!r}")
    return {"kind": kind, "terms": list(values)}


def chain(path: Sequence[PathStep]) -> Reason:
    """The chain path that reached the firm; node keys are the graph's node ids."""
    steps = [
        {"key": s.key, "name": s.name, "label": str(getattr(s.label, "value", s.label)), "via": s.via} for s in path
    ]
    return {"kind": "chain", "path": steps}


def cooccurrence(product: str, evidence: Sequence[str], share: float, makers: int) -> Reason:
    """Can probably make ``product``: ``share`` of its ``makers`` also make ``evidence``."""
    return {
        "kind": "cooccurrence",
        "product": product,
        "evidence": list(evidence),
        "share": round(float(share), 4),
        "makers": int(makers),
    }


def similarity(value: float) -> Reason:
    return {"kind": "similarity", "value": round(float(value), 4)}


def tier(value: str) -> Reason:
    return {"kind": "tier", "tier": value}


def region(name: str) -> Reason:
    return {"kind": "region", "region": name}


def plain(kind: str) -> Reason:
    """A reason without facts: ``lexical`` (text match) or ``fused`` (overall ranking)."""
    if kind not in ("lexical", "fused"):
        raise ValueError(f"not a plain reason kind: {kind!r}")
    return {"kind": kind}


def legacy(text: str) -> Reason:
    return {"kind": "legacy", "text": text}


# --- rendering -----------------------------------------------------------------------------------


def describe_path(path: Sequence[PathStep | Mapping[str, Any]], locale: object = "zh") -> str:
    """E.g. "产品 磷酸铁锂 是 锂电池 的上游原材料；宁德时代 生产 磷酸铁锂", or in English
    "磷酸铁锂 is an upstream material of 锂电池; 宁德时代 makes 磷酸铁锂"."""
    lang = language(locale)
    names = [s["name"] if isinstance(s, Mapping) else s.name for s in path]
    vias = [s.get("via") if isinstance(s, Mapping) else s.via for s in path]
    parts = []
    for i in range(1, len(path)):
        table = _FIRM_TEXT[lang] if i == len(path) - 1 else _STEP_TEXT[lang]
        template = table.get(vias[i] or "", "{a} — {b}")
        parts.append(_INDUSTRY_TWICE.sub(r"\1", template.format(a=names[i - 1], b=names[i])))
    return _TEXT[lang]["steps"].join(parts)


# "属于 汽车制造业 行业" reads "属于 汽车制造业": an industry named …业 takes no second 行业
_INDUSTRY_TWICE = re.compile(r"(\S业) 行业")


def render(reason: Reason | str, locale: object = "zh") -> str:
    """One reason as a sentence in the reader's language (a bare string is an unmigrated legacy
    reason and is returned as it is)."""
    if isinstance(reason, str):
        return reason
    lang = language(locale)
    text = _TEXT[lang]
    kind = reason.get("kind")
    if kind in ("products", "industries"):
        return text[kind].format(terms=text["list"].join(reason.get("terms", [])))
    if kind == "patents":
        titles = text["titles"].join(text["title"].format(t) for t in reason.get("terms", []))
        return text[kind].format(titles=titles)
    if kind == "chain":
        return text[kind].format(path=describe_path(reason.get("path", []), lang))
    if kind == "cooccurrence":
        return text[kind].format(
            evidence=text["list"].join(reason.get("evidence", [])),
            share=round(100 * float(reason.get("share", 0.0))),
            makers=reason.get("makers", 0),
            product=reason.get("product", ""),
        )
    if kind == "similarity":
        return text[kind].format(value=float(reason.get("value", 0.0)))
    if kind == "tier":
        return text[kind].format(tier=_tier_label(reason.get("tier", ""), lang))
    if kind == "region":
        return text[kind].format(region=reason.get("region", ""))
    if kind in ("lexical", "fused"):
        return text[kind]
    if kind == "legacy":
        return str(reason.get("text", ""))
    return text["unknown"]


def render_all(reasons: Iterable[Reason | str] | None, locale: object = "zh") -> list[str]:
    return [render(r, locale) for r in reasons or []]


def _tier_label(value: str, lang: str) -> str:
    from marketplace.models import Tier

    try:
        return Tier(value).label(lang)
    except ValueError:
        return value


def chain_path(reasons: Iterable[Reason | str] | None) -> list[dict[str, Any]] | None:
    """The stored chain path of a suggestion's reasons, or None when the graph did not reach it."""
    for r in reasons or []:
        if isinstance(r, Mapping) and r.get("kind") == "chain" and r.get("path"):
            return list(r["path"])
    return None


# --- reading the sentences older versions stored -------------------------------------------------

_LEGACY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^匹配产品：(.+)$"), "products"),
    (re.compile(r"^相关专利：(.+)$"), "patents"),
    (re.compile(r"^所属行业：(.+)$"), "industries"),
    (re.compile(r"^语义相似度 (-?\d+(?:\.\d+)?)$"), "similarity"),
    (re.compile(r"^企业资质：(.+)$"), "tier"),
    (re.compile(r"^地区：(.+)（符合地区偏好）$"), "region"),
]


def parse_legacy(text: str) -> Reason:
    """A reason sentence as older versions wrote it (Chinese), read back into data. A chain
    sentence names no node ids and anything unrecognised is kept as ``legacy`` with its text."""
    if isinstance(text, Mapping):
        return dict(text)
    sentence = str(text).strip()
    if sentence == "文本相关（BM25）":
        return plain("lexical")
    if sentence == "综合排序":
        return plain("fused")
    for pattern, kind in _LEGACY_PATTERNS:
        m = pattern.match(sentence)
        if not m:
            continue
        value = m.group(1)
        if kind in ("products", "industries"):
            return terms(kind, [t for t in value.split("、") if t])
        if kind == "patents":
            titles = re.findall(r"《(.+?)》", value)
            if titles and "；".join(f"《{t}》" for t in titles) == value:
                return terms(kind, titles)
            break
        if kind == "similarity":
            return similarity(float(value))
        if kind == "tier":
            from marketplace.models import Tier

            member = next((t for t in Tier if value in (t.label_zh, t.value)), None)
            if member is not None:
                return tier(member.value)
            break
        if kind == "region":
            return region(value)
    return legacy(sentence)
