"""Sign-in sessions end when they should: a password change ends every other session of the user
(this one goes on), and signing out ends every session issued before — a copied session cookie
included (sessions are signed cookies; their user id carries the user's session epoch)."""

from __future__ import annotations

from tests.web.conftest import PASSWORD


def _sign_in(app, email: str):
    client = app.test_client()
    assert client.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


def _signed_in(client) -> bool:
    return client.get("/account/password").status_code == 200


def test_a_password_change_ends_the_users_other_sessions_and_keeps_this_one(app, people):
    laptop, phone = _sign_in(app, "sme@t.cn"), _sign_in(app, "sme@t.cn")
    other_user = _sign_in(app, "sme2@t.cn")
    data = {"current_password": PASSWORD, "new_password": "brand-new-pass-9", "confirm": "brand-new-pass-9"}
    assert laptop.post("/account/password", data=data).status_code == 302
    assert _signed_in(laptop)
    assert not _signed_in(phone)  # redirected to sign in
    assert _signed_in(other_user)
    assert phone.post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD}).status_code == 400  # old one
    assert phone.post("/auth/login", data={"email": "sme@t.cn", "password": "brand-new-pass-9"}).status_code == 302


def test_signing_out_ends_a_copied_session_cookie(app, people):
    owner = _sign_in(app, "large@t.cn")
    thief = app.test_client()
    thief.set_cookie("session", owner.get_cookie("session").value)
    assert _signed_in(thief)  # the copy works while the session lives
    assert owner.post("/auth/logout").status_code == 302
    assert not _signed_in(owner) and not _signed_in(thief)
    again = _sign_in(app, "large@t.cn")  # signing in again starts a new session
    assert _signed_in(again) and not _signed_in(thief)


def test_a_session_id_without_its_epoch_is_not_accepted(app, people):
    client = _sign_in(app, "sme@t.cn")
    with client.session_transaction() as session:
        session["_user_id"] = session["_user_id"].split(".")[0]  # as sessions were issued before epochs
    assert not _signed_in(client)


def test_signing_out_keeps_the_readers_language(app, people):
    client = _sign_in(app, "sme@t.cn")
    client.get("/lang/en")
    client.post("/auth/logout")
    assert "Sign in" in client.get("/auth/login").get_data(as_text=True)
