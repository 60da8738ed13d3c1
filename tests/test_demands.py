"""Demand input: what a firm may post, and what no demand has."""

from __future__ import annotations

import pytest

from marketplace.errors import InputError
from marketplace.services.demands import parse_demand


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"budget_max": float("inf")}, "finite number"),
        ({"budget_max": 2e9}, "less than or equal to"),
        ({"wanted_products": ["隔" * 201]}, "at most 200"),
        ({"details": {"quantity": "吨" * 6000}}, "at most 5000"),
    ],
)
def test_demand_input_refuses_amounts_and_sizes_no_demand_has(extra, words):
    with pytest.raises(InputError, match=words) as err:
        parse_demand({"owner_firm_id": 1, "type": "supply_chain", "title": "采购隔膜", **extra})
    assert err.value.field == next(iter(extra))
