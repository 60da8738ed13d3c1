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


def _number(value: float) -> str:
    """A number as people write it: thousands separators, at most two decimals, no trailing .0."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def wan_number(value: float | None) -> str:
    """An amount in 万元 without its unit ("3,000", "12.5"), for a column headed with the unit."""
    return "" if value is None else _number(float(value))


def _yuan_en(values: list[float]) -> tuple[list[str], str]:
    """Amounts in 万元 as English writes them: in millions of yuan when each is a million or more
    (500 万元 → 5, "million"), else in yuan with separators (12.5 万元 → 125,000)."""
    if all(abs(v) >= 100 for v in values):
        return [_number(v / 100) for v in values], " million"
    return [_number(v * 10_000) for v in values], ""


def format_wan(value: float, *, english: bool = False) -> str:
    """An amount of 万元 with its unit: "3,000 万元" / "CNY 30 million", "12.5 万元" / "CNY 125,000"."""
    return format_wan_range(value, value, english=english)


def format_wan_range(low: float | None, high: float | None, *, english: bool = False) -> str:
    """A budget of ``low``–``high`` 万元 with its unit (either end may be None): "500–3,000 万元",
    "不低于 500 万元", "不超过 3,000 万元" / "CNY 5–30 million", "at least CNY 5 million", "up to
    CNY 30 million". Empty when neither end is given."""
    if low is None and high is None:
        return ""
    amounts = [float(v) for v in (low, high) if v is not None]
    if len(amounts) == 2 and amounts[0] == amounts[1]:
        amounts = amounts[:1]
    if english:
        numbers, scale = _yuan_en(amounts)
        text = f"CNY {'–'.join(numbers)}{scale}"
    else:
        text = f"{'–'.join(_number(v) for v in amounts)} 万元"
    if high is None:
        return f"at least {text}" if english else f"不低于 {text}"
    if low is None:
        return f"up to {text}" if english else f"不超过 {text}"
    return text
