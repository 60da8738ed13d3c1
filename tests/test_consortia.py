"""Procurement consortia: project validation, CP-SAT line-ups over the real matching engine,
SME share, alternatives, invitations and answers, agreement hook, report, permission, CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.enterprise.consortia import (
    AGREEMENT_HOOKS,
    Candidate,
    can_answer,
    can_manage_project,
    can_view_project,
    create_project,
    finalize,
    invite,
    large_groups_of,
    propose,
    respond,
    sme_share_report,
    solve_lineups,
)
from marketplace.enterprise.demo import load_enterprise_demo
from marketplace.errors import InputError, TransitionError
from marketplace.matching.engine import MatchEngine
from marketplace.models import (
    Firm,
    FirmKind,
    FirmRelation,
    FirmRelationKind,
    MemberStatus,
    ProcurementProject,
    Role,
)

LOTS = [
    {"title": "隔膜", "products": ["锂电池隔膜"], "budget": 100},
    {"title": "电解液", "products": ["电解液"], "budget": 100},
]


@pytest.fixture
def demo(loaded):
    with session_scope(loaded) as s:
        load_enterprise_demo(s)
    return loaded


@pytest.fixture
def engine(demo):
    with session_scope(demo) as s:
        return MatchEngine(demo, use_dense=False).build(s)


def owner_id(s) -> int:
    return s.scalar(select(ProcurementProject.owner_firm_id))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "x", "lots": LOTS}, "title"),
        ({"title": "项目", "lots": []}, "lots"),
        ({"title": "项目", "lots": [{"title": "a", "products": ["b"], "budget": 0}]}, "lots"),
        ({"title": "项目", "lots": [{"title": "a", "budget": 5}]}, "lots"),
        ({"title": "项目", "lots": LOTS, "sme_share": 30}, "sme_share"),
        ({"title": "项目", "lots": LOTS, "deadline": "next week"}, "deadline"),
        ({"title": "项目", "lots": LOTS, "budget": 5}, "budget"),
        ({"title": "项目", "lots": LOTS, "deadline": "2020-01-01"}, "deadline"),
        ({"title": "项目", "lots": [{"title": "a", "products": ["b"], "budget": "Infinity"}]}, "lots"),
        ({"title": "项目", "lots": [{"title": "a", "products": ["b"], "budget": "NaN"}]}, "lots"),
        ({"title": "项目", "lots": [{"title": "a", "products": ["b"], "budget": 1e400}]}, "lots"),
        ({"title": "项" * 256, "lots": LOTS}, "title"),
    ],
)
def test_bad_projects_are_refused_naming_the_field(demo, data, field):
    with pytest.raises(InputError) as err, session_scope(demo) as s:
        create_project(s, owner_id(s), data)
    assert err.value.field == field


def cand(fid, score, sme, rank=0):
    return Candidate(fid, f"f{fid}", score, [{"kind": "lexical"}], sme, None, rank, None)


def test_solver_meets_the_reserved_sme_share_even_against_better_scores():
    lots = [SimpleNamespace(id=i, position=i, budget=b) for i, b in ((1, 600), (2, 400))]
    project = SimpleNamespace(lots=lots, sme_share=0.5)
    candidates = {1: [cand(10, 0.9, False), cand(11, 0.5, True)], 2: [cand(12, 0.95, False), cand(13, 0.4, True)]}
    result = solve_lineups(project, candidates, count=1)
    best = {a["lot_id"]: a["firm_id"] for a in result["lineups"][0]["assignments"]}
    assert result["status"] == "optimal"
    assert best == {1: 11, 2: 12}  # lot 1 (600 of 1000) held by an SME is the cheapest way to 50 %
    assert result["lineups"][0]["sme_share"] == 0.6


def test_solver_prefers_one_member_covering_two_lots():
    lots = [SimpleNamespace(id=i, position=i, budget=100) for i in (1, 2)]
    project = SimpleNamespace(lots=lots, sme_share=0.0)
    candidates = {1: [cand(20, 0.8, True), cand(21, 0.85, True)], 2: [cand(20, 0.8, True), cand(22, 0.85, True)]}
    lineup = solve_lineups(project, candidates, count=1)["lineups"][0]
    assert lineup["member_count"] == 1 and lineup["members"][0]["lots"] == [1, 2]


def test_solver_prefers_the_higher_tier_at_equal_match():
    lots = [SimpleNamespace(id=1, position=1, budget=100)]
    project = SimpleNamespace(lots=lots, sme_share=0.0)
    candidates = {1: [cand(30, 0.7, True, rank=0), cand(31, 0.7, True, rank=3)]}
    assert solve_lineups(project, candidates, count=1)["lineups"][0]["assignments"][0]["firm_id"] == 31


def test_solver_reports_an_unreachable_share_and_lots_without_candidates():
    lots = [SimpleNamespace(id=1, position=1, budget=100), SimpleNamespace(id=2, position=2, budget=100)]
    project = SimpleNamespace(lots=lots, sme_share=0.9)
    infeasible = solve_lineups(project, {1: [cand(1, 0.5, False)], 2: [cand(2, 0.5, True)]})
    assert infeasible["status"] == "infeasible" and "SME" in infeasible["message"]
    none = solve_lineups(project, {1: [cand(1, 0.5, True)], 2: []})
    assert none["status"] == "no_candidates" and none["lots_without_candidates"] == [2]


def test_line_ups_are_distinct_and_best_first():
    lots = [SimpleNamespace(id=1, position=1, budget=100)]
    project = SimpleNamespace(lots=lots, sme_share=0.0)
    result = solve_lineups(project, {1: [cand(1, 0.9, True), cand(2, 0.6, True), cand(3, 0.3, True)]}, count=3)
    assert [lu["assignments"][0]["firm_id"] for lu in result["lineups"]] == [1, 2, 3]


def test_proposal_for_the_demo_project_covers_every_lot_with_reasons_and_chain_path(demo, engine):
    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        result = propose(engine, project)
        assert result["status"] in ("optimal", "feasible")
        best = result["lineups"][0]
        assert {a["lot_id"] for a in best["assignments"]} == {lot.id for lot in project.lots}
        assert best["sme_share"] >= project.sme_share
        assert any(r.startswith("产业链") for a in best["assignments"] for r in a["reasons"])
        assert all(lot["alternatives"] for lot in result["lots"])
        names = {m["name"] for m in best["members"]}
        assert "示例储能（演示）" in names  # the little giant making PCS/BMS takes lot 3


def test_invitation_answer_agreement_and_hook(demo):
    calls = []
    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        sme = {f.short_name: f for f in s.scalars(select(Firm).where(Firm.source == "demo"))}
        lots = project.lots
        picks = ["示例新材料", "示例电解液（演示）", "示例储能（演示）", "示例温控（演示）"]
        members = [invite(s, project, lot.id, sme[name].id, share=1.0) for lot, name in zip(lots, picks, strict=True)]
        with pytest.raises(InputError) as err:
            invite(s, project, lots[0].id, sme["示例储能（演示）"].id, share=0.5)
        assert err.value.field == "share"  # lot 1 is fully given already
        with pytest.raises(InputError):
            finalize(s, project)  # nobody accepted yet
        for m in members:
            respond(s, m, accept=True)
        with pytest.raises(TransitionError):
            respond(s, members[0], accept=False)
        AGREEMENT_HOOKS.append(lambda session, p, terms, actor: calls.append(terms))
        try:
            terms = finalize(s, project)
        finally:
            AGREEMENT_HOOKS.pop()
        assert terms["complete"] and terms["sme_share"] == 1.0
        assert calls and calls[0]["project_id"] == project.id
        assert members[0].status is MemberStatus.ACCEPTED
        report = sme_share_report(s)
        assert report["projects"][0]["met"] and report["sme_share"] == 1.0
        status = report["projects"][0]["status"]  # labelled on pages, its value in JSON
        assert status is project.status and status.label("en") == project.status.label_en
        assert json.loads(json.dumps(report))["projects"][0]["status"] == project.status.value


def _firm(s, name, kind, short_name=None):
    firm = Firm(name=name, short_name=short_name, kind=kind, source="test")
    s.add(firm)
    s.flush()
    return firm


def _controls(s, parent, child, relation=FirmRelationKind.CONTROLS):
    s.add(FirmRelation(firm_id=parent.id, relation=relation, other_id=child.id, source="test"))
    s.flush()


def test_a_large_groups_subsidiary_recorded_as_an_sme_is_no_sme_for_the_quota(demo):
    """华为数字能源技术有限公司 is imported as an SME (an unlisted 有限公司): its name carries 华为, whose
    controlling relations make it a group, so it does not count toward the reserved SME share; nor
    does a firm the data records as controlled by (or acquired by) a firm that is not an SME."""
    with session_scope(demo) as s:
        huawei = _firm(s, "华为", FirmKind.UNKNOWN)  # as ICKG records it: no listing, controls other firms
        _controls(s, huawei, _firm(s, "华为擎云", FirmKind.UNKNOWN))
        energy = _firm(s, "华为数字能源技术有限公司", FirmKind.SME, "华为数字能源")
        shenzhen = _firm(s, "深圳市华为思义技术有限公司", FirmKind.SME)  # the place comes first in the name
        xiaomi = _firm(s, "小米集团（测试）", FirmKind.UNKNOWN, "小米（测试）")
        chip = _firm(s, "上海玄戒技术有限公司", FirmKind.SME)
        _controls(s, xiaomi, chip)
        listed = s.scalar(select(Firm).where(Firm.kind == FirmKind.LARGE).order_by(Firm.id).limit(1))
        bought = _firm(s, "被并购测试科技有限公司", FirmKind.SME)
        _controls(s, bought, listed, FirmRelationKind.ACQUIRES)  # the data's direction is not reliable: either end
        # independent SMEs stay SMEs: a name that merely starts like a firm heading no group, an SME's subsidiary
        plain = _firm(s, "测试甲", FirmKind.UNKNOWN)
        lookalike = _firm(s, "测试甲乙科技有限公司", FirmKind.SME)
        small_parent = _firm(s, "小小母公司科技有限公司", FirmKind.SME)
        small_child = _firm(s, "小小子公司科技有限公司", FirmKind.SME)
        _controls(s, small_parent, small_child)
        firms = [energy, shenzhen, chip, bought, plain, lookalike, small_parent, small_child]
        groups = large_groups_of(s, firms)
        assert groups == {
            energy.id: "华为",
            shenzhen.id: "华为",
            chip.id: "小米（测试）",
            bought.id: listed.display_name,
        }
        project = s.scalar(select(ProcurementProject))
        lots = project.lots
        member = invite(s, project, lots[0].id, energy.id, share=1.0)
        independent = invite(s, project, lots[1].id, small_child.id, share=1.0)
        assert member.is_sme is False and independent.is_sme is True


def test_a_proposal_does_not_count_a_group_member_toward_the_sme_share(demo, engine):
    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        storage = s.scalar(select(Firm).where(Firm.short_name == "示例储能（演示）"))
        group = s.scalar(select(Firm).where(Firm.kind == FirmKind.LARGE).order_by(Firm.id).limit(1))
        _controls(s, group, storage)
        result = propose(engine, project)
        seen = [m for lu in result["lineups"] for m in lu["members"] if m["firm_id"] == storage.id]
        seen += [c for lot in result["lots"] for c in lot["alternatives"] if c["firm_id"] == storage.id]
        assert seen and all(e["is_sme"] is False and e["group"] == group.display_name for e in seen)
        by_lot = {lot.id: lot.budget for lot in project.lots}
        for lineup in result["lineups"]:
            sme_ids = {m["firm_id"] for m in lineup["members"] if m["is_sme"]}
            held = sum(by_lot[a["lot_id"]] for a in lineup["assignments"] if a["firm_id"] in sme_ids)
            assert storage.id not in sme_ids and lineup["sme_share"] == round(held / project.budget, 4)


def _user(role, firm_id=None, organization_id=None):
    return SimpleNamespace(role=role, firm_id=firm_id, organization_id=organization_id, is_authenticated=True)


def test_project_permissions(demo):
    from marketplace.models import Organization, OrganizationKind

    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        sme = s.scalar(select(Firm).where(Firm.short_name == "示例温控（演示）"))
        outsider = s.scalar(select(Firm).where(Firm.short_name == "示例电解液（演示）"))
        sh = Organization(name="上海中心", kind=OrganizationKind.GOVERNMENT, region="上海")
        js = Organization(name="江苏中心", kind=OrganizationKind.GOVERNMENT, region="江苏")
        s.add_all([sh, js])
        s.flush()
        owner = _user(Role.LARGE, firm_id=project.owner_firm_id)
        assert can_view_project(s, owner, project) and can_manage_project(owner, project)
        assert can_view_project(s, _user(Role.ORGANIZER, organization_id=sh.id), project)
        assert not can_view_project(s, _user(Role.ORGANIZER, organization_id=js.id), project)
        assert not can_view_project(s, _user(Role.SME, firm_id=sme.id), project)
        member = invite(s, project, project.lots[3].id, sme.id)
        assert can_view_project(s, _user(Role.SME, firm_id=sme.id), project)
        assert not can_view_project(s, _user(Role.SME, firm_id=outsider.id), project)
        assert not can_manage_project(_user(Role.SME, firm_id=sme.id), project)
        assert not can_manage_project(_user(Role.LARGE, firm_id=outsider.id), project)
        assert not can_manage_project(_user(Role.SME, firm_id=sme.id))
        assert can_answer(_user(Role.SME, firm_id=sme.id), member)
        assert not can_answer(owner, member)
        assert not can_view_project(s, None, project)


def test_a_firm_that_declined_or_was_withdrawn_no_longer_sees_the_project(demo):
    """Invited and accepted firms see the project; one that declined, or whose invitation the owner
    withdrew, loses access (as a withdrawn or rejected event registration does), unless another of
    its invitations to the project is still open or accepted."""
    from marketplace.enterprise.consortia import withdraw

    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        firms = {f.short_name: f for f in s.scalars(select(Firm).where(Firm.source == "demo"))}
        declines, withdrawn, accepts = (
            firms[n] for n in ("示例温控（演示）", "示例电解液（演示）", "示例储能（演示）")
        )

        def sees(firm) -> bool:
            return can_view_project(s, _user(Role.SME, firm_id=firm.id), project)

        said_no = invite(s, project, project.lots[3].id, declines.id)
        taken_back = invite(s, project, project.lots[2].id, withdrawn.id)
        said_yes = invite(s, project, project.lots[1].id, accepts.id)
        assert sees(declines) and sees(withdrawn) and sees(accepts)  # invited: they may look before answering
        respond(s, said_no, accept=False)
        withdraw(s, taken_back)
        respond(s, said_yes, accept=True)
        assert not sees(declines) and not sees(withdrawn) and sees(accepts)
        invite(s, project, project.lots[0].id, declines.id, share=0.5)  # invited again, to another lot
        assert sees(declines) and not sees(withdrawn)
        withdraw(s, said_yes)  # accepted, then taken back
        assert not sees(accepts)


def test_cli_list_and_propose(runner, demo):
    listed = runner.invoke(["consortia", "list", "--json"])
    assert listed.exit_code == 0
    project_id = json.loads(listed.output)[0]["project_id"]
    result = runner.invoke(["consortia", "propose", "--project", str(project_id), "--no-dense", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["lineups"]) >= 1 and len(data["lots"]) == 4
    assert runner.invoke(["consortia", "propose", "--project", "4242", "--no-dense"]).exit_code == 2
    report = runner.invoke(["consortia", "report", "--json"])
    assert report.exit_code == 0 and json.loads(report.output)["projects"]


def test_cli_create_refuses_bad_files_and_reports(runner, demo, tmp_path):
    with session_scope(demo) as s:
        owner = owner_id(s)
    good = tmp_path / "project.json"
    good.write_text(json.dumps({"title": "命令行项目", "sme_share": 0.2, "lots": LOTS}), encoding="utf-8")
    created = runner.invoke(["consortia", "create", "--owner", str(owner), "--file", str(good), "--json"])
    assert created.exit_code == 0 and len(json.loads(created.output)["lots"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "坏项目", "lots": [{"title": "a", "products": ["b"], "budget": -1}]}))
    result = runner.invoke(["consortia", "create", "--owner", str(owner), "--file", str(bad)])
    assert result.exit_code == 2 and "budget" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert runner.invoke(["consortia", "create", "--owner", str(owner), "--file", str(broken)]).exit_code == 2
    report = json.loads(runner.invoke(["consortia", "report", "--json"]).output)
    assert {p["title"] for p in report["projects"]} >= {"命令行项目"}
    assert {p["status"] for p in report["projects"]} <= {"open", "agreed", "closed"}  # codes, not ProjectStatus.OPEN


def test_finalizing_a_consortium_starts_one_purchase_contract_per_accepted_member(demo):
    from marketplace.accounts.users import create_user
    from marketplace.models import Contract

    with session_scope(demo) as s:
        project = s.scalar(select(ProcurementProject))
        owner = create_user(
            s, email="buyer@t.cn", password="pw-123456789", name="采购", role=Role.LARGE, firm_id=project.owner_firm_id
        )
        sme = {f.short_name: f for f in s.scalars(select(Firm).where(Firm.source == "demo"))}
        picks = ["示例新材料", "示例电解液（演示）", "示例储能（演示）", "示例温控（演示）"]
        members = [invite(s, project, lot.id, sme[n].id, share=1.0) for lot, n in zip(project.lots, picks, strict=True)]
        for m in members:
            respond(s, m, accept=True)
        finalize(s, project, owner)
        contracts = s.scalars(select(Contract).where(Contract.source_ref.like(f"consortium:{project.id}:%"))).all()
        assert sorted(c.supplier_firm_id for c in contracts) == sorted(m.firm_id for m in members)
        assert all(c.buyer_firm_id == project.owner_firm_id and c.template == "supply_chain" for c in contracts)
        lot_budget = {lot.id: lot.budget for lot in project.lots}
        amounts = sorted(float(c.rounds[-1].fields["amount"]) for c in contracts)
        assert amounts == sorted(lot_budget[m.lot_id] * 10000 for m in members)  # 万元 -> CNY
