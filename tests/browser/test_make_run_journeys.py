"""Every role's main journey on an instance built the way ``make run`` builds it (the Makefile's
commands, the server with its own persisted secret key, the demo accounts it prints), in real
headless Chromium. Each step checks what the user sees: page text, and the files' contents.

1. The large firm posts a 供应链 demand, publishes it, matches and invites the demo SME, which accepts.
2. Both firms draft a contract from that match, negotiate one round, approve and sign it with the
   demo signing password; the PDF verifies on the public page and a modified copy does not.
3. The organizer creates an event on a chain today, invites both firms, schedules their meeting,
   downloads the agenda ICS, checks the SME in, records the outcome and opens the report."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tests.browser.make_run import MadeInstance, build_and_serve
from tests.browser.test_contracts_flow import sign
from tests.browser.test_flows import shot

pytestmark = pytest.mark.browser
BEIJING = ZoneInfo("Asia/Shanghai")
DEMAND_TITLE = "采购锂电池湿法隔膜（端到端）"
SME_NAME = "示例新材料科技（上海）有限公司"
CONTRACT_TERMS = {
    "amount": "1200000",
    "product": "湿法隔膜",
    "specification": "9μm 湿法基膜 + 3μm 陶瓷涂覆",
    "quantity": "150 万平方米",
    "unit_price": "0.80",
    "delivery_schedule": "2027 年 3 月起分批交付",
    "acceptance": "到货 10 日内抽检",
    "payment_milestones": "预付 30%，验收后 70%",
}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> MadeInstance:
    instance = build_and_serve(tmp_path_factory.mktemp("make-run") / "instance")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def accounts(made) -> dict[str, str]:
    """The demo accounts and passwords exactly as ``demo accounts`` printed them for ``make run``."""
    printed = made.outputs["demo accounts"]
    login = re.search(r"password: (\S+)\)", printed)
    assert login, printed
    emails = re.findall(r"\b[\w.+-]+@demo\.chainmatch\.cn\b", printed)
    for needed in ("large@", "sme@", "organizer@"):
        assert any(e.startswith(needed) for e in emails), printed
    return {"login": login.group(1), "printed": printed}


def _signing_password(printed: str) -> str:
    signing = re.search(r"(?:签署密码|signing password)[^:：]*[:：]\s*(\S+)", printed)
    assert signing, f"`demo accounts` does not print the demo signing password:\n{printed}"
    return signing.group(1).rstrip("）)")


@pytest.fixture(scope="module")
def demo_users(made, accounts, browser):
    """One signed-in browser context per demo account (each signs in once: sign-in is rate limited),
    in the session's Chromium."""
    contexts, pages = [], {}
    for who in ("large", "sme", "organizer"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{made.url}/auth/login")
        page.fill("input[name=email]", f"{who}@demo.chainmatch.cn")
        page.fill("input[name=password]", accounts["login"])
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "退出" in page.inner_text("header"), page.inner_text("main")
        pages[who] = page
    public = browser.new_context(locale="zh-CN")
    contexts.append(public)
    pages["public"] = public.new_page()
    yield pages
    for context in contexts:
        context.close()


def _submit(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state("networkidle")


def _click(locator) -> None:
    locator.click()
    locator.page.wait_for_load_state("networkidle")


def test_1_large_firm_posts_matches_and_invites_and_the_sme_accepts(made, demo_users):
    large = demo_users["large"]
    large.goto(f"{made.url}/demands/new")
    large.select_option("#demand-type", "supply_chain")
    large.fill("input[name=title]", DEMAND_TITLE)
    large.fill("textarea[name=description]", "我司生产动力电池，现采购湿法隔膜与陶瓷涂覆隔膜，年需求约 1 亿平方米。")
    large.fill("input[name=wanted_products]", "湿法隔膜, 涂覆隔膜")
    _submit(large, "#publish")
    assert "需求已发布" in large.inner_text("main")
    assert re.search(r"/demands/\d+$", large.url)

    _click(large.locator("button", has_text="匹配候选企业"))
    candidates = large.inner_text("#candidates")
    assert SME_NAME in candidates and "湿法隔膜" in candidates
    card = large.locator("#candidates li.card", has_text=SME_NAME)
    assert "匹配产品" in card.inner_text()
    _click(card.locator("button", has_text="邀请洽谈"))
    assert "已邀请洽谈" in large.locator("#candidates li.card", has_text=SME_NAME).inner_text()
    shot(large, "make-run-candidates.png")

    sme = demo_users["sme"]
    sme.goto(f"{made.url}/inbox/")
    item = sme.locator("#inbox li.card", has_text=DEMAND_TITLE)
    assert "已邀请洽谈" in item.inner_text()
    _click(item.locator("button", has_text="接受"))
    assert "已对接" in sme.locator("#inbox li.card", has_text=DEMAND_TITLE).inner_text()


def test_2_both_firms_negotiate_approve_sign_and_verify_the_contract(made, demo_users, accounts, tmp_path):
    signing_password = _signing_password(accounts["printed"])
    large, sme, public = demo_users["large"], demo_users["sme"], demo_users["public"]
    large.goto(f"{made.url}/contracts/suggestions")
    _click(large.locator("li.card", has_text=DEMAND_TITLE).locator("button", has_text="生成合同草稿"))
    assert "已根据匹配结果生成合同草稿" in large.inner_text("main")
    contract_url = large.url
    assert re.search(r"/contracts/\d+$", contract_url)
    assert SME_NAME in large.inner_text("main")

    sme.goto(contract_url)
    _click(sme.locator("#counter-link"))
    for key, value in CONTRACT_TERMS.items():
        sme.fill(f"#f-{key}", value)
    sme.fill("#note", "补全价格与交付条款")
    _submit(sme, "#counter-form button[type=submit]")
    assert "0.80" in sme.inner_text("#round-diff")

    large.goto(contract_url)
    _click(large.locator("text=接受本轮条款"))
    _submit(large, "#approve-form button[value=approve]")
    sme.goto(contract_url)
    _submit(sme, "#approve-form button[value=approve]")
    assert "签署中" in sme.inner_text("#contract-status")

    for page in (large, sme):
        sign(page, contract_url, signing_password)
    assert "已签署" in sme.inner_text("#contract-status")
    shot(sme, "make-run-contract-signed.png")

    with sme.expect_download() as download:
        sme.click("#download-pdf")
    pdf = tmp_path / "contract.pdf"
    download.value.save_as(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/ByteRange" in data

    public.goto(f"{made.url}/contracts/verify")
    public.set_input_files("#verify-form input[type=file]", str(pdf))
    _submit(public, "#verify-form button[type=submit]")
    result = public.inner_text("#verify-result")
    assert "验证通过" in result and "湿法隔膜" in result

    # the same file with one byte changed inside the signed content is refused
    start = data.index(b"stream", len(data) // 4) + 20
    modified = tmp_path / "modified.pdf"
    modified.write_bytes(data[:start] + bytes([data[start] ^ 0x01]) + data[start + 1 :])
    public.goto(f"{made.url}/contracts/verify")
    public.set_input_files("#verify-form input[type=file]", str(modified))
    _submit(public, "#verify-form button[type=submit]")
    result = public.inner_text("#verify-result")
    assert "验证通过" not in result and "未通过" in result, result
    shot(public, "make-run-verify-modified.png")


def test_3_organizer_runs_an_event_from_invitation_to_report(made, demo_users):
    org, large, sme = demo_users["organizer"], demo_users["large"], demo_users["sme"]
    today = datetime.now(BEIJING).date()
    org.goto(f"{made.url}/events/new")
    org.fill("input[name=title]", "锂电池隔膜产业链对接会（端到端）")
    org.fill("input[name=focus_products]", "锂电池, 隔膜, 磷酸铁锂, 正极材料")
    org.fill("input[name=start_date]", today.isoformat())
    org.fill("input[name=sessions]", "09:00-10:15")
    org.fill("input[name=tables]", "2")
    _submit(org, "#event-form button[type=submit]")
    assert "共 3 个时段" in org.inner_text("main")
    event_url = org.url
    _submit(org, "#organizer-actions button:has-text('开放报名')")

    org.goto(f"{event_url}/invite")
    for box in ("#suggest-large", "#suggest-sme"):
        assert org.locator(f"{box} li").count() > 0, org.inner_text("main")
    large_item = org.locator("#suggest-large li", has_text="宁德时代")
    sme_item = org.locator("#suggest-sme li", has_text="示例新材料")
    large_item.locator("input[type=checkbox]").check()
    sme_item.locator("input[type=checkbox]").check()
    _submit(org, "#send-invitations")
    assert "已发送 2 份邀请" in org.inner_text("main")

    for page in (sme, large):
        page.goto(event_url)
        assert "贵企业受邀参加本次活动" in page.inner_text("#my-registration")
        _submit(page, "#register-form button[type=submit]")
        assert "报名成功" in page.inner_text("main")

    sme.goto(f"{event_url}/browse")
    card = sme.locator("#participants li", has_text="宁德时代")
    card.locator("textarea[name=message]").fill("我们量产湿法隔膜与涂覆隔膜，希望对接贵司的隔膜采购需求")
    _click(card.locator("button[type=submit]"))
    assert "洽谈申请已发送" in sme.inner_text("main")
    large.goto(f"{event_url}/requests")
    assert "湿法隔膜" in large.inner_text("#received")
    _submit(large, "#received button:has-text('接受')")
    assert "已接受" in large.inner_text("#received")

    org.goto(f"{event_url}/schedule")
    _submit(org, "#schedule-actions button:has-text('运行排程')")
    assert "已排程 1 场洽谈" in org.inner_text("main")

    sme.goto(f"{event_url}/agenda")
    agenda = sme.inner_text("#agenda")
    assert "号桌" in agenda and "宁德时代" in agenda
    with sme.expect_download() as download:
        sme.click("#download-ics")
    (entry,) = Calendar.from_ical(Path(download.value.path()).read_bytes()).walk("VEVENT")
    assert "号桌" in str(entry["SUMMARY"])
    assert entry.decoded("DTSTART").astimezone(BEIJING).date() == today
    checkin_url = sme.get_attribute("#checkin-link", "href")

    org.goto(checkin_url)
    _submit(org, "button:has-text('确认签到')")
    assert "已签到" in org.inner_text("#checkin-status")

    sme.goto(f"{event_url}/agenda")
    assert "已签到" in sme.inner_text("#checkin-state")
    _submit(sme, "#agenda button:has-text('已洽谈')")
    _click(sme.locator("#agenda a:has-text('填写成果')"))
    sme.select_option("select[name=outcome]", "agreement")
    sme.fill("input[name=amount]", "120")
    _submit(sme, "#outcome-form button[type=submit]")
    assert "达成合作" in sme.inner_text("#saved-outcome")

    org.goto(f"{event_url}/stats")
    report = org.inner_text("#report")
    assert "对接场次\t1" in report and "意向数\t1" in report and "达成合作意向\t1" in report
    shot(org, "make-run-event-report.png")
