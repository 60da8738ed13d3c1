"""The security headers in real Chromium: the pages with charts and forms run under the strict
CSP without a single violation, and another site cannot frame the app (clickjacking); a new API
token's secret reaches the page after the redirect without passing through the browser's cookies."""

from __future__ import annotations

import zlib

import pytest
from itsdangerous import base64_decode

pytestmark = pytest.mark.browser


def test_pages_run_under_the_csp_without_violations(page, live_server, sign_in, people):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in("large@t.cn")
    page.goto(f"{live_server}/demands/new?type=supply_chain")
    page.goto(f"{live_server}/demands/{people['demand']}")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server}/auth/token")
    page.goto(f"{live_server}/auth/logout")
    sign_in("org@t.cn")
    page.goto(f"{live_server}/organizer/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#chart-type canvas, #chart-type svg").count() >= 1  # ECharts drew under the CSP
    assert not problems, problems


def test_another_site_cannot_frame_the_app(page, live_server, tmp_path):
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text))
    attacker = tmp_path / "attacker.html"
    attacker.write_text(f'<iframe id="victim" src="{live_server}/auth/login"></iframe>', encoding="utf-8")
    page.goto(attacker.as_uri())
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#victim")
    assert frame.locator("#login-form").count() == 0
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in blocked), blocked


def _cookie_payload(value: str) -> str:
    """What a signed (not encrypted) Flask session cookie says, read as anyone holding it can:
    no key needed, only base64 (and zlib when the payload was compressed)."""
    compressed = value.startswith(".")
    data = base64_decode(value.lstrip(".").split(".")[0])
    return (zlib.decompress(data) if compressed else data).decode()


def test_a_new_token_is_shown_once_and_is_in_none_of_the_browsers_cookies(page, live_server, sign_in):
    sign_in("sme@t.cn")
    page.goto(f"{live_server}/auth/token")
    page.fill("#token-form input[name=name]", "浏览器令牌")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#token-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert posted.value.status == 303 and page.url == f"{live_server}/auth/token"  # post/redirect/get
    secret = page.locator("#api-token").inner_text()
    assert secret.startswith("cm_")
    # the cookie the POST set (the one carried to the page after the redirect), and the ones now
    set_by_post = [
        h["value"].split(";")[0].split("=", 1)[1]
        for h in posted.value.headers_array()
        if h["name"].lower() == "set-cookie"
    ]
    cookies = set_by_post + [c["value"] for c in page.context.cookies()]
    assert set_by_post and all(secret not in value and secret not in _cookie_payload(value) for value in cookies)
    page.reload()
    assert page.locator("#api-token").count() == 0  # shown once; the reload posts nothing again
    assert page.locator("#tokens td", has_text="浏览器令牌").count() == 1
