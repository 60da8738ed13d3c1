"""The security headers in real Chromium: the pages with charts and forms run under the strict
CSP without a single violation, and another site cannot frame the app (clickjacking)."""

from __future__ import annotations

import pytest

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
