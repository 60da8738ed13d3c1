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


def test_a_region_preference_must_name_a_province_or_city():
    from marketplace.regions import parse_region

    assert parse_region("上海市") == "上海" and parse_region("苏州") == "江苏" and parse_region("  ") is None
    with pytest.raises(InputError, match="region_preference: '火星' is not a province") as err:
        parse_region("火星", "region_preference")
    assert err.value.field == "region_preference"


def test_every_form_refuses_a_region_that_names_no_province(session):
    """Demands, profiles, consortium projects and policies share one rule (imports keep theirs)."""
    from marketplace.services.consortia import create_project
    from marketplace.services.demands import create_demand
    from marketplace.services.firms import create_firm, update_profile
    from marketplace.services.policies import create_policy

    firm = create_firm(session, name="地区测试有限公司")
    calls = {
        "demand": lambda: create_demand(
            session, {"owner_firm_id": firm.id, "type": "rd", "title": "研发", "region_preference": "火星"}
        ),
        "profile": lambda: update_profile(session, firm, region="火星省"),
        "project": lambda: create_project(
            session,
            firm.id,
            {"title": "项目", "region": "火星", "lots": [{"title": "a", "products": ["b"], "budget": 5}]},
        ),
        "policy": lambda: create_policy(
            session, {"title": "政策", "issuer": "某局", "region": "火星"}, organization_id=None
        ),
    }
    for what, call in calls.items():
        with pytest.raises(InputError, match="is not a province") as err:
            call()
        assert err.value.field in ("region", "region_preference"), what
    update_profile(session, firm, region="广东省深圳市")
    assert firm.region == "广东"
