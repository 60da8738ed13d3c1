"""Policies: rule validation, per-firm explanation, batch masks agreeing with it, reach and
notification, free-text search, permission, CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select

from marketplace.enterprise.demo import load_enterprise_demo
from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.enterprise.policies import (
    can_manage_policy,
    can_view_policy,
    create_policy,
    evaluate,
    match_batch,
    match_firm,
    publish_policy,
    search_policies,
    update_policy,
)
from marketplace.enterprise.policy_rules import FirmFacts, validate_rules
from marketplace.enterprise.tiers import save_figures
from marketplace.errors import InputError
from marketplace.models import Firm, FirmKind, Policy, PolicyReach, PolicyStatus, Role, Tier

BASE = {"title": "测试政策", "issuer": "测试局"}


@pytest.mark.parametrize(
    ("rules", "field", "words"),
    [
        ([{"field": "turnover", "min": 1}], "rules[0].field", "rules[0].field: unknown field 'turnover'"),
        ([{"field": "title", "min": 1}], "rules[0].field", "unknown field 'title'"),  # not the policy's title
        ([{"field": "rd_share", "min": 8, "max": 3}], "rules[0]", "contradictory"),
        ([{"field": "rd_share", "minimum": 3}], "rules[0]", "does not take"),
        ([{"field": "rd_share", "min": "three"}], "rules[0].min", "must be a number"),
        ([{"field": "rd_share"}], "rules[0]", "needs min or max"),
        ([{"field": "tier", "min": "gold"}], "rules[0]", "tier values"),
        ([{"field": "region", "in": ["火星"]}], "rules[0]", "not a province"),
        ([{"field": "kind", "in": []}], "rules[0]", "non-empty"),
        ([{"field": "industry", "any": "电池"}], "rules[0]", "non-empty list"),
        ([{"field": "revenue", "min": 1}, {"field": "revenue", "max": 9}], "rules[1]", "twice"),
        ("rd_share>3", "rules", "list of rules"),
        (["rd_share"], "rules[0]", "each rule is an object"),
        (
            [{"field": "revenue", "min": float("-inf")}],
            "rules[0].min",
            "rules[0].min: revenue min must be a finite number",
        ),
        (
            [{"field": "revenue", "max": float("inf")}],
            "rules[0].max",
            "rules[0].max: revenue max must be a finite number",
        ),
        ([{"field": "employees", "min": float("nan")}], "rules[0].min", "must be a finite number, not nan"),
        ([{"field": "employees", "min": 10**400}], "rules[0].min", "must be a finite number"),  # beyond a float
        ([{"field": ["revenue"], "min": 1}], "rules[0].field", "rules[0].field: give one field name as text"),
        ([{"field": {"name": "revenue"}}], "rules[0].field", "rules[0].field: give one field name as text"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rules, field, words):
    with pytest.raises(InputError) as err:
        validate_rules(rules)
    assert err.value.field == field and words in str(err.value)


def test_bad_rule_leaves_no_policy_behind(session):
    with pytest.raises(InputError):
        create_policy(session, {**BASE, "rules": [{"field": "rd_share", "min": 9, "max": 1}]}, organization_id=None)
    session.rollback()
    assert session.scalar(select(Policy.id)) is None


def test_region_names_are_normalised():
    assert validate_rules([{"field": "region", "in": ["上海市"]}]) == [{"field": "region", "in": ["上海"]}]


def facts(**kw):
    base = {"firm_id": 1, "name": "甲", "kind": "sme", "tier": None, "region": "上海"}
    return FirmFacts(**{**base, **kw})


def policy(rules, region=None):
    return Policy(
        id=1, title="p", issuer="i", rules=validate_rules(rules), region=region, status=PolicyStatus.PUBLISHED
    )


def test_firm_meeting_every_rule_qualifies_with_each_rule_explained():
    p = policy([{"field": "tier", "min": "specialized"}, {"field": "rd_share", "min": 3}], region="上海")
    r = evaluate(p, facts(tier="little_giant", figures={"rd_share": 6}))
    assert r["status"] == "qualifies"
    assert [v["field"] for v in r["rules"]] == ["region", "tier", "rd_share"]
    assert all(v["met"] for v in r["rules"])
    assert "当前 6%" in r["rules"][2]["zh"]


def test_one_rule_short_is_nearly_and_names_the_missing_condition():
    p = policy([{"field": "tier", "min": "specialized"}, {"field": "rd_share", "min": 5}])
    r = evaluate(p, facts(tier="specialized", figures={"rd_share": 3.5}))
    assert r["status"] == "nearly"
    assert r["missing"][0]["field"] == "rd_share" and "差 1.5%" in r["missing"][0]["zh"]


def test_missing_figure_is_reported_as_missing_data():
    r = evaluate(policy([{"field": "employees", "max": 300}]), facts())
    assert r["status"] == "nearly" and r["missing"][0]["missing_data"]


def test_two_rules_short_is_not_a_match():
    p = policy([{"field": "tier", "min": "specialized"}, {"field": "kind", "in": ["large"]}])
    assert evaluate(p, facts())["status"] == "no"


def test_batch_masks_agree_with_single_firm_evaluation():
    rng = np.random.default_rng(7)
    tiers = [None, *[t.value for t in Tier]]
    firms = [
        facts(
            firm_id=i,
            kind=str(rng.choice(["sme", "large", "unknown"])),
            tier=tiers[int(rng.integers(0, 5))],
            region=str(rng.choice(["上海", "江苏", ""])) or None,
            industries=[str(rng.choice(["电池化学品", "光伏设备", "通用设备"]))],
            products=[str(rng.choice(["锂电池隔膜", "电解液", "光伏玻璃"]))],
            figures={k: float(rng.integers(0, 400)) for k in ("revenue", "employees") if rng.random() < 0.7}
            | ({"rd_share": float(rng.integers(0, 12))} if rng.random() < 0.6 else {}),
        )
        for i in range(300)
    ]
    policies = [
        policy([{"field": "tier", "min": "specialized"}, {"field": "rd_share", "min": 3}], region="上海"),
        policy([{"field": "kind", "in": ["sme"]}, {"field": "employees", "max": 300}]),
        policy([{"field": "chain", "any": ["隔膜", "电解液"]}, {"field": "revenue", "min": 100, "max": 300}]),
        policy([{"field": "industry", "any": ["光伏"]}, {"field": "tier", "in": ["innovative"]}]),
    ]
    for i, p in enumerate(policies):
        p.id = i + 1
    batch = match_batch(policies, firms)
    for i, p in enumerate(policies):
        single = {f.firm_id for f in firms if evaluate(p, f)["status"] == "qualifies"}
        nearly = {f.firm_id for f in firms if evaluate(p, f)["status"] == "nearly"}
        assert set(batch.qualifying(i).tolist()) == single
        assert set(batch.nearly(i).tolist()) == nearly
    assert batch.counts()["qualifies"] > 0


def test_demo_policies_match_demo_firms_by_tier(loaded):
    from marketplace.db import session_scope

    with session_scope(loaded) as s:
        load_enterprise_demo(s)
        giant = s.scalar(select(Firm).where(Firm.name.like("示例储能%")))
        results = {r["title"]: r["status"] for r in match_firm(s, giant.id)}
        assert results["关于进一步支持专精特新中小企业高质量发展的通知"] == "qualifies"
        small = s.scalar(select(Firm).where(Firm.name.like("示例温控%")))
        small_results = {r["title"]: r for r in match_firm(s, small.id)}
        assert small_results["关于进一步支持专精特新中小企业高质量发展的通知"]["missing"][0]["field"] == "tier"
        assert '关于支持"专精特新"中小企业高质量发展的通知' not in results  # ended 2025-12-31: not in force
        sh = small_results["上海市中小企业研发投入补贴（创新型中小企业）"]
        assert sh["status"] == "nearly" and sh["missing"][0]["field"] == "tier"
        reached = s.scalar(select(PolicyReach.id).where(PolicyReach.firm_id == giant.id))
        assert reached is not None


def test_search_finds_policies_by_chinese_words(loaded):
    from marketplace.db import session_scope

    with session_scope(loaded) as s:
        load_enterprise_demo(s)
        titles = [r["title"] for r in search_policies(s, "研发费用加计扣除")]
        assert titles[0] == "关于进一步完善研发费用税前加计扣除政策的公告"
        with pytest.raises(InputError):
            search_policies(s, "  ")


def _user(role, firm_id=None, organization_id=None):
    return SimpleNamespace(role=role, firm_id=firm_id, organization_id=organization_id, is_authenticated=True)


def test_only_its_organizers_and_admins_manage_a_policy_and_drafts_stay_hidden():
    draft = Policy(title="t", issuer="i", organization_id=5, status=PolicyStatus.DRAFT)
    assert can_manage_policy(_user(Role.ORGANIZER, organization_id=5), draft)
    assert can_manage_policy(_user(Role.ADMIN), draft)
    assert not can_manage_policy(_user(Role.ORGANIZER, organization_id=6), draft)
    assert not can_manage_policy(_user(Role.SME, firm_id=1), draft)
    assert not can_manage_policy(None, draft)
    assert not can_view_policy(_user(Role.SME, firm_id=1), draft)
    draft.status = PolicyStatus.PUBLISHED
    assert can_view_policy(_user(Role.SME, firm_id=1), draft)


def test_publishing_notifies_only_firms_it_newly_applies_to(session):
    from marketplace.accounts.users import create_user
    from marketplace.models import Notification

    a = create_firm(session, name="通知甲有限公司", kind=FirmKind.SME, region="上海")
    b = create_firm(session, name="通知乙有限公司", kind=FirmKind.SME, region="上海")
    save_figures(session, a, {"rd_share": 6}, by="t")
    save_figures(session, b, {"rd_share": 2}, by="t")
    ua = create_user(session, email="a@t.cn", password="password-1", name="甲", role=Role.SME, firm_id=a.id)
    ub = create_user(session, email="b@t.cn", password="password-1", name="乙", role=Role.SME, firm_id=b.id)
    p = create_policy(session, {**BASE, "rules": [{"field": "rd_share", "min": 5}]}, organization_id=None)
    first = publish_policy(session, p)
    assert first["notified_firms"] == 1
    notes = list(session.scalars(select(Notification).where(Notification.kind == "policy")))
    assert [n.user_id for n in notes] == [ua.id]
    changed = update_policy(session, p, {"rules": [{"field": "rd_share", "min": 1}]})
    assert changed["notified_firms"] == 1  # b is new; a was told already
    notes = list(session.scalars(select(Notification).where(Notification.kind == "policy")))
    assert sorted(n.user_id for n in notes) == sorted([ua.id, ub.id])


def test_cli_list_and_match(runner, settings):
    from marketplace.db import session_scope

    with session_scope(settings) as s:
        firm = create_firm(s, name="命令行政策企业有限公司", kind=FirmKind.SME, region="上海")
        update_profile(s, firm, tier=Tier.SPECIALIZED)
        save_figures(s, firm, {"employees": 120, "rd_expense": 300, "rd_share": 4}, by="t")
        fid = firm.id
        load_enterprise_demo(s)
    listed = runner.invoke(["policies", "list", "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.output)) >= 5
    matched = runner.invoke(["policies", "match", "--firm", str(fid), "--json"])
    assert matched.exit_code == 0
    statuses = {r["title"]: r["status"] for r in json.loads(matched.output)}
    assert statuses["关于进一步完善研发费用税前加计扣除政策的公告"] == "qualifies"
    assert runner.invoke(["policies", "match", "--json"]).exit_code == 2
    assert runner.invoke(["policies", "match", "--firm", "987654"]).exit_code == 2
    batch = runner.invoke(["policies", "match", "--all-firms", "--json"])
    assert batch.exit_code == 0 and json.loads(batch.output)["firms"] >= 1


def test_cli_add_refuses_contradictory_rules(runner, tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({**BASE, "rules": [{"field": "revenue", "min": 500, "max": 100}]}), encoding="utf-8")
    result = runner.invoke(["policies", "add", "--file", str(bad)])
    assert result.exit_code == 2 and "revenue" in result.output


def test_cli_add_publish_and_search(runner, settings, tmp_path):
    from marketplace.db import session_scope

    with session_scope(settings) as s:
        firm = create_firm(s, name="命令行通知企业有限公司", kind=FirmKind.SME, region="上海")
        save_figures(s, firm, {"rd_share": 7}, by="t")
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "title: 高研发投入企业奖励\nissuer: 测试局\nvalid_from: 2024-01-01\nbenefit: 研发投入奖励\n"
        "rules:\n  - {field: rd_share, min: 5}\n",
        encoding="utf-8",
    )
    added = runner.invoke(["policies", "add", "--file", str(spec), "--json"])
    assert added.exit_code == 0, added.output
    pid = json.loads(added.output)["policy_id"]
    published = runner.invoke(["policies", "publish", str(pid), "--json"])
    assert published.exit_code == 0 and json.loads(published.output)["reached"] == 1
    found = runner.invoke(["policies", "search", "研发投入奖励", "--json"])
    assert json.loads(found.output)[0]["policy_id"] == pid
    assert runner.invoke(["policies", "publish", "424242"]).exit_code == 2


def test_search_with_the_dense_model_finds_a_policy_that_shares_no_words_with_the_query(loaded):
    from embeddings.dense import make_encoder
    from marketplace.db import session_scope

    encoder = make_encoder("chainmatch-zh-static")  # the shipped Chinese model (numpy, no PyTorch)
    query = "企业搞研发花的钱可以多抵税"
    with session_scope(loaded) as s:
        load_enterprise_demo(s)
        assert search_policies(s, query) == []  # no word in common: the lexical channel alone finds nothing
        hits = search_policies(s, query, encoder=encoder)
        assert hits and all(h["status"] == "published" for h in hits)
        # the words still lead when they match: the dense channel only adds to them
        titles = [r["title"] for r in search_policies(s, "研发费用加计扣除", encoder=encoder)]
        assert titles[0] == "关于进一步完善研发费用税前加计扣除政策的公告"
