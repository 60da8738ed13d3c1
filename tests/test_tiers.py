"""Tier readiness: criteria as data, scoring, gaps, next tier, figures, pipeline, permission."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import pytest

from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.enterprise.tiers import (
    assess,
    assess_firm,
    available_years,
    can_view_figures,
    load_criteria,
    parse_figures,
    pipeline,
    profile_figures,
    save_figures,
)
from marketplace.errors import InputError
from marketplace.models import Organization, OrganizationKind, Role

SPECIALIZED = {
    "years_in_segment": 6,
    "revenue": 9800,
    "main_business_share": 88,
    "revenue_growth": 12,
    "revenue_growth_2y": 9,
    "rd_expense": 620,
    "rd_share": 6.3,
    "rd_staff_share": 18,
    "ip_class": "class_i_own",
    "strategic_emerging": True,
    "chain_role": "basics",
    "digital_level": 2,
    "quality_items": 2,
    "net_profit_margin": 7,
    "debt_ratio": 48,
    "local_feature_score": 9,
    "rd_institution": "city",
}


def tier(result, key):
    return next(t for t in result["tiers"] if t["key"] == key)


def test_every_shipped_edition_loads_and_cites_its_sources():
    assert 2022 in available_years()
    c = load_criteria(2022)
    assert [t["key"] for t in c.tiers] == ["innovative", "specialized", "little_giant", "single_champion"]
    assert any("工信部企业〔2022〕63号" in s["title"] for s in c.sources)


def test_unknown_edition_is_refused_naming_the_year():
    with pytest.raises(InputError) as err:
        load_criteria(1999)
    assert err.value.field == "year"


def test_innovative_score_adds_the_indicator_bands():
    # 附件1: IP class I own (15) + R&D share 6.3 % (20) + growth 12 % (15) + debt ratio 48 % (10) + SEI (10)
    # + main share 88 % (20)
    result = assess({k: SPECIALIZED[k] for k in SPECIALIZED})
    score = tier(result, "innovative")["score"]
    assert score["total"] == 90 and score["passed"]


def test_innovation_group_minimum_blocks_a_high_total():
    figures = {
        "ip_class": "none",
        "rd_share": 3.5,
        "revenue_growth": 20,
        "debt_ratio": 80,
        "strategic_emerging": True,
        "main_business_share": 90,
    }
    t = tier(assess(figures), "innovative")
    assert t["score"]["total"] == 65  # R&D 3.5 % (15) + growth 20 % (20) + debt 80 % (0) + SEI (10) + share (20)
    assert not t["met"] and t["nearly"]  # 15 innovation points < 20 required


def test_direct_route_qualifies_without_score():
    t = tier(assess({"tech_honour": True}), "innovative")
    assert t["met"] and t["via_direct"]


def test_specialized_firm_meets_two_tiers_and_little_giant_lists_what_is_missing():
    result = assess(SPECIALIZED)
    assert result["met"] == ["innovative", "specialized"] and result["highest"] == "specialized"
    assert tier(result, "specialized")["score"]["total"] >= 60
    nxt = result["next"]
    assert nxt["key"] == "little_giant"
    fields = {n.get("field") for n in nxt["needs"]}
    assert {"national_market_share", "own_brand", "key_chain_link"} <= fields


def test_missing_condition_reports_the_gap():
    figures = {**SPECIALIZED, "rd_expense": 80}
    t = tier(assess(figures), "specialized")
    assert not t["met"]
    gap = next(m for m in t["missing"] if m.get("field") == "rd_expense")
    assert gap["gap"] == 20 and gap["required"] == 100


def test_little_giant_needs_the_specialized_tier_first():
    figures = {
        "years_in_segment": 5,
        "main_business_share": 90,
        "revenue_growth_2y": 10,
        "debt_ratio": 40,
        "national_market_share": 15,
        "own_brand": True,
        "national_award_top3": True,
        "key_chain_link": True,
        "key_field": True,
    }
    t = tier(assess(figures), "little_giant")
    assert all(c["met"] for c in t["conditions"])
    assert not t["met"] and not t["requires_met"]


def test_unverified_threshold_is_flagged():
    t = tier(assess({"rd_share": 1}), "single_champion")
    rd = next(c for c in t["conditions"] if c.get("field") == "rd_share")
    assert rd["verified"] is False and "not verified" in rd["note"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"revenu": 100}, "revenu"),
        ({"rd_share": "lots"}, "rd_share"),
        ({"rd_share": 140}, "rd_share"),
        ({"revenue": -5}, "revenue"),
        ({"ip_class": "gold"}, "ip_class"),
        ({"own_brand": "maybe"}, "own_brand"),
        ({"ip_class": ["class_i"]}, "ip_class"),  # a list is no choice (and was unhashable: 500)
        ({"ip_class": {"a": 1}}, "ip_class"),
        ({"revenue": True}, "revenue"),  # a boolean is no amount (was stored as 1)
        ({"revenue": [1]}, "revenue"),
        ({"revenue": 10**400}, "revenue"),  # beyond a float
        ({"revenue": 1e308}, "revenue"),  # a float, but stored as a 309-digit integer
        ({"revenue": "2e12"}, "revenue"),
    ],
)
def test_bad_figures_are_refused_naming_the_field(raw, field):
    with pytest.raises(InputError) as err:
        parse_figures(load_criteria(), raw)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")


def test_a_choice_figure_given_as_a_list_names_the_choices():
    with pytest.raises(InputError, match=r"^ip_class: .*choose one of none, class_ii"):
        parse_figures(load_criteria(), {"ip_class": ["x"]})


def test_figures_accept_words_and_drop_blanks():
    parsed = parse_figures(load_criteria(), {"own_brand": "是", "revenue": "1,200", "rd_share": ""})
    assert parsed == {"own_brand": True, "revenue": 1200}


def test_profile_gives_years_since_listing_patents_and_main_product_share():
    figures = profile_figures(date(2015, 3, 1), 4, 0.734, today=date(2025, 3, 2))
    assert figures == {
        "years_in_segment": 10,
        "years_in_business": 10,
        "class_i_ip_count": 4,
        "main_product_share": 73.4,
    }
    assert profile_figures(None, 0, 1.8)["main_product_share"] == 100.0  # report offset lines: clamped


def test_stored_figures_override_profile_and_say_where_they_came_from(session):
    firm = create_firm(session, name="测试梯度企业有限公司", region="上海")
    firm.listed_on = date(2016, 1, 1)
    save_figures(session, firm, {"years_in_segment": 3, "rd_share": 5}, by="test")
    result = assess_firm(session, firm)
    assert result["figures"]["years_in_segment"] == 3
    assert result["figure_sources"]["years_in_segment"] == "firm"
    assert result["figure_sources"]["years_in_business"] == "profile"
    update_profile(session, firm, products=["隔膜"])
    firm.products[0].weight = 0.8
    assert assess_firm(session, firm)["figures"]["main_product_share"] == 80.0
    save_figures(session, firm, {"rd_share": ""}, by="test")
    assert "rd_share" not in assess_firm(session, firm)["figures"]


def test_pipeline_counts_met_and_nearly_by_region(session):
    a = create_firm(session, name="管线甲有限公司", region="上海")
    b = create_firm(session, name="管线乙有限公司", region="江苏")
    save_figures(session, a, SPECIALIZED, by="test")
    save_figures(session, b, {**SPECIALIZED, "rd_expense": 80}, by="test")
    data = pipeline(session)
    counts = {t["key"]: t for t in data["tiers"]}
    assert counts["specialized"]["met"] == 1 and counts["specialized"]["nearly"] == 1
    only_sh = pipeline(session, region="上海")
    assert [f["name"] for f in only_sh["firms"]] == ["管线甲有限公司"]


def test_pipeline_refuses_a_region_or_chain_that_names_nothing(session):
    save_figures(session, create_firm(session, name="管线丙有限公司", region="上海"), SPECIALIZED, by="test")
    for kwargs, field in (({"region": "火星"}, "region"), ({"chain": "没有这个行业"}, "chain")):
        with pytest.raises(InputError) as err:
            pipeline(session, **kwargs)
        assert err.value.field == field and str(err.value).startswith(f"{field}: "), kwargs
    assert [f["name"] for f in pipeline(session, region="上海市")["firms"]] == ["管线丙有限公司"]
    assert pipeline(session, chain="未知行业")["firms"]  # the group of firms without an industry on record


def _user(role, firm_id=None, organization_id=None):
    return SimpleNamespace(role=role, firm_id=firm_id, organization_id=organization_id, is_authenticated=True)


def test_figures_are_visible_to_the_firm_its_regional_organizer_and_admins_only(session):
    firm = create_firm(session, name="可见性测试有限公司", region="上海")
    other = create_firm(session, name="别家企业有限公司", region="上海")
    sh = Organization(name="上海服务中心", kind=OrganizationKind.GOVERNMENT, region="上海")
    js = Organization(name="江苏服务中心", kind=OrganizationKind.GOVERNMENT, region="江苏")
    nowhere = Organization(name="无地区协会", kind=OrganizationKind.ASSOCIATION)
    session.add_all([sh, js, nowhere])
    session.flush()
    assert can_view_figures(session, _user(Role.SME, firm_id=firm.id), firm)
    assert can_view_figures(session, _user(Role.ORGANIZER, organization_id=sh.id), firm)
    assert can_view_figures(session, _user(Role.ADMIN), firm)
    assert not can_view_figures(session, _user(Role.SME, firm_id=other.id), firm)
    assert not can_view_figures(session, _user(Role.LARGE, firm_id=other.id), firm)
    assert not can_view_figures(session, _user(Role.ORGANIZER, organization_id=js.id), firm)
    assert not can_view_figures(session, _user(Role.ORGANIZER, organization_id=nowhere.id), firm)
    assert not can_view_figures(session, None, firm)


def test_cli_assess_prints_json_and_exit_codes(runner, settings):
    from marketplace.db import session_scope

    with session_scope(settings) as s:
        firm = create_firm(s, name="命令行梯度企业有限公司", region="上海")
        save_figures(s, firm, SPECIALIZED, by="test")
        fid = firm.id

    ok = runner.invoke(["tiers", "assess", "--firm", str(fid), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["highest"] == "specialized"
    missing = runner.invoke(["tiers", "assess", "--firm", "999999", "--json"])
    assert missing.exit_code == 2
    bad = runner.invoke(["tiers", "set", "--firm", str(fid), "--set", "rd_share=abc"])
    assert bad.exit_code == 2 and "rd_share" in bad.output
    human = runner.invoke(["tiers", "assess", "--firm", str(fid)])
    assert "专精特新中小企业" in human.output


def test_cli_criteria_and_pipeline(runner, settings):
    from marketplace.db import session_scope

    criteria = runner.invoke(["tiers", "criteria", "--json"])
    assert criteria.exit_code == 0 and json.loads(criteria.output)["year"] == 2022
    assert runner.invoke(["tiers", "criteria", "--year", "1990"]).exit_code == 2
    with session_scope(settings) as s:
        save_figures(s, create_firm(s, name="管线命令行有限公司", region="江苏"), SPECIALIZED, by="t")
    data = json.loads(runner.invoke(["tiers", "pipeline", "--region", "江苏", "--json"]).output)
    assert {t["key"]: t["met"] for t in data["tiers"]}["specialized"] == 1
    assert "专精特新" in runner.invoke(["tiers", "pipeline"]).output


def test_only_an_organizer_of_the_region_or_an_admin_recognises_a_claimed_tier(session):
    from marketplace.enterprise.tiers import claim_tier, decide_tier_claim, pending_tier_claims
    from marketplace.errors import ConflictError, PermissionDeniedError
    from marketplace.models import Tier

    firm = create_firm(session, name="申报测试有限公司", region="上海")
    sh = Organization(name="上海中小企业服务中心", kind=OrganizationKind.GOVERNMENT, region="上海")
    js = Organization(name="江苏中小企业服务中心", kind=OrganizationKind.GOVERNMENT, region="江苏")
    session.add_all([sh, js])
    session.flush()
    assert claim_tier(session, firm, Tier.LITTLE_GIANT) == "claimed"
    assert firm.tier is None and firm.tier_claim is Tier.LITTLE_GIANT
    assert claim_tier(session, firm, Tier.LITTLE_GIANT) == "unchanged"
    assert [f.id for f in pending_tier_claims(session, "上海")] == [firm.id] and not pending_tier_claims(
        session, "江苏"
    )
    for judge in (_user(Role.SME, firm_id=firm.id), _user(Role.ORGANIZER, organization_id=js.id)):
        judge.email = "x@t.cn"
        with pytest.raises(PermissionDeniedError):
            decide_tier_claim(session, judge, firm, accept=True)
    assert firm.tier is None
    organizer = _user(Role.ORGANIZER, organization_id=sh.id)
    organizer.email = "org@t.cn"
    decide_tier_claim(session, organizer, firm, accept=False)  # turned down: nothing recognised
    assert firm.tier is None and firm.tier_claim is None
    with pytest.raises(ConflictError):
        decide_tier_claim(session, organizer, firm, accept=True)
    claim_tier(session, firm, Tier.SPECIALIZED)
    admin = _user(Role.ADMIN)
    admin.email = "admin@t.cn"
    decide_tier_claim(session, admin, firm, accept=True)
    assert firm.tier is Tier.SPECIALIZED and firm.fact_sources["tier"] == "recognised:admin@t.cn"
    assert claim_tier(session, firm, None) == "cleared" and firm.tier is None  # giving it up needs no one


def test_cli_lists_tier_claims_and_the_operator_recognises_one(runner, settings):
    from marketplace.db import session_scope
    from marketplace.enterprise.tiers import claim_tier
    from marketplace.models import Tier

    with session_scope(settings) as s:
        firm = create_firm(s, name="命令行申报企业有限公司", region="上海")
        claim_tier(s, firm, Tier.SPECIALIZED)
        fid = firm.id
    listed = runner.invoke(["tiers", "claims", "--region", "上海", "--json"])
    assert listed.exit_code == 0 and [r["firm_id"] for r in json.loads(listed.output)] == [fid]
    ok = runner.invoke(["tiers", "recognise", "--firm", str(fid), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["recognised"] == "specialized"
    again = runner.invoke(["tiers", "recognise", "--firm", str(fid)])
    assert again.exit_code == 2 and "no tier claim waiting" in again.output
    assert runner.invoke(["tiers", "recognise", "--firm", "999999"]).exit_code == 2


LITTLE_GIANT_BASICS = {
    **SPECIALIZED,
    "years_in_segment": 5,
    "main_business_share": 90,
    "revenue_growth_2y": 10,
    "debt_ratio": 40,
    "national_market_share": 15,
    "own_brand": True,
}


def _innovation(figures):
    conditions = tier(assess(figures), "little_giant")["conditions"]
    return next(c for c in conditions if c["text_zh"].startswith("创新能力"))


def test_a_composite_condition_names_the_figures_it_still_needs():
    """ "（未填写） 差" named nothing: the 小巨人 innovation condition lists the figures not filled in."""
    found = _innovation(LITTLE_GIANT_BASICS)
    assert found["met"] is None and "gap_zh" not in found
    named = {f["key"] for f in found["missing_figures"]}
    assert {"rd_share_2y_min", "own_rd_institution", "national_award_top3", "maker_china_50"} <= named
    assert "revenue" not in named and "rd_expense" not in named  # filled in: not asked for again
    assert found["missing_zh"].startswith("未填写：近2年研发费用占营业收入比重（较低一年）、")
    assert found["missing_en"].startswith("not filled in: R&D share of revenue, lower of the last 2 years, ")


def test_a_firm_that_says_no_is_not_asked_again_and_is_told_how_far_it_is():
    figures = {
        **LITTLE_GIANT_BASICS,
        "rd_share_2y_min": 2,
        "own_rd_institution": True,
        "class_i_ip_count": 3,
        "national_award_top3": False,  # a firm can say no: no longer "not filled in"
        "maker_china_50": False,
        "equity_financing_2y": 0,
    }
    found = _innovation(figures)
    assert found["met"] is False and "missing_figures" not in found
    assert "上年度营业收入总额差 200万元" in found["gap_zh"] and "（较低一年）差 1%" in found["gap_zh"]
    assert "Revenue last year: short by 200 ×10k CNY" in found["gap_en"]


def test_a_gap_says_short_below_a_minimum_and_over_above_a_maximum():
    missing = tier(assess({**SPECIALIZED, "rd_expense": 80}), "specialized")["missing"]
    rd = next(m for m in missing if m.get("field") == "rd_expense")
    assert (rd["gap_zh"], rd["gap_en"]) == ("差 20万元", "short by 20 ×10k CNY")
    debt = next(c for c in tier(assess({**LITTLE_GIANT_BASICS, "debt_ratio": 80}), "little_giant")["conditions"]
                if c.get("field") == "debt_ratio")  # fmt: skip
    assert (debt["gap_zh"], debt["gap_en"]) == ("超出 10%", "10 % over")
