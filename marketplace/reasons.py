"""Human-readable reasons (Simplified Chinese) for why a firm was suggested."""

from __future__ import annotations

from collections.abc import Sequence

from graph.protocol import PathStep

_STEP_TEXT = {
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
}
_FIRM_TEXT = {
    "PRODUCES<": "{b} 生产 {a}",
    "IN_INDUSTRY<": "{b} 属于 {a} 行业",
    "HOLDS_PATENT<": "{b} 持有专利《{a}》",
}


def describe_path(path: Sequence[PathStep]) -> str:
    """E.g. "产品 磷酸铁锂 是 锂电池 的上游原材料；宁德时代 生产 磷酸铁锂"."""
    parts = []
    for prev, step in zip(path, path[1:], strict=False):
        table = _FIRM_TEXT if step is path[-1] else _STEP_TEXT
        template = table.get(step.via or "", "{a} — {b}")
        parts.append(template.format(a=prev.name, b=step.name))
    return "；".join(parts)
