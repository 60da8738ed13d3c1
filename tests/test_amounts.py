"""Amounts of 万元 as people write them, in Chinese and in English: thousands separators, no
trailing .0, the unit shown, open-ended ranges said in words."""

from __future__ import annotations

import pytest

from marketplace.enterprise.units import format_wan, format_wan_range, wan_number


@pytest.mark.parametrize(
    ("low", "high", "zh", "en"),
    [
        (500.0, 3000.0, "500–3,000 万元", "CNY 5–30 million"),
        (500.0, 500.0, "500 万元", "CNY 5 million"),
        (500.0, None, "不低于 500 万元", "at least CNY 5 million"),
        (None, 3000.0, "不超过 3,000 万元", "up to CNY 30 million"),
        (12.5, 80.0, "12.5–80 万元", "CNY 125,000–800,000"),
        (1234.5, 12000.0, "1,234.5–12,000 万元", "CNY 12.35–120 million"),
        (None, None, "", ""),
    ],
)
def test_a_budget_range_reads_as_people_write_it(low, high, zh, en):
    assert format_wan_range(low, high) == zh
    assert format_wan_range(low, high, english=True) == en


def test_one_amount_and_a_bare_number():
    assert format_wan(2600.0) == "2,600 万元" and format_wan(2600.0, english=True) == "CNY 26 million"
    assert wan_number(1200.0) == "1,200" and wan_number(0.25) == "0.25" and wan_number(None) == ""
