"""The units of firm figures (tier criteria, policy rules) in English: the criteria and the data
write them in Chinese (万元, 年, 人 …)."""

from __future__ import annotations

UNITS_EN = {
    "万元": "×10k CNY",
    "亿元": "×100m CNY",
    "元": "CNY",
    "年": "years",
    "人": "people",
    "位": "(rank)",
    "项": "items",
    "分": "points",
    "级": "(level)",
    "个": "",
    "%": "%",
}


def unit_en(unit: str | None) -> str:
    """``unit`` in English (as written when there is no English for it)."""
    return UNITS_EN.get(unit or "", unit or "")
