"""Demand input: what a firm may post, and what no demand has."""

from __future__ import annotations

import pytest

from marketplace.demands.workflow import parse_demand
from marketplace.errors import InputError


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
    from marketplace.demands.workflow import create_demand
    from marketplace.enterprise.consortia import create_project
    from marketplace.enterprise.firms import create_firm, update_profile
    from marketplace.enterprise.policies import create_policy

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


@pytest.mark.parametrize(
    ("type_", "details", "key"),
    [
        ("rd", {"visibility": "public"}, "visibility"),
        ("rd", {"title": "被替换的标题"}, "title"),
        ("rd", {"technical_problem": "难题", "quantity": "10 吨"}, "quantity"),  # a supply-chain detail
        ("supply_chain", {"csrf_token": "x"}, "csrf_token"),
    ],
)
def test_details_take_only_the_keys_of_the_demand_type(type_, details, key):
    """Any other key would be mistaken for a field of the demand by its edit form (visibility!)."""
    from marketplace.demands.workflow import DETAIL_FIELDS

    with pytest.raises(InputError) as err:
        parse_demand({"owner_firm_id": 1, "type": type_, "title": "研发需求", "details": details})
    assert err.value.field == f"details.{key}"
    assert str(err.value).startswith(f"details.{key}: ") and ", ".join(DETAIL_FIELDS[type_]) in str(err.value)
    ok = parse_demand(
        {"owner_firm_id": 1, "type": "investment", "title": "投资", "details": {"stage": "A", "amount": 5}}
    )
    assert ok.details == {"stage": "A", "amount": 5}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_details_refuse_numbers_that_are_not_finite(value):
    with pytest.raises(InputError, match="details.amount: .* is not a finite number") as err:
        parse_demand({"owner_firm_id": 1, "type": "investment", "title": "投资", "details": {"amount": value}})
    assert err.value.field == "details.amount"


@pytest.mark.parametrize("value", [[1], {"a": 1}, True])
def test_details_are_text_or_numbers(value):
    with pytest.raises(InputError, match="details.amount: give a text or a number"):
        parse_demand({"owner_firm_id": 1, "type": "investment", "title": "投资", "details": {"amount": value}})


def _templates(message) -> list[str]:  # noqa: ANN001
    """The templates of a message and of every message inside it."""
    found = [getattr(message, "template", None)]
    for value in getattr(message, "params", {}).values():
        found += _templates(value)
    return [t for t in found if t]


def test_a_float_bound_reads_as_pydantic_writes_it_and_is_translated():
    from marketplace.errors import message_of
    from tests.messages_helpers import zh

    with pytest.raises(InputError) as err:
        parse_demand({"owner_firm_id": 1, "type": "rd", "title": "研发", "budget_max": 2e9})
    message = message_of(err.value)
    assert str(message) == "budget_max: Input should be less than or equal to 1000000000"  # pydantic's English
    assert "Input should be less than or equal to %(le)s" in _templates(message)
    assert zh(message) == "budget_max: 不能大于 1000000000"


def test_too_short_and_too_long_lists_are_translatable_messages():
    """Pydantic's list-length messages (e.g. an event's sessions left blank) come as msg templates,
    with pydantic's own English, so pages show them in Chinese."""
    from pydantic import BaseModel, Field, ValidationError

    from marketplace.demands.workflow import validation_message

    class Sessions(BaseModel):
        sessions: list[str] = Field(min_length=1, max_length=6)
        slots: list[str] = Field(default=["a", "b"], min_length=2)

    for data, english, template in [
        (
            {"sessions": []},
            "sessions: List should have at least 1 item after validation, not 0",
            "List should have at least 1 item after validation, not %(actual_length)s",
        ),
        (
            {"sessions": ["a"], "slots": ["a"]},
            "slots: List should have at least 2 items after validation, not 1",
            "List should have at least %(min_length)s items after validation, not %(actual_length)s",
        ),
        (
            {"sessions": ["a"] * 7},
            "sessions: List should have at most 6 items after validation, not 7",
            "List should have at most %(max_length)s items after validation, not %(actual_length)s",
        ),
    ]:
        with pytest.raises(ValidationError) as err:
            Sessions.model_validate(data)
        message, _field = validation_message(err.value)
        assert str(message) == english and template in _templates(message)
    with pytest.raises(InputError) as err:  # a demand's lists too
        parse_demand(
            {"owner_firm_id": 1, "type": "rd", "title": "研发", "wanted_products": [f"p{i}" for i in range(51)]}
        )
    assert "List should have at most %(max_length)s items after validation, not %(actual_length)s" in _templates(
        err.value.args[0]
    )


def test_the_same_demand_again_within_minutes_is_the_first_one_and_later_a_new_one(session):
    from datetime import timedelta

    from marketplace.demands.workflow import create_demand_once
    from marketplace.enterprise.firms import create_firm
    from marketplace.models import Demand, utcnow

    firm = create_firm(session, name="重复提交测试企业有限公司")
    post = {"owner_firm_id": firm.id, "type": "rd", "title": "重复提交测试", "publish": True}
    first, created = create_demand_once(session, post)
    again, created_again = create_demand_once(session, {**post, "publish": False})
    assert created and not created_again and again.id == first.id and again.status.value == "open"
    other_type, created = create_demand_once(session, {**post, "type": "service"})
    assert created and other_type.id != first.id
    first.created_at = utcnow() - timedelta(minutes=6)  # long enough ago: posted again on purpose
    session.flush()
    later, created = create_demand_once(session, post)
    assert created and later.id not in (first.id, other_type.id)
    assert session.query(Demand).filter(Demand.title == "重复提交测试").count() == 3
