"""A chain-matching event in real headless Chromium: the organizer creates the event and invites
from the chain suggestions, two participants request and accept a meeting, the organizer runs
the scheduler, the SME opens its agenda with the table number, downloads the ICS, is checked in
from its QR link on the organizer's device, and records the meeting's outcome. Screenshots go to
docs/screenshots/ with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.browser.test_flows import shot

pytestmark = pytest.mark.browser


def _submit(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state("networkidle")


@pytest.fixture
def pages(browser, live_server):
    """One signed-in browser per person (each signs in once: sign-in is rate limited)."""
    from tests.web.conftest import PASSWORD

    contexts, out = [], {}
    for who, email in (("org", "org@t.cn"), ("sme", "sme@t.cn"), ("large", "large@t.cn")):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        pg = context.new_page()
        pg.goto(f"{live_server}/auth/login")
        pg.fill("input[name=email]", email)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("#login-form button[type=submit]")
        pg.wait_for_load_state("networkidle")
        out[who] = pg
    yield out
    for context in contexts:
        context.close()


def test_event_from_creation_to_outcome(pages, live_server, people, loaded):
    # the organizer creates the event
    page = pages["org"]
    page.goto(f"{live_server}/events/new")
    page.fill("input[name=title]", "锂电池产业链供需对接会")
    page.fill("input[name=focus_products]", "锂电池, 隔膜")
    page.fill("input[name=start_date]", (date.today() + timedelta(days=21)).isoformat())
    page.fill("input[name=sessions]", "09:00-10:15")
    page.fill("input[name=tables]", "2")
    _submit(page, "#event-form button[type=submit]")
    assert "共 3 个时段" in page.inner_text("main")
    event_url = page.url
    _submit(page, "#organizer-actions button:has-text('开放报名')")
    page.check("#add-demands input[name=demand_id]")
    _submit(page, "#add-demands button[type=submit]")
    assert "采购锂电池隔膜" in page.inner_text("#event-demands")

    # invites from the chain suggestions, with reasons and segments
    page.goto(f"{event_url}/invite")
    assert "上游原材料" in page.inner_text("#segments")
    large_box = f"#suggest-large input[value='{people['large_firm']}']"
    sme_box = f"#suggest-sme input[value='{people['sme_firm']}']"
    assert "采购锂电池隔膜" in page.inner_text("#suggest-large")
    page.check(large_box)
    page.check(sme_box)
    shot(page, "events-invite.png")
    _submit(page, "#send-invitations")
    assert "已发送 2 份邀请" in page.inner_text("main")

    # both firms accept the invitation; the SME requests a meeting, the large firm accepts
    for who in ("sme", "large"):
        page = pages[who]
        page.goto(event_url)
        assert "贵企业受邀参加本次活动" in page.inner_text("#my-registration")
        _submit(page, "#register-form button[type=submit]")
        assert "报名成功" in page.inner_text("main")
    page = pages["sme"]
    page.goto(f"{event_url}/browse")
    card = page.locator(f"#participants li[data-firm='{people['large_firm']}']")
    card.locator("textarea[name=message]").fill("我们量产湿法隔膜与涂覆隔膜，希望对接贵司的隔膜采购需求")
    card.locator("select[name=demand_id]").select_option(label="采购锂电池隔膜")
    card.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "洽谈申请已发送" in page.inner_text("main")
    page = pages["large"]
    page.goto(f"{event_url}/requests")
    assert "湿法隔膜" in page.inner_text("#received")
    _submit(page, "#received button:has-text('接受')")
    assert "已接受" in page.inner_text("#received")

    # the organizer schedules
    page = pages["org"]
    page.goto(f"{event_url}/schedule")
    _submit(page, "#schedule-actions button:has-text('运行排程')")
    assert "已排程 1 场洽谈" in page.inner_text("main")
    assert "号桌" in page.inner_text("#schedule-grid")
    shot(page, "events-schedule.png")

    # the SME's agenda: table number, the demand, the ICS file, the check-in QR code
    page = pages["sme"]
    page.goto(f"{event_url}/agenda")
    row = page.inner_text("#agenda")
    assert "号桌" in row and "采购锂电池隔膜" in row
    assert page.locator("#checkin-qr svg").count() == 1
    with page.expect_download() as download:
        page.click("#download-ics")
    (entry,) = Calendar.from_ical(Path(download.value.path()).read_bytes()).walk("VEVENT")
    assert "号桌" in str(entry["SUMMARY"]) and str(entry["UID"]).startswith("event-")
    checkin_url = page.get_attribute("#checkin-link", "href")
    shot(page, "events-agenda.png")
    assert page.locator("#agenda button:has-text('已洽谈')").count() == 0  # not before the meeting's day
    # the SME opens its own link: a page saying what it is for and who scans it, not an error
    page.goto(checkin_url)
    assert "由组织方" in page.inner_text("#checkin-own") and "扫码为贵企业签到" in page.inner_text("#checkin-own")

    # the event's day comes
    from marketplace.db import session_scope
    from marketplace.models import Event
    from tests.events_helpers import event_day_has_come

    with session_scope(loaded) as s:
        event_day_has_come(s, s.get(Event, int(event_url.rstrip("/").rsplit("/", 1)[1])))

    # the organizer's device opens the scanned URL and checks the SME in
    page = pages["org"]
    page.goto(checkin_url)
    _submit(page, "button:has-text('确认签到')")
    assert "已签到" in page.inner_text("#checkin-status")

    # after the meeting the SME marks it held and records the outcome
    page = pages["sme"]
    page.goto(f"{event_url}/agenda")
    assert "已签到" in page.inner_text("#checkin-state")
    _submit(page, "#agenda button:has-text('已洽谈')")
    page.click("#agenda a:has-text('填写成果')")
    page.wait_for_load_state("networkidle")
    page.select_option("select[name=outcome]", "agreement")
    page.fill("input[name=amount]", "120")
    _submit(page, "#outcome-form button[type=submit]")
    assert "达成合作" in page.inner_text("#saved-outcome")
    assert page.locator("#contract-draft").count() == 1
    shot(page, "events-outcome.png")

    # the organizer's statistics count it
    page = pages["org"]
    page.goto(f"{event_url}/stats")
    report = page.inner_text("#report")
    assert "对接场次\t1" in report and "意向数\t1" in report and "达成合作意向\t1" in report
    shot(page, "events-stats.png")

    # the organizer ends the event: one click asks first, the second ends it
    page.goto(event_url)
    page.click("#end-event summary")
    assert "无法撤销" in page.inner_text("#end-event")
    _submit(page, "#end-event button:has-text('确认结束')")
    assert "活动状态已更新" in page.inner_text("main") and "已结束" in page.inner_text("h1")
