"""Account pages show the account service's messages in the reader's language: Chinese by default,
English on an English page."""

from __future__ import annotations

from marketplace.accounts.users import register_firm_user
from marketplace.db import session_scope
from marketplace.models import Role
from tests.web.conftest import PASSWORD, csrf_token

EN = {"Accept-Language": "en"}


def _change_password(client, headers=None):
    page = client.get("/account/password", headers=headers).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "current_password": "not-the-password",
        "new_password": "another-pass-2",
        "confirm": "another-pass-2",
    }
    return client.post("/account/password", data=data, headers=headers)


def test_a_wrong_current_password_is_named_in_chinese_and_in_english(login):
    client = login("sme")
    zh = _change_password(client)
    assert zh.status_code == 400 and "当前密码不正确" in zh.get_data(as_text=True)
    en = _change_password(client, EN)
    assert en.status_code == 400 and "the current password is not correct" in en.get_data(as_text=True)


def test_a_request_decided_twice_says_so_with_the_status_label(login, loaded):
    with session_scope(loaded) as s:
        joiner = register_firm_user(
            s,
            email="joiner@t.cn",
            password=PASSWORD,
            name="新成员",
            role=Role.SME,
            firm_name="测试隔膜科技（上海）有限公司",
            join=True,
        ).id
    client = login("sme")  # the SME firm's first user is its firm admin
    assert client.post(f"/account/members/{joiner}/approve").status_code == 302
    zh = client.post(f"/account/members/{joiner}/approve")
    assert zh.status_code == 409 and "该申请已处理过（已加入）" in zh.get_data(as_text=True)
    en = client.post(f"/account/members/{joiner}/approve", headers=EN)
    assert en.status_code == 409 and "This request was already decided (active)" in en.get_data(as_text=True)


def test_an_unknown_invitation_link_says_why_it_is_not_found(client):
    page = client.get("/auth/join/no-such-token")
    assert page.status_code == 404
    assert "邀请链接无效、已使用或已过期；请重新索取邀请链接" in page.get_data(as_text=True)
