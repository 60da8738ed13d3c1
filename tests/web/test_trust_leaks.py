"""Each leak the trust review found (issue 9) has a test here that failed on the code before it:
visibility, self-granted roles, the secret key, CSV formulas, open redirects, rate limits,
account enumeration, tokens, lost updates, 500s on bad input and duplicates, headers, heavy work."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.enterprise.firms import create_firm
from marketplace.models import (
    ApiToken,
    Demand,
    DemandInvitation,
    DemandStatus,
    Firm,
    FirmKind,
    MatchSuggestion,
    Membership,
    Role,
    SuggestionStatus,
    User,
    utcnow,
)
from tests.web.conftest import PASSWORD
from tests.web.trust_world import world  # noqa: F401  (fixture)
from web import InsecureConfigError, create_app


def sign_in(client, email: str, password: str = PASSWORD):  # noqa: ANN001, ANN201
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- 1. visibility ----------------------------------------------------------------------------


def test_home_page_lists_no_private_or_invited_demands(client, world):  # noqa: F811
    html = client.get("/").get_data(as_text=True)
    assert world.titles["A-public"] in html
    for key in ("A-private", "A-invited", "A-draft", "B-private", "B-invited"):
        assert world.titles[key] not in html, key


def test_home_page_counts_only_visible_demands(client, world, loaded):  # noqa: F811
    with session_scope(loaded) as s:
        total = s.query(Demand).count()
    anonymous = client.get("/healthz").get_json()["counts"]["demands"]
    assert anonymous < total  # drafts, private and invited demands are not counted for the public


def test_a_suggestion_row_alone_does_not_reveal_an_invited_demand(client, world):  # noqa: F811
    # sme2 has suggestions on A's invited and private demands but no invitation
    html = sign_in(client, world.emails["sme2"]).get("/inbox/").get_data(as_text=True)
    assert world.titles["A-public"] in html
    assert world.titles["A-invited"] not in html and world.titles["A-private"] not in html
    api = client.get("/api/v1/suggestions", headers=bearer(world.tokens["sme2"])).get_json()
    assert {i["demand_id"] for i in api["items"]}.isdisjoint({world.demands["A-invited"], world.demands["A-private"]})
    assert client.get(f"/demands/{world.demands['A-invited']}").status_code == 404


def test_invited_firm_sees_the_invited_demand_and_only_it(client, world):  # noqa: F811
    sign_in(client, world.emails["sme"])
    assert world.titles["A-invited"] in client.get(f"/demands/{world.demands['A-invited']}").get_data(as_text=True)
    assert client.get(f"/demands/{world.demands['A-private']}").status_code == 404
    assert client.get(f"/api/v1/demands/{world.demands['A-invited']}", headers=bearer(world.tokens["sme"])).is_json


def test_owner_invite_action_records_an_invitation_that_opens_the_demand(client, world, loaded):  # noqa: F811
    sign_in(client, world.emails["large"])
    demand, sid = world.demands["A-invited"], world.suggestions["sme2@A-invited"]
    assert client.post(f"/demands/{demand}/suggestions/{sid}/invite").status_code == 302
    with session_scope(loaded) as s:
        invitation = s.scalar(select(DemandInvitation).where(DemandInvitation.demand_id == demand))
        assert invitation is not None
        firms = set(s.scalars(select(DemandInvitation.firm_id).where(DemandInvitation.demand_id == demand)))
        assert world.firms["sme2"] in firms
    client.post("/auth/logout")
    sign_in(client, world.emails["sme2"])
    assert world.titles["A-invited"] in client.get(f"/demands/{demand}").get_data(as_text=True)


def test_inbox_refresh_ranks_only_demands_the_firm_may_see(app, world, loaded):  # noqa: F811
    """The old refresh matched every open demand and saved suggestions, so an SME could pull a
    private demand's title and owner into its inbox. The separator SME matches all the separator
    demands; it may see the public ones and A's invited one (it was invited), nothing else."""
    client = sign_in(app.test_client(), world.emails["sme"])
    with session_scope(loaded) as s:
        s.execute(MatchSuggestion.__table__.delete().where(MatchSuggestion.firm_id == world.firms["sme"]))
    assert client.post("/inbox/refresh").status_code == 302
    with session_scope(loaded) as s:
        reached = set(s.scalars(select(MatchSuggestion.demand_id).where(MatchSuggestion.firm_id == world.firms["sme"])))
    hidden = {world.demands[k] for k in ("A-private", "B-private", "B-invited", "A-draft", "B-draft")}
    assert {world.demands["A-public"], world.demands["A-invited"]} <= reached
    assert reached.isdisjoint(hidden)
    html = client.get("/inbox/").get_data(as_text=True)
    assert all(world.titles[k] not in html for k in ("A-private", "B-private", "B-invited"))


def test_browse_and_api_list_show_invited_demands_only_to_invited_firms(client, world):  # noqa: F811
    for role, sees in (("sme", True), ("sme2", False), ("organizer", False)):
        items = client.get("/api/v1/demands?per_page=100", headers=bearer(world.tokens[role])).get_json()["items"]
        assert (world.demands["A-invited"] in {i["demand_id"] for i in items}) is sees, role


# --- 2. roles ---------------------------------------------------------------------------------


def test_sign_up_cannot_create_an_organizer(client, loaded, world):  # noqa: F811
    response = client.post(
        "/auth/register",
        data={
            "name": "冒充者",
            "email": "fake-org@t.cn",
            "password": "longenough1",
            "role": "organizer",
            "organization_name": "测试协会",
            "firm_choice": "new",
            "firm_name": "x",
        },
    )
    assert response.status_code == 400
    with session_scope(loaded) as s:
        assert s.scalar(select(User).where(User.email == "fake-org@t.cn")) is None


def test_sign_up_page_refuses_traditional_and_cyrillic_look_alikes_of_existing_firms(client, loaded):
    """寧德時代…, 比亞迪… and ТСL… (Cyrillic Т, С) are firms already here: the form says so on the
    firm name field and creates neither a firm nor an account."""
    with session_scope(loaded) as s:  # listed firms (those the fixture data lacks are added)
        for name in ("宁德时代新能源科技股份有限公司", "比亚迪股份有限公司", "TCL集团股份有限公司"):
            if s.scalar(select(Firm.id).where(Firm.name == name)) is None:
                create_firm(s, name=name, kind=FirmKind.LARGE)
        firms = s.scalar(select(func.count(Firm.id)))
    for i, look_alike in enumerate(
        ("寧德時代新能源科技股份有限公司", "比亞迪股份有限公司", "\u0422\u0421L集团股份有限公司")
    ):
        form = {"name": "冒名者", "email": f"look-alike{i}@t.cn", "password": "longenough1", "role": "large"}
        response = client.post("/auth/register", data={**form, "firm_choice": "new", "firm_name": look_alike})
        page = response.get_data(as_text=True)
        assert response.status_code == 400, look_alike
        assert "该企业已登记；请选择“申请加入已登记的企业”" in page, look_alike
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count(Firm.id))) == firms
        assert s.scalar(select(func.count(User.id)).where(User.email.like("look-alike%"))) == 0
    response = client.post(
        "/auth/register",
        data={**form, "email": "distinct@t.cn", "firm_choice": "new", "firm_name": "宁德时代新材料科技有限公司"},
    )
    assert response.status_code == 302  # a name that is not a look-alike still founds a firm
    with session_scope(loaded) as s:
        assert s.scalar(select(User).where(User.email == "distinct@t.cn")).firm.name == "宁德时代新材料科技有限公司"


def test_joining_an_existing_firm_waits_for_its_admin(client, loaded, world):  # noqa: F811
    with session_scope(loaded) as s:
        firm_name = s.get(User, world.users["large"]).firm.name
    response = client.post(
        "/auth/register",
        data={
            "name": "新同事",
            "email": "joiner@t.cn",
            "password": "longenough1",
            "role": "large",
            "firm_choice": "join",
            "firm_name": firm_name,
        },
    )
    assert response.status_code == 302
    sign_in(client, "joiner@t.cn", "longenough1")
    assert "membership-pending" in client.get("/").get_data(as_text=True)
    assert client.get("/demands/mine").status_code == 403
    assert client.get(f"/demands/{world.demands['A-private']}").status_code == 404
    assert client.get("/demands/new").status_code == 403
    client.post("/auth/logout")
    # another firm's admin cannot approve; the firm's own admin can
    with session_scope(loaded) as s:
        joiner = s.scalar(select(User.id).where(User.email == "joiner@t.cn"))
    sign_in(client, world.emails["large_b"])
    assert client.post(f"/account/members/{joiner}/approve").status_code == 404
    client.post("/auth/logout")
    sign_in(client, world.emails["large"])
    assert "joiner@t.cn" in client.get("/account/members").get_data(as_text=True)
    assert client.post(f"/account/members/{joiner}/approve").status_code == 302
    assert client.post(f"/account/members/{joiner}/approve").status_code == 409  # already decided
    client.post("/auth/logout")
    sign_in(client, "joiner@t.cn", "longenough1")
    assert world.titles["A-private"] in client.get(f"/demands/{world.demands['A-private']}").get_data(as_text=True)


def test_organizer_accounts_come_from_the_admin_or_an_invitation_link(client, loaded, world):  # noqa: F811
    sign_in(client, world.emails["organizer"])
    page = client.post("/organizer/invite").get_data(as_text=True)
    link = page.split('id="invitation-link">')[1].split("<")[0]
    path = link.split("localhost")[-1]
    client.post("/auth/logout")
    assert client.get(path).status_code == 200
    made = client.post(path, data={"name": "同事", "email": "colleague@t.cn", "password": "longenough1"})
    assert made.status_code == 302
    assert client.post(path, data={"name": "x", "email": "again@t.cn", "password": "longenough1"}).status_code == 404
    with session_scope(loaded) as s:
        colleague = s.scalar(select(User).where(User.email == "colleague@t.cn"))
        assert colleague.role is Role.ORGANIZER and colleague.organization_id == world.organizations["organizer"]
    sign_in(client, world.emails["admin"])
    created = client.post(
        "/admin/organizers",
        data={
            "name": "园区",
            "email": "park@t.cn",
            "password": "longenough1",
            "organization_name": "新园区",
            "organization_kind": "park",
        },
    )
    assert created.status_code == 201


def test_organizer_csv_and_dashboard_hold_no_drafts_or_private_demands(client, world):  # noqa: F811
    sign_in(client, world.emails["organizer"])
    body = client.get("/organizer/export.csv").get_data(as_text=True)
    assert world.titles["A-public"] in body and world.titles["B-public"] in body
    for title in world.hidden_titles("organizer"):
        assert title not in body


# --- 3. accounts ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["dev-only-change-me", "short-key"])
def test_app_refuses_to_start_with_a_weak_secret_key_outside_testing(loaded, key):
    with pytest.raises(InsecureConfigError, match="MARKETPLACE_SECRET_KEY"):
        create_app(loaded.with_overrides(secret_key=key))
    assert create_app(loaded.with_overrides(secret_key="x" * 40)) is not None
    assert create_app(loaded.with_overrides(secret_key=key), {"TESTING": True}) is not None


def test_serve_keeps_a_random_secret_key_in_the_instance_directory(tmp_path):
    from marketplace.config import Settings

    first = Settings(instance_dir=tmp_path).with_persisted_secret_key()
    second = Settings(instance_dir=tmp_path).with_persisted_secret_key()
    assert first.has_strong_secret_key and first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(instance_dir=tmp_path / "other").with_persisted_secret_key().secret_key != first.secret_key


@pytest.mark.parametrize(
    "target", ["/\\evil.com", "//evil.com", "https://evil.com/", "/\\/evil.com", "\\\\evil.com", "/\t/evil.com", "java"]
)
def test_sign_in_never_redirects_off_site(client, people, target):
    response = client.post(
        "/auth/login", query_string={"next": target}, data={"email": "sme@t.cn", "password": PASSWORD}
    )
    location = response.headers["Location"]
    assert response.status_code == 302 and location in ("/", "http://localhost/"), location


def test_sign_in_follows_a_local_next(client, people):
    response = client.post(
        "/auth/login", query_string={"next": "/demands/mine"}, data={"email": "sme@t.cn", "password": PASSWORD}
    )
    assert response.headers["Location"].endswith("/demands/mine")


def test_sign_in_is_rate_limited(loaded, people):
    app = create_app(loaded, {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True})
    app.config["RATELIMIT_SIGN_IN"] = "3 per minute"
    client = app.test_client()
    codes = [
        client.post("/auth/login", data={"email": "x@t.cn", "password": "wrong-pass"}).status_code for _ in range(5)
    ]
    assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]


def test_sign_up_answers_the_same_for_a_registered_email(client, people):
    def sign_up(email: str):  # noqa: ANN202
        return client.post(
            "/auth/register",
            data={
                "name": "某人",
                "email": email,
                "password": "longenough1",
                "role": "sme",
                "firm_choice": "new",
                "firm_name": f"{email}公司",
            },
            follow_redirects=True,
        )

    taken, fresh = sign_up("sme@t.cn"), sign_up("brand-new@t.cn")
    assert taken.status_code == fresh.status_code == 200
    assert taken.get_data(as_text=True) == fresh.get_data(as_text=True)


def test_unknown_email_costs_a_password_hash_like_a_known_one(loaded, people, monkeypatch):
    import marketplace.accounts.users as accounts

    calls = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: calls.append(h) or real(h, p))
    with session_scope(loaded) as s:
        assert accounts.authenticate(s, "nobody@t.cn", "whatever-pass") is None
        assert accounts.authenticate(s, "sme@t.cn", "whatever-pass") is None
    assert len(calls) == 2  # the unknown e-mail was checked against a dummy hash too


def test_sign_in_starts_a_fresh_session(client, people):
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    sign_in(client, "sme@t.cn")
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_password_change(client, people, loaded):
    sign_in(client, "sme@t.cn")
    wrong = client.post(
        "/account/password",
        data={"current_password": "nope-nope", "new_password": "brand-new-pw", "confirm": "brand-new-pw"},
    )
    assert wrong.status_code == 400
    ok = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "brand-new-pw", "confirm": "brand-new-pw"},
    )
    assert ok.status_code == 302
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD}).status_code == 400
    sign_in(client, "sme@t.cn", "brand-new-pw")


def test_api_tokens_are_named_listed_revocable_and_expire(client, people, loaded):
    made = client.post(
        "/api/v1/tokens", json={"name": "ci", "expires_in_days": 1}, headers=bearer(people["tokens"]["sme"])
    )
    assert made.status_code == 201
    fraction = client.post(
        "/api/v1/tokens", json={"name": "x", "expires_in_days": 1.5}, headers=bearer(people["tokens"]["sme"])
    )
    assert fraction.status_code == 422 and "expires_in_days" in str(fraction.get_json())  # not silently 1 day
    new = made.get_json()
    assert new["name"] == "ci" and new["token"].startswith("cm_") and new["active"]
    listed = client.get("/api/v1/tokens", headers=bearer(new["token"])).get_json()["items"]
    assert {t["name"] for t in listed} >= {"ci", "default"} and all("token" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{new['token_id']}", headers=bearer(new["token"])).status_code == 200
    assert client.get("/api/v1/tokens", headers=bearer(new["token"])).status_code == 401  # revoked
    other = client.get("/api/v1/tokens", headers=bearer(people["tokens"]["sme2"])).get_json()["items"][0]["token_id"]
    assert client.delete(f"/api/v1/tokens/{other}", headers=bearer(people["tokens"]["sme"])).status_code == 404
    with session_scope(loaded) as s:  # expiry
        for row in s.scalars(select(ApiToken)):
            row.expires_at = utcnow()
    assert client.get("/api/v1/demands", headers=bearer(people["tokens"]["sme"])).status_code == 401


def test_token_page_lists_and_revokes(client, people):
    sign_in(client, "sme@t.cn")
    created = client.post("/auth/token", data={"name": "页面令牌", "expires_in_days": "30"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/auth/token")
    page = client.get("/auth/token").get_data(as_text=True)
    assert 'id="api-token"' in page and "页面令牌" in page
    assert 'id="api-token"' not in client.get("/auth/token").get_data(as_text=True)  # shown once


def _session_cookie(client, app) -> tuple[str, dict]:  # noqa: ANN001
    """The session cookie as the browser holds it, and what it says (signed, not encrypted)."""
    raw = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    return raw, app.session_interface.get_signing_serializer(app).loads(raw)


def test_a_new_token_is_shown_once_after_the_redirect_and_never_travels_in_the_session_cookie(client, app, people):
    sign_in(client, "sme@t.cn")
    created = client.post("/auth/token", data={"name": "cookie-check", "expires_in_days": "30"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/auth/token")
    raw_after_post, session_after_post = _session_cookie(client, app)
    page = client.get("/auth/token")
    found = re.search(r'<code id="api-token">(cm_[^<]+)</code>', page.get_data(as_text=True))
    assert found, "the new token is shown on the page after the redirect"
    secret = found.group(1)
    assert secret not in raw_after_post and secret not in repr(session_after_post)
    assert secret not in repr(_session_cookie(client, app)[1])
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/tokens", headers=bearer(secret)).status_code == 200  # the real token
    assert 'id="api-token"' not in client.get("/auth/token").get_data(as_text=True)  # shown once


def test_a_token_whose_secret_can_no_longer_be_shown_says_so(client, app, people):
    """The secret waits in the server's memory only: after a restart (or past five minutes) the
    page says it cannot be shown again instead of showing nothing."""
    sign_in(client, "sme@t.cn")
    client.post("/auth/token", data={"name": "lost", "expires_in_days": "30"})
    app.extensions["reveals"].clear()
    page = client.get("/auth/token").get_data(as_text=True)
    assert 'id="api-token"' not in page and "新令牌已生成，但已无法再次显示" in page and "lost" in page


def test_security_headers_on_pages_and_api(client, people):
    for path in ("/", "/api/v1/openapi.json", "/nope"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_secure_cookies_by_configuration(loaded, people):
    app = create_app(loaded.with_overrides(cookie_secure=True), {"TESTING": True, "WTF_CSRF_ENABLED": False})
    response = app.test_client().post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


def test_no_template_has_inline_scripts_or_styles():
    import re
    from pathlib import Path

    for path in Path("web/templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text)
        assert not inline, f"{path}: inline script"
        assert "<style" not in text and " style=" not in text and not re.search(r"\son[a-z]+=", text), path


# --- 4. integrity -----------------------------------------------------------------------------


def test_huge_or_bad_page_numbers_answer_400_naming_the_field(client, people):
    for path in ("/demands/?page=99999999999999999999", "/firms/?page=abc", "/demands/?page=0"):
        response = client.get(path)
        assert response.status_code == 400 and "页码：" in response.get_data(as_text=True), path
    api = client.get("/api/v1/demands?page=99999999999999999999", headers=bearer(people["tokens"]["sme"]))
    assert api.status_code == 422 and "page" in str(api.get_json()["detail"])


def test_unknown_tier_in_candidate_filter_answers_400(login, people):
    response = login("large").get(f"/demands/{people['demand']}?tier=platinum")
    assert response.status_code == 400 and "tier" in response.get_data(as_text=True)


def test_accepting_a_suggestion_on_a_closed_demand_is_refused(client, world, loaded):  # noqa: F811
    with session_scope(loaded) as s:
        s.get(Demand, world.demands["A-public"]).status = DemandStatus.CLOSED
    sign_in(client, world.emails["sme"])
    response = client.post(f"/inbox/{world.suggestions['sme@A-public']}/accept")
    assert response.status_code == 409 and "已关闭" in response.get_data(as_text=True)  # the demand's status
    api = client.post(
        f"/api/v1/suggestions/{world.suggestions['sme@A-public']}/respond",
        json={"status": "accepted"},
        headers=bearer(world.tokens["sme"]),
    )
    assert (
        api.status_code == 409 and "is closed; suggestions on it can no longer be answered" in api.get_json()["message"]
    )
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, world.suggestions["sme@A-public"]).status is SuggestionStatus.SUGGESTED


def test_second_answer_to_the_same_suggestion_is_a_conflict(client, world):  # noqa: F811
    sign_in(client, world.emails["sme"])
    assert client.post(f"/inbox/{world.suggestions['sme@A-public']}/accept").status_code == 302
    again = client.post(f"/inbox/{world.suggestions['sme@A-public']}/decline")
    assert again.status_code == 409


def test_a_lost_race_on_a_unique_row_answers_409_not_500(client, people, monkeypatch):
    """Two sign-ups with one e-mail at once: the loser's INSERT hits the unique constraint."""
    import marketplace.accounts.users as accounts

    monkeypatch.setattr(accounts, "_email_taken", lambda session, email: False)  # as if checked before the other insert
    response = client.post(
        "/auth/register",
        data={
            "name": "x",
            "email": "sme@t.cn",
            "password": "longenough1",
            "role": "sme",
            "firm_choice": "new",
            "firm_name": "竞态科技有限公司",
        },
    )
    assert response.status_code == 409
    api = client.post("/api/v1/demands", json={"type": "rd", "title": "ok"}, headers=bearer(people["tokens"]["large"]))
    assert api.status_code == 201  # the session was rolled back cleanly


def test_inbox_refresh_is_debounced_per_firm(app, world):  # noqa: F811
    client = sign_in(app.test_client(), world.emails["sme"])
    assert client.post("/inbox/refresh").status_code == 302
    second = client.post("/inbox/refresh")
    assert second.status_code == 429 and "秒" in second.get_data(as_text=True)
    other = sign_in(app.test_client(), world.emails["sme2"])
    assert other.post("/inbox/refresh").status_code == 302  # another firm is not blocked


def test_profile_saves_queue_one_refresh_for_many_edits(app, people, monkeypatch):
    from web.matching_engine import refresh_queue

    class Recorder:
        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        def refresh(self, session, firm_ids):  # noqa: ANN001, ANN201
            import time

            time.sleep(0.2)
            self.batches.append(list(firm_ids))

    recorder = Recorder()
    app.extensions["engine"] = recorder
    queue = refresh_queue(app)
    for _ in range(10):
        queue.mark(people["sme_firm"])
    assert queue.wait_idle(timeout=10)
    assert sum(len(b) for b in recorder.batches) <= 2  # ten edits, at most two refreshes of the firm


def test_heavy_work_allows_one_job_per_key_and_bounds_the_rest(app):
    from werkzeug.exceptions import Conflict

    from web.matching_engine import HeavyWork

    work = HeavyWork(slots=1)
    with app.test_request_context(), work.slot("inbox-1"), pytest.raises(Conflict), work.slot("inbox-1"):
        pass


def test_membership_model_default_is_active(loaded, people):
    with session_scope(loaded) as s:
        assert {u.membership for u in s.scalars(select(User))} == {Membership.ACTIVE}


def test_a_firms_suggestion_on_a_demand_it_cannot_see_is_not_found_on_the_web_and_the_api(client, world):  # noqa: F811
    """sme2 was suggested for A-private and A-invited (not invited): answering says "not found", as
    for any demand it cannot see; another firm's suggestion is not found either (ids are not
    enumerable), while the demand's owner, who sees it, is forbidden to answer it."""
    sign_in(client, world.emails["sme2"])
    for key in ("A-private", "A-invited"):
        sid = world.suggestions[f"sme2@{key}"]
        assert client.post(f"/inbox/{sid}/accept").status_code == 404
        api = client.post(
            f"/api/v1/suggestions/{sid}/respond", json={"status": "accepted"}, headers=bearer(world.tokens["sme2"])
        )
        assert api.status_code == 404 and "does not exist" in api.get_json()["message"], key
    theirs = client.post(
        f"/api/v1/suggestions/{world.suggestions['sme@A-public']}/respond",
        json={"status": "accepted"},
        headers=bearer(world.tokens["sme2"]),
    )
    assert theirs.status_code == 404 and "does not exist" in theirs.get_json()["message"]
    assert client.post(f"/inbox/{world.suggestions['sme@A-public']}/accept").status_code == 404
    owner = client.post(
        f"/api/v1/suggestions/{world.suggestions['sme@A-public']}/respond",
        json={"status": "accepted"},
        headers=bearer(world.tokens["large"]),
    )
    assert owner.status_code == 403
    sign_in(client, world.emails["large"])
    assert client.post(f"/inbox/{world.suggestions['sme@A-public']}/accept").status_code == 403


def test_stored_details_never_fill_the_visibility_or_title_of_the_edit_form(client, world, loaded):  # noqa: F811
    """A private demand whose details held "visibility": "public" (and "title") showed 公开 on its
    edit form, so saving it unchanged made it public. Only the type's own detail fields are filled."""
    from html import unescape

    from tests.web.conftest import csrf_token

    key = "A-private"
    with session_scope(loaded) as s:  # as the API stored such details before it refused them
        demand = s.get(Demand, world.demands[key])
        demand.details = {"visibility": "public", "title": "被替换的标题", "quantity": "10 吨"}
    sign_in(client, world.emails["large"])
    page = client.get(f"/demands/{world.demands[key]}/edit").get_data(as_text=True)
    assert '<option selected value="private">' in page and '<option selected value="public">' not in page
    assert "被替换的标题" not in page and world.titles[key] in unescape(page) and "10 吨" in page
    saved = client.post(
        f"/demands/{world.demands[key]}/edit",
        data={
            "csrf_token": csrf_token(page),
            "type": "supply_chain",
            "title": world.titles[key],
            "visibility": "private",
            "quantity": "10 吨",
        },
    )
    assert saved.status_code == 302
    with session_scope(loaded) as s:
        demand = s.get(Demand, world.demands[key])
        assert demand.visibility.value == "private" and demand.title == world.titles[key]
        assert demand.details == {"quantity": "10 吨"}
    sign_in(client, world.emails["sme2"])
    assert client.get(f"/demands/{world.demands[key]}").status_code == 404


def test_the_api_rate_limit_counts_every_api_area_together(loaded, people):
    """One API limit per client address covers the whole API (events, contracts, policies, tiers,
    consortia and tokens too), so switching endpoints does not reset it; pages are not counted."""
    app = create_app(loaded, {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True})
    app.config["RATELIMIT_API"] = "4 per minute"
    client = app.test_client()
    paths = ["/api/v1/firms", "/api/v1/events", "/api/v1/contracts", "/api/v1/policies", "/api/v1/tiers/criteria"]
    codes = [client.get(path).status_code for path in paths + ["/api/v1/tokens"]]
    assert 429 not in codes[:4] and codes[4:] == [429, 429], codes
    assert client.get("/").status_code == 200
