"""Trust services without the web: the visibility policy, conditional status updates, accounts
(sign-up rules, memberships and a firm's members, organizer invitations, tokens), CSV neutralising, the users CLI, the
demo accounts under the new role rules, and the 0003 migration both ways."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts.permissions import ANONYMOUS, Viewer, can_view_demand, firm_viewer, visible_demands_clause
from marketplace.accounts.users import (
    can_manage_members,
    create_api_token,
    create_user,
    decide_membership,
    firm_members,
    issue_api_token,
    register_firm_user,
    remove_member,
    set_firm_admin,
    user_for_token,
)
from marketplace.db import session_scope
from marketplace.demands.suggestions import invite_firm
from marketplace.demands.workflow import create_demand, set_status
from marketplace.enterprise.firms import create_firm
from marketplace.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from marketplace.exports import csv_text, safe_cell
from marketplace.models import ContractStatus, Demand, DemandStatus, Firm, FirmKind, Membership, Role, User, utcnow


@pytest.fixture
def two_firms(session):
    a = create_firm(session, name="甲公司", kind=FirmKind.LARGE)
    b = create_firm(session, name="乙公司", kind=FirmKind.SME)
    demands = {
        kind: create_demand(
            session,
            {
                "owner_firm_id": a.id,
                "type": "rd",
                "title": f"{kind}需求",
                "visibility": "public" if kind == "draft" else kind,
                "publish": kind != "draft",
            },
        ).id
        for kind in ("draft", "public", "invited", "private")
    }
    return a.id, b.id, demands


def visible(session, viewer: Viewer) -> set[int]:  # noqa: ANN001
    return set(session.scalars(select(Demand.id).where(visible_demands_clause(viewer))))


def test_visibility_rule_per_viewer(session, two_firms):
    a, b, d = two_firms
    assert visible(session, ANONYMOUS) == {d["public"]}
    assert visible(session, firm_viewer(a)) == set(d.values())
    assert visible(session, firm_viewer(b)) == {d["public"]}
    invite_firm(session, d["invited"], b, None)
    assert visible(session, firm_viewer(b)) == {d["public"], d["invited"]}
    assert visible(session, Viewer(user_id=1, role=Role.ORGANIZER, organization_id=1)) == {d["public"]}
    assert visible(session, Viewer(user_id=1, role=Role.ADMIN)) == set(d.values())


def test_single_checks_agree_with_the_list(session, two_firms):
    a, b, d = two_firms
    viewers = [ANONYMOUS, firm_viewer(a), firm_viewer(b), Viewer(user_id=9, role=Role.ADMIN)]
    for viewer in viewers:
        listed = visible(session, viewer)
        for demand_id in d.values():
            assert can_view_demand(session, viewer, demand_id) == (demand_id in listed)


def test_invitation_is_idempotent(session, two_firms):
    _a, b, d = two_firms
    assert invite_firm(session, d["invited"], b, None).id == invite_firm(session, d["invited"], b, None).id


def test_stale_status_change_is_a_conflict_not_a_lost_update(settings, two_firms, session):
    demand_id = two_firms[2]["public"]
    session.commit()
    with session_scope(settings) as first, session_scope(settings) as second:
        mine, theirs = first.get(Demand, demand_id), second.get(Demand, demand_id)
        set_status(first, mine, DemandStatus.CLOSED)
        first.commit()
        with pytest.raises(ConflictError, match="changed meanwhile"):
            set_status(second, theirs, DemandStatus.WITHDRAWN)
        second.rollback()
    with session_scope(settings) as s:
        assert s.get(Demand, demand_id).status is DemandStatus.CLOSED


def test_sign_up_cannot_choose_organizer_or_admin(session):
    for role in (Role.ORGANIZER, Role.ADMIN):
        with pytest.raises(InputError, match="role"):
            register_firm_user(
                session, email="x@y.cn", password="longenough", name="x", role=role, firm_name="z", join=False
            )


def test_registered_email_gives_no_account_and_no_error(session):
    create_user(session, email="taken@y.cn", password="longenough", name="a", role=Role.SME, firm_name="某甲")
    again = register_firm_user(
        session, email="taken@y.cn", password="longenough", name="b", role=Role.SME, firm_name="某乙", join=False
    )
    assert again is None and session.scalar(select(User.id).where(User.name == "b")) is None


def test_join_request_is_pending_and_only_the_firms_admin_decides(session):
    first = create_user(session, email="boss@y.cn", password="longenough", name="a", role=Role.LARGE, firm_name="某丙")
    assert first.is_firm_admin
    other = create_user(session, email="other@y.cn", password="longenough", name="o", role=Role.SME, firm_name="某丁")
    joiner = register_firm_user(
        session, email="new@y.cn", password="longenough", name="n", role=Role.LARGE, firm_name="某丙", join=True
    )
    assert joiner.membership is Membership.PENDING and not joiner.is_firm_admin
    with pytest.raises(NotFoundError):
        decide_membership(session, Viewer(user_id=other.id, role=Role.SME, firm_id=other.firm_id), joiner.id, True)
    boss = Viewer(user_id=first.id, role=Role.LARGE, firm_id=first.firm_id)
    assert decide_membership(session, boss, joiner.id, True).membership is Membership.ACTIVE
    with pytest.raises(ConflictError):
        decide_membership(session, boss, joiner.id, False)


def test_a_member_joins_as_what_the_firm_is(session):
    """Signing up as a large-firm user to join an SME does not let it post demands for the SME."""
    create_user(session, email="smeboss@y.cn", password="longenough", name="s", role=Role.SME, firm_name="某己")
    joiner = register_firm_user(
        session, email="big@y.cn", password="longenough", name="b", role=Role.LARGE, firm_name="某己", join=True
    )
    assert joiner.role is Role.SME


def test_joining_an_unknown_firm_names_the_field(session):
    with pytest.raises(InputError, match="firm_name"):
        register_firm_user(
            session, email="n@y.cn", password="longenough", name="n", role=Role.SME, firm_name="不存在", join=True
        )


@pytest.mark.parametrize(
    "look_alike",
    ["福莱特", "测试隔膜科技(上海)有限公司", "测试隔膜科技（上海）有限公司\u200b", "ＡＣＭＥ co", " acme  CO "],
)
def test_sign_up_cannot_found_a_look_alike_of_an_existing_firm(session, look_alike):
    """A new firm named like one already here (its short name, ASCII brackets, invisible
    characters, case or width) is refused: its founder would become the admin of an impostor."""
    for firm, short in (
        ("福莱特玻璃集团股份有限公司", "福莱特"),
        ("测试隔膜科技（上海）有限公司", None),
        ("Acme Co", None),
    ):
        if not session.scalar(select(Firm.id).where(Firm.name == firm)):
            create_firm(session, name=firm, short_name=short)
    firms = session.scalar(select(func.count(Firm.id)))
    with pytest.raises(InputError, match="firm_name: this firm already exists"):
        register_firm_user(
            session, email="new@y.cn", password="longenough", name="n", role=Role.SME, firm_name=look_alike, join=False
        )
    assert session.scalar(select(func.count(Firm.id))) == firms


LOOK_ALIKES_OF_REAL_FIRMS = {
    # Traditional characters (OpenCC's Traditional → Simplified)
    "寧德時代新能源科技股份有限公司": "宁德时代新能源科技股份有限公司",
    "比亞迪股份有限公司": "比亚迪股份有限公司",
    # Cyrillic Т (U+0422) and С (U+0421), Greek Β, Υ (the Unicode confusables skeleton)
    "\u0422\u0421L集团股份有限公司": "TCL集团股份有限公司",
    "\u0392\u03a5D汽车有限公司": "BYD汽车有限公司",
}


@pytest.mark.parametrize("look_alike", LOOK_ALIKES_OF_REAL_FIRMS)
def test_sign_up_cannot_found_a_traditional_or_cyrillic_look_alike_of_an_existing_firm(session, look_alike):
    """寧德時代… and ТСL… read as the firms already here: founding them would make the registrant the
    admin of a look-alike. Refused at sign-up and wherever a firm is created (CLI, demo data)."""
    real = create_firm(session, name=LOOK_ALIKES_OF_REAL_FIRMS[look_alike])
    firms = session.scalar(select(func.count(Firm.id)))
    with pytest.raises(InputError, match="firm_name: this firm already exists; choose 'join an existing firm'"):
        register_firm_user(
            session, email="new@y.cn", password="longenough", name="n", role=Role.SME, firm_name=look_alike, join=False
        )
    with pytest.raises(InputError, match="name: a firm named .* already exists"):
        create_firm(session, name=look_alike)
    assert session.scalar(select(func.count(Firm.id))) == firms
    joiner = register_firm_user(
        session, email="j@y.cn", password="longenough", name="j", role=Role.SME, firm_name=look_alike, join=True
    )
    assert joiner.firm_id == real.id and joiner.membership is Membership.PENDING  # asks the real firm's admin


@pytest.mark.parametrize(
    "distinct",
    [
        "宁德时代新材料科技有限公司",
        "比亚迪电子股份有限公司",
        "TCL科技集团股份有限公司",
        "BYD Auto Parts Co",
        "乾元科技有限公司",
    ],
)
def test_names_that_only_resemble_an_existing_firm_in_part_still_found_a_firm(session, distinct):
    for name in LOOK_ALIKES_OF_REAL_FIRMS.values():
        create_firm(session, name=name)
    founder = register_firm_user(
        session, email="f@y.cn", password="longenough", name="f", role=Role.SME, firm_name=distinct, join=False
    )
    assert founder.firm.name == distinct and founder.is_firm_admin


def test_the_look_alike_lookup_uses_the_name_key_indexes(session):
    """Finding a firm by name stays one indexed look-up per table, never a scan of every name."""
    from sqlalchemy import event, text

    from marketplace.enterprise.firms import firms_named

    create_firm(session, name="宁德时代新能源科技股份有限公司", short_name="宁德时代")
    statements: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        statements.append((statement, parameters))

    bind = session.connection()
    event.listen(bind.engine, "before_cursor_execute", record)
    try:
        assert firms_named(session, "寧德時代")
    finally:
        event.remove(bind.engine, "before_cursor_execute", record)
    assert len(statements) == 2
    for statement, parameters in statements:
        if bind.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in bind.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "USING INDEX ix_firms_name_key" in plan or "USING INDEX ix_firm_names_name_key" in plan, plan
            assert "SCAN firms" not in plan and "SCAN firm_names" not in plan, plan
        else:
            bind.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in bind.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "ix_firms_name_key" in plan or "ix_firm_names_name_key" in plan, plan


def test_joining_by_a_look_alike_name_joins_the_real_firm(session):
    real = create_firm(session, name="测试隔膜科技（上海）有限公司", short_name="测试隔膜")
    joiner = register_firm_user(
        session,
        email="j@y.cn",
        password="longenough",
        name="j",
        role=Role.SME,
        firm_name="测试隔膜科技(上海)有限公司",
        join=True,
    )
    assert joiner.firm_id == real.id and joiner.membership is Membership.PENDING
    assert create_firm(session, name="Acme\u200b Tools").name == "Acme Tools"  # invisible characters not stored


@pytest.mark.parametrize("join", [True, False])
def test_sign_up_answers_a_bad_firm_name_alike_for_registered_and_new_e_mails(session, join):
    """No account enumeration: a firm name that is refused is refused whether or not the e-mail
    has an account."""
    create_user(session, email="taken@y.cn", password="longenough", name="a", role=Role.SME, firm_name="某庚")
    bad = "不存在的企业" if join else "某庚"
    for email in ("taken@y.cn", "fresh@y.cn"):
        with pytest.raises(InputError, match="firm_name"):
            register_firm_user(
                session, email=email, password="longenough", name="n", role=Role.SME, firm_name=bad, join=join
            )


def test_tokens_expire_are_limited_and_need_an_approved_membership(session):
    user = create_user(session, email="t@y.cn", password="longenough", name="t", role=Role.SME, firm_name="某戊")
    with pytest.raises(InputError, match="expires_in_days"):
        create_api_token(session, user, "x", days=400)
    with pytest.raises(InputError, match="name"):
        create_api_token(session, user, " ", days=30)
    token, row = create_api_token(session, user, "ci", days=1)
    assert user_for_token(session, token).id == user.id and row.last_used_at is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    assert user_for_token(session, token) is None
    pending = create_user(
        session,
        email="p@y.cn",
        password="longenough",
        name="p",
        role=Role.SME,
        firm_id=user.firm_id,
        membership=Membership.PENDING,
    )
    with pytest.raises(InputError, match="membership"):
        create_api_token(session, pending, "x", days=30)


@pytest.mark.parametrize("value", ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_cells_are_neutralised(value):
    assert safe_cell(value) == "'" + value
    assert "'" + value.replace("\r", "") in csv_text(["h"], [[value]]).replace("\r", "")


def test_plain_cells_and_numbers_are_kept():
    assert safe_cell("锂电池隔膜") == "锂电池隔膜" and safe_cell(-3) == -3 and safe_cell("a=b") == "a=b"


def test_cli_creates_organizers_and_invitations_and_decides_memberships(runner, settings):
    made = runner.invoke(
        ["users", "create-organizer", "--email", "org@y.cn", "--name", "组织", "--organization", "某协会", "--json"],
        input="longenough\nlongenough\n",
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output.splitlines()[-1])["organization"] == "某协会"
    link = runner.invoke(["users", "invite-organizer", "某协会", "--json"])
    assert link.exit_code == 0 and "/auth/join/" in json.loads(link.output)["link"]
    assert runner.invoke(["users", "invite-organizer", "没有这个组织"]).exit_code == 2
    with session_scope(settings) as s:
        owner = create_user(s, email="own@y.cn", password="longenough", name="o", role=Role.SME, firm_name="某己")
        joiner = create_user(
            s,
            email="join@y.cn",
            password="longenough",
            name="j",
            role=Role.SME,
            firm_id=owner.firm_id,
            membership=Membership.PENDING,
        )
        joiner_id = joiner.id
    pending = runner.invoke(["users", "pending", "--json"])
    assert [r["user_id"] for r in json.loads(pending.output)] == [joiner_id]
    decided = runner.invoke(["users", "decide", str(joiner_id), "approve", "--json"])
    assert json.loads(decided.output)["membership"] == "active"
    assert runner.invoke(["users", "decide", str(joiner_id), "approve"]).exit_code == 2
    listed = json.loads(runner.invoke(["users", "list", "--role", "organizer", "--json"]).output)
    assert [r["email"] for r in listed] == ["org@y.cn"]


def test_demo_accounts_work_under_the_role_rules(loaded):
    from marketplace.accounts.demo import ensure_demo_accounts
    from marketplace.accounts.users import authenticate

    with session_scope(loaded) as s:
        rows = ensure_demo_accounts(s, "chainmatch-demo")
        assert {r["role"] for r in rows} == {"large", "sme", "organizer", "admin"}
        assert ensure_demo_accounts(s, "chainmatch-demo") == rows  # idempotent
        large = authenticate(s, "large@demo.chainmatch.cn", "chainmatch-demo")
        assert large.membership is Membership.ACTIVE and large.is_firm_admin


def test_trust_migration_downgrades_and_upgrades(tmp_path):
    from alembic import command
    from sqlalchemy import inspect

    from marketplace.config import Settings
    from marketplace.db import alembic_config, get_engine

    s = Settings(instance_dir=tmp_path)
    cfg = alembic_config(s)
    command.upgrade(cfg, "0003")
    command.downgrade(cfg, "0003-1")
    tables = set(inspect(get_engine(s.database_url)).get_table_names())
    assert "api_tokens" not in tables and "demand_invitations" not in tables
    command.upgrade(cfg, "0003")
    assert "api_tokens" in set(inspect(get_engine(s.database_url)).get_table_names())


# --- events and the visibility policy --------------------------------------------------------


@pytest.fixture
def event_world(loaded):
    from tests.events_helpers import setup_event

    with session_scope(loaded) as s:
        yield s, setup_event(s)


def test_event_board_takes_only_demands_its_organizers_may_see(event_world):
    from marketplace.events import events as ev

    s, w = event_world
    hidden = {
        kind: create_demand(
            s,
            {"owner_firm_id": w["large"].id, "type": "rd", "title": f"{kind}研发", "visibility": kind, "publish": True},
        ).id
        for kind in ("private", "invited")
    }
    for demand_id in hidden.values():
        with pytest.raises(NotFoundError, match="does not exist"):
            ev.add_event_demands(s, w["event"], [demand_id])


def test_invited_demand_on_an_event_board_is_seen_by_its_organizers_and_participants_only(event_world):
    from marketplace.events import access as evacl
    from marketplace.models import EventDemand

    s, w = event_world
    invited = create_demand(
        s, {"owner_firm_id": w["large"].id, "type": "rd", "title": "邀请研发", "visibility": "invited", "publish": True}
    )
    private = create_demand(
        s, {"owner_firm_id": w["large"].id, "type": "rd", "title": "私有研发", "visibility": "private", "publish": True}
    )
    # both were public when listed, then the owner narrowed them
    s.add_all(
        [EventDemand(event=w["event"], demand_id=invited.id), EventDemand(event=w["event"], demand_id=private.id)]
    )
    s.flush()
    organizer = Viewer(user_id=1, role=Role.ORGANIZER, organization_id=w["org"].id)
    other_org = Viewer(user_id=2, role=Role.ORGANIZER, organization_id=w["other_org"].id)
    participant = firm_viewer(w["smes"][0].id)
    outsider = firm_viewer(create_firm(s, name="局外企业三有限公司", kind=FirmKind.SME).id)
    assert evacl.registration_for(s, w["event"], w["smes"][0].id).status.value == "approved"
    for viewer, sees in ((organizer, True), (participant, True), (other_org, False), (outsider, False)):
        assert can_view_demand(s, viewer, invited) is sees
        assert not can_view_demand(s, viewer, private)  # private stays with its owner, event or not


def test_invitee_suggestions_never_name_a_hidden_demand(event_world):
    from marketplace.events.invitees import chain_demands, chain_segments

    s, w = event_world
    secret = create_demand(
        s,
        {
            "owner_firm_id": w["large2"].id,
            "type": "supply_chain",
            "title": "机密隔膜采购",
            "wanted_products": ["锂电池隔膜"],
            "visibility": "private",
            "publish": True,
        },
    )
    listed = {d.id for d, _hits in chain_demands(s, w["event"], chain_segments(s, w["event"]))}
    assert w["demand"].id in listed and secret.id not in listed


def test_only_approved_active_members_act_for_a_firm_in_notifications(session):
    """Event, consortium and policy notices go to the accounts that act for the firm: a pending or
    refused request to join, or a disabled account, gets none of them."""
    from marketplace.accounts.permissions import acting_user_ids, acts_for_firms

    firm = create_firm(session, name="丙公司", kind=FirmKind.SME)
    other = create_firm(session, name="丁公司", kind=FirmKind.SME)

    def member(email: str, firm_id: int, membership: Membership = Membership.ACTIVE) -> User:
        return create_user(
            session,
            email=email,
            password="longenough",
            name=email,
            role=Role.SME,
            firm_id=firm_id,
            membership=membership,
        )

    active = member("a@c.cn", firm.id)
    member("p@c.cn", firm.id, Membership.PENDING)
    member("r@c.cn", firm.id, Membership.REJECTED)
    member("d@c.cn", firm.id).is_active = False
    elsewhere = member("o@c.cn", other.id)
    session.flush()
    assert acting_user_ids(session, [firm.id]) == [active.id]
    acting = set(session.scalars(select(User.id).where(acts_for_firms([firm.id, other.id]))))
    assert acting == {active.id, elsewhere.id}


def test_a_renamed_firm_and_its_other_names_are_found_by_their_stored_keys(session):
    """The comparison key is stored next to every name and follows renames (importers rename
    firms in place), so the lookup is one indexed query and never a stale one."""
    from marketplace.enterprise.firms import firms_named
    from marketplace.models import FirmName, NameKind

    firm = create_firm(session, name="旧名称科技有限公司")
    firm.name, firm.short_name = "新名称科技（上海）有限公司", "新名称"
    session.add(FirmName(firm_id=firm.id, name="ＸＹＺ Alias", kind=NameKind.ALIAS, source="test"))
    session.flush()
    assert firm.name_key == "新名称科技(上海)有限公司" and firm.short_name_key == "新名称"
    assert firms_named(session, "新名称科技(上海)有限公司 ") == {firm.id}
    assert firms_named(session, "新 名 称") == {firm.id}
    assert firms_named(session, "xyz alias") == {firm.id}
    assert firms_named(session, "旧名称科技有限公司") == {firm.id}  # still one of its names (firm_names)
    assert firms_named(session, "别的公司") == set()


# --- a firm's members: remove, make firm admin, step down ------------------------------------


ADMIN = Viewer(user_id=None, role=Role.ADMIN)


def _as(user: User) -> Viewer:
    from marketplace.accounts.permissions import viewer_of

    return viewer_of(user)


@pytest.fixture
def firm_staff(session):
    """A firm with its admin (its first user), a colleague and a pending request; another firm."""

    def user(email: str, **kw) -> User:  # noqa: ANN003
        return create_user(session, email=email, password="longenough", name=email.split("@")[0], role=Role.SME, **kw)

    boss = user("boss@f.cn", firm_name="戊公司")
    staff = {
        "boss": boss,
        "colleague": user("colleague@f.cn", firm_id=boss.firm_id),
        "pending": user("pending@f.cn", firm_id=boss.firm_id, membership=Membership.PENDING),
        "outsider": user("outsider@f.cn", firm_name="己公司"),  # the other firm's admin
    }
    session.flush()
    return staff


def test_removed_member_acts_for_no_firm_keeps_the_account_and_their_records(session, firm_staff):
    boss, colleague = firm_staff["boss"], firm_staff["colleague"]
    demand = create_demand(session, {"owner_firm_id": boss.firm_id, "type": "rd", "title": "需求", "publish": True})
    invitation = invite_firm(session, demand.id, firm_staff["outsider"].firm_id, colleague.id)
    token = issue_api_token(session, colleague)
    epoch = colleague.session_epoch
    assert [u.id for u in firm_members(session, _as(boss))] == [boss.id, colleague.id]
    removed = remove_member(session, _as(boss), colleague.id)
    assert removed.membership is Membership.REJECTED and not removed.is_firm_admin
    assert removed.session_epoch == epoch + 1  # every session of the removed user ends
    assert _as(removed).firm_id is None  # acts for no firm
    assert user_for_token(session, token) is None  # their API tokens are revoked
    assert all(t.revoked_at is not None for t in removed_tokens(session, removed.id))
    assert session.get(User, colleague.id) is not None and removed.firm_id == boss.firm_id
    assert invitation.invited_by_id == colleague.id  # what they did stays theirs
    assert [u.id for u in firm_members(session, _as(boss))] == [boss.id]


def removed_tokens(session, user_id: int) -> list:  # noqa: ANN001
    from marketplace.models import ApiToken

    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)))


def test_a_firm_always_keeps_an_administrator(session, firm_staff):
    boss, colleague = firm_staff["boss"], firm_staff["colleague"]
    for viewer in (_as(boss), ADMIN):  # nor does the platform admin leave a firm without one
        with pytest.raises(ConflictError, match="last administrator"):
            remove_member(session, viewer, boss.id)
        with pytest.raises(ConflictError, match="last administrator"):
            set_firm_admin(session, viewer, boss.id, False)
    assert set_firm_admin(session, _as(boss), colleague.id, True).is_firm_admin
    assert not set_firm_admin(session, _as(boss), boss.id, False).is_firm_admin  # steps down
    assert not can_manage_members(session, _as(boss), boss.firm_id)
    assert can_manage_members(session, _as(colleague), boss.firm_id)
    with pytest.raises(ConflictError, match="last administrator"):
        remove_member(session, _as(colleague), colleague.id)
    with pytest.raises(ConflictError, match="is not firm admin"):
        set_firm_admin(session, _as(colleague), boss.id, False)


def test_only_the_firms_admins_or_the_platform_admin_manage_its_members(session, firm_staff):
    boss, colleague, pending, outsider = (firm_staff[k] for k in ("boss", "colleague", "pending", "outsider"))
    organizer = create_user(
        session, email="o@f.cn", password="longenough", name="o", role=Role.ORGANIZER, organization_name="协会"
    )
    for action in (
        lambda v, uid: remove_member(session, v, uid),
        lambda v, uid: set_firm_admin(session, v, uid, False),
    ):
        with pytest.raises(PermissionDeniedError, match="only your firm's administrators"):
            action(_as(colleague), boss.id)  # a colleague who is not an admin
        for stranger in (outsider, pending, organizer):  # another firm's admin, a pending member, an organizer
            with pytest.raises(NotFoundError):
                action(_as(stranger), colleague.id)
        for missing in (0, 999999, 2**40):
            with pytest.raises(NotFoundError):
                action(_as(boss), missing)
        with pytest.raises(NotFoundError):
            action(_as(boss), organizer.id)  # not a firm user
    session.refresh(boss)
    assert boss.is_firm_admin and boss.membership is Membership.ACTIVE


def test_nobody_makes_themselves_firm_admin(session, firm_staff):
    for who in ("colleague", "pending", "boss"):
        user = firm_staff[who]
        with pytest.raises(PermissionDeniedError, match="cannot make yourself firm admin"):
            set_firm_admin(session, _as(user), user.id, True)
    assert not firm_staff["colleague"].is_firm_admin and not firm_staff["pending"].is_firm_admin
    with pytest.raises(PermissionDeniedError):  # nor a colleague, while not an admin
        set_firm_admin(session, _as(firm_staff["colleague"]), firm_staff["pending"].id, True)


def test_a_pending_or_former_member_is_not_removed_or_made_admin(session, firm_staff):
    boss, colleague, pending = firm_staff["boss"], firm_staff["colleague"], firm_staff["pending"]
    with pytest.raises(ConflictError, match="approve or reject the request"):
        remove_member(session, _as(boss), pending.id)
    with pytest.raises(ConflictError, match="approve or reject the request"):
        set_firm_admin(session, ADMIN, pending.id, True)
    remove_member(session, _as(boss), colleague.id)
    with pytest.raises(ConflictError, match="no longer a member"):
        remove_member(session, _as(boss), colleague.id)
    with pytest.raises(ConflictError, match="no longer a member"):
        set_firm_admin(session, _as(boss), colleague.id, True)


def test_a_designated_approver_or_signer_of_an_open_contract_is_removed_only_after_a_colleague_is_designated(
    session, settings
):
    from marketplace.contracts import starting, workflow
    from tests.contracts_helpers import make_deal

    deal = make_deal(session, settings, enroll=False)
    buyer, legal = deal.user(session, "buyer"), deal.user(session, "buyer_legal")  # the firm's admin, a colleague
    third = create_user(
        session,
        email="third-buyer@t.cn",
        password="longenough",
        name="采购三",
        role=Role.LARGE,
        firm_id=deal.buyer_firm,
    )
    contract = starting.start_contract(
        session, buyer, buyer_firm_id=deal.buyer_firm, supplier_firm_id=deal.supplier_firm
    )
    workflow.designate(session, buyer, contract, approver_id=legal.id, signer_id=legal.id)
    with pytest.raises(ConflictError, match=f"open contracts {contract.number}"):
        remove_member(session, _as(buyer), legal.id)
    workflow.designate(session, buyer, contract, approver_id=third.id, signer_id=third.id)
    assert remove_member(session, _as(buyer), legal.id).membership is Membership.REJECTED
    # a cancelled contract needs nobody
    workflow.designate(session, buyer, contract, approver_id=third.id)
    contract.status = ContractStatus.CANCELLED
    assert remove_member(session, _as(buyer), third.id).membership is Membership.REJECTED


def test_cli_removes_members_and_makes_firm_admins(runner, settings):
    with session_scope(settings) as s:
        boss = create_user(s, email="boss@y.cn", password="longenough", name="b", role=Role.SME, firm_name="某庚")
        mate = create_user(s, email="mate@y.cn", password="longenough", name="m", role=Role.SME, firm_id=boss.firm_id)
        boss_id, mate_id = boss.id, mate.id
    assert runner.invoke(["users", "firm-admin", str(boss_id), "revoke"]).exit_code == 2  # the last admin
    made = runner.invoke(["users", "firm-admin", str(mate_id), "grant", "--json"])
    assert made.exit_code == 0 and json.loads(made.output)["is_firm_admin"] is True
    removed = runner.invoke(["users", "remove", str(boss_id), "--json"])
    assert removed.exit_code == 0 and json.loads(removed.output)["membership"] == "rejected"
    assert runner.invoke(["users", "remove", str(boss_id)]).exit_code == 2
    assert runner.invoke(["users", "remove", "999999"]).exit_code != 0
