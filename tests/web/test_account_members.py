"""A firm's administrators manage its members on /account/members: the page lists the active
members and the pending requests; an admin removes a member (whose open sessions stop acting for
the firm at once), makes a member firm admin, or steps down. Only an active firm admin of that firm
or the platform admin may; nobody makes themselves admin; a firm always keeps an admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.accounts.users import create_user, issue_api_token
from marketplace.db import session_scope
from marketplace.models import ApiToken, Membership, Role, User
from tests.web.conftest import PASSWORD, csrf_token
from web import create_app

EN = {"Accept-Language": "en"}


@pytest.fixture
def staff(loaded, people):
    """Colleagues at the SME firm (whose first user, `sme`, is its admin): an active member and a
    pending request to join."""
    with session_scope(loaded) as s:
        member = create_user(
            s, email="colleague@t.cn", password=PASSWORD, name="同事甲", role=Role.SME, firm_id=people["sme_firm"]
        )
        pending = create_user(
            s,
            email="joiner@t.cn",
            password=PASSWORD,
            name="申请人乙",
            role=Role.SME,
            firm_id=people["sme_firm"],
            membership=Membership.PENDING,
        )
        sme = s.scalar(select(User.id).where(User.email == people["emails"]["sme"]))
        return {"member": member.id, "pending": pending.id, "sme": sme}


def _sign_in(app, email: str):  # noqa: ANN001
    client = app.test_client()
    assert client.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


def _user(loaded, user_id: int) -> User:  # noqa: ANN001
    with session_scope(loaded) as s:
        user = s.get(User, user_id)
        s.expunge(user)
        return user


def test_members_page_lists_active_members_with_their_role_admin_flag_and_date_and_the_requests(login, staff):
    page = login("sme").get("/account/members")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    members, requests = html.split('id="firm-members"')[1].split('id="membership-requests"')
    assert "sme@t.cn" in members and "colleague@t.cn" in members and "同事甲" in members
    assert "中小企业用户" in members and "是" in members  # role and the admin flag
    assert "joiner@t.cn" not in members and "joiner@t.cn" in requests
    assert "sme2@t.cn" not in html and "large@t.cn" not in html  # other firms' people
    assert f"/account/members/{staff['member']}/remove" in members
    assert f"/account/members/{staff['member']}/admin/grant" in members


def test_platform_admin_sees_every_firms_members(login, staff):
    html = login("admin").get("/account/members").get_data(as_text=True)
    assert "colleague@t.cn" in html and "sme2@t.cn" in html and "large@t.cn" in html


def test_an_admin_removes_a_member_whose_open_session_stops_acting_for_the_firm(app, loaded, people, staff):
    colleague = _sign_in(app, "colleague@t.cn")
    assert colleague.get("/demands/mine").status_code == 200  # acts for the firm
    with session_scope(loaded) as s:
        token = issue_api_token(s, s.get(User, staff["member"]), name="laptop")
    bearer = {"Authorization": f"Bearer {token}"}
    assert colleague.get("/api/v1/suggestions", headers=bearer).status_code == 200
    admin = _sign_in(app, "sme@t.cn")
    done = admin.post(f"/account/members/{staff['member']}/remove")
    assert done.status_code == 302 and done.headers["Location"].endswith("/account/members")
    page = admin.get("/account/members").get_data(as_text=True)
    assert "已将 同事甲 移出企业" in page
    assert "colleague@t.cn" not in page.split('id="firm-members"')[1]
    # the removed member's open session has ended (sent to sign in), and their API token with it
    ended = colleague.get("/demands/mine")
    assert ended.status_code == 302 and "/auth/login" in ended.headers["Location"]
    assert colleague.get("/api/v1/suggestions", headers=bearer).status_code == 401
    # the account stays: signing in again works, but it acts for no firm
    again = _sign_in(app, "colleague@t.cn")
    assert again.get("/demands/mine").status_code == 403
    assert again.get("/account/members").status_code == 403
    assert "已被移出企业" in again.get("/").get_data(as_text=True)  # the banner says why
    user = _user(loaded, staff["member"])
    assert user.membership is Membership.REJECTED and not user.is_firm_admin
    assert user.firm_id == people["sme_firm"]  # records keep pointing at the firm the user acted for
    with session_scope(loaded) as s:
        assert all(t.revoked_at is not None for t in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))


def test_an_admin_makes_a_member_firm_admin_and_then_steps_down(app, loaded, staff):
    admin = _sign_in(app, "sme@t.cn")
    made = admin.post(f"/account/members/{staff['member']}/admin/grant")
    assert made.status_code == 302
    assert "已将 同事甲 设为企业管理员" in admin.get("/account/members").get_data(as_text=True)
    colleague = _sign_in(app, "colleague@t.cn")
    assert colleague.get("/account/members").status_code == 200  # the new admin manages members now
    stepped = admin.post(f"/account/members/{staff['sme']}/admin/revoke")
    assert stepped.status_code == 302 and stepped.headers["Location"].endswith("/")
    assert "您已卸任企业管理员" in admin.get("/").get_data(as_text=True)
    assert admin.get("/account/members").status_code == 403
    assert not _user(loaded, staff["sme"]).is_firm_admin
    # the new admin revokes nobody's role by accident: the former admin is an ordinary member now
    assert colleague.post(f"/account/members/{staff['sme']}/admin/revoke").status_code == 409


def test_an_admin_revokes_another_admins_role(app, loaded, staff):
    admin = _sign_in(app, "sme@t.cn")
    assert admin.post(f"/account/members/{staff['member']}/admin/grant").status_code == 302
    assert admin.post(f"/account/members/{staff['member']}/admin/revoke").status_code == 302
    assert "已取消 同事甲 的企业管理员身份" in admin.get("/account/members").get_data(as_text=True)
    assert not _user(loaded, staff["member"]).is_firm_admin


def test_an_admin_who_is_not_the_last_leaves_the_firm_and_their_session_ends(app, loaded, staff):
    admin = _sign_in(app, "sme@t.cn")
    assert admin.post(f"/account/members/{staff['member']}/admin/grant").status_code == 302
    left = admin.post(f"/account/members/{staff['sme']}/remove")
    assert left.status_code == 302 and left.headers["Location"].endswith("/")
    assert admin.get("/account/password").status_code == 302  # signed out
    assert _user(loaded, staff["sme"]).membership is Membership.REJECTED


def test_the_last_admin_can_neither_leave_nor_step_down(login, loaded, staff):
    client = login("sme")
    for action in ("remove", "admin/revoke"):
        refused = client.post(f"/account/members/{staff['sme']}/{action}", headers=EN)
        assert refused.status_code == 409
        assert "is the firm&#39;s last administrator; make another member firm admin first" in refused.get_data(
            as_text=True
        )
    admin = login("admin")  # the platform admin cannot leave the firm without one either
    assert admin.post(f"/account/members/{staff['sme']}/remove").status_code == 409
    assert admin.post(f"/account/members/{staff['sme']}/admin/revoke").status_code == 409
    user = _user(loaded, staff["sme"])
    assert user.is_firm_admin and user.membership is Membership.ACTIVE


def test_the_platform_admin_manages_any_firms_members(login, loaded, staff):
    client = login("admin")
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 302
    assert client.post(f"/account/members/{staff['sme']}/admin/revoke").status_code == 302
    assert client.post(f"/account/members/{staff['sme']}/remove").status_code == 302
    assert _user(loaded, staff["sme"]).membership is Membership.REJECTED


@pytest.mark.parametrize("action", ["remove", "admin/grant", "admin/revoke"])
def test_a_member_who_is_not_an_admin_is_refused(app, loaded, staff, action):
    colleague = _sign_in(app, "colleague@t.cn")
    assert colleague.get("/account/members").status_code == 403
    assert colleague.post(f"/account/members/{staff['sme']}/{action}").status_code == 403
    user = _user(loaded, staff["sme"])
    assert user.is_firm_admin and user.membership is Membership.ACTIVE


@pytest.mark.parametrize("action", ["remove", "admin/grant", "admin/revoke"])
def test_another_firms_admin_gets_not_found(login, loaded, staff, action):
    client = login("sme2")  # admin of another SME
    assert client.post(f"/account/members/{staff['member']}/{action}").status_code == 404
    assert client.post(f"/account/members/{staff['sme']}/{action}").status_code == 404
    assert _user(loaded, staff["member"]).membership is Membership.ACTIVE


@pytest.mark.parametrize("who", ["large", "organizer"])
def test_people_of_no_or_another_firm_get_not_found(login, staff, who):
    client = login(who)
    assert client.post(f"/account/members/{staff['member']}/remove").status_code == 404
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 404


def test_a_pending_member_manages_nobody_and_cannot_make_themselves_admin(app, loaded, staff):
    joiner = _sign_in(app, "joiner@t.cn")
    assert joiner.get("/account/members").status_code == 403
    assert joiner.post(f"/account/members/{staff['member']}/remove").status_code == 404
    assert joiner.post(f"/account/members/{staff['sme']}/admin/revoke").status_code == 404
    assert joiner.post(f"/account/members/{staff['pending']}/admin/grant").status_code == 403
    user = _user(loaded, staff["pending"])
    assert user.membership is Membership.PENDING and not user.is_firm_admin


def test_a_member_cannot_make_themselves_firm_admin(app, loaded, staff):
    colleague = _sign_in(app, "colleague@t.cn")
    refused = colleague.post(f"/account/members/{staff['member']}/admin/grant", headers=EN)
    assert refused.status_code == 403 and "You cannot make yourself firm admin" in refused.get_data(as_text=True)
    assert not _user(loaded, staff["member"]).is_firm_admin


def test_a_pending_request_is_decided_not_removed_or_made_admin(login, loaded, staff):
    client = login("sme")
    for action in ("remove", "admin/grant"):
        refused = client.post(f"/account/members/{staff['pending']}/{action}", headers=EN)
        assert refused.status_code == 409 and "approve or reject the request" in refused.get_data(as_text=True)
    assert _user(loaded, staff["pending"]).membership is Membership.PENDING


def test_removing_twice_and_granting_twice_are_conflicts(login, staff):
    client = login("sme")
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 302
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 409
    assert client.post(f"/account/members/{staff['member']}/remove").status_code == 302
    gone = client.post(f"/account/members/{staff['member']}/remove", headers=EN)
    assert gone.status_code == 409 and "is no longer a member of the firm" in gone.get_data(as_text=True)
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 409


def test_unknown_ids_and_actions(login, staff):
    client = login("sme")
    assert client.post("/account/members/999999/remove").status_code == 404
    assert client.post(f"/account/members/{2**40}/admin/grant").status_code == 404
    assert client.post(f"/account/members/{staff['member']}/admin/promote").status_code == 400
    assert client.get(f"/account/members/{staff['member']}/remove").status_code == 405


def test_member_actions_need_the_forms_csrf_token(loaded, staff):
    app = create_app(loaded, {"TESTING": True, "MATCH_USE_DENSE": False})
    client = app.test_client()
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    client.post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD, "csrf_token": token})
    assert client.post(f"/account/members/{staff['member']}/remove").status_code == 400
    assert client.post(f"/account/members/{staff['member']}/admin/grant").status_code == 400
    page = client.get("/account/members").get_data(as_text=True)
    done = client.post(f"/account/members/{staff['member']}/admin/grant", data={"csrf_token": csrf_token(page)})
    assert done.status_code == 302
