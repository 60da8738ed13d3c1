"""Layout in real headless Chromium: the menu on a phone folds behind a button, and the organizer
dashboard's chart labels do not overlap. Screenshots go where tests/browser/test_flows.py puts them."""

from __future__ import annotations

import pytest

from tests.browser.test_flows import shot
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2, is_mobile=True, has_touch=True)
    pg = context.new_page()
    yield pg
    context.close()


def _sign_in(pg, live_server: str, email: str) -> None:
    pg.goto(f"{live_server}/auth/login")
    pg.fill("input[name=email]", email)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("#login-form button[type=submit]")
    pg.wait_for_load_state("networkidle")


def _header_height(pg) -> float:
    return pg.locator("header.topbar").bounding_box()["height"]


def test_on_a_phone_the_menu_folds_behind_a_button(phone, live_server):
    """A signed-in firm's menu took five lines at 375 px: now one header line and a 菜单 button
    that opens it (aria-expanded), by mouse or keyboard, and Escape closes it."""
    _sign_in(phone, live_server, "large@t.cn")
    phone.goto(f"{live_server}/demands/")
    button = phone.locator("button.nav-toggle")
    assert button.is_visible() and button.get_attribute("aria-expanded") == "false"
    assert not phone.is_visible("#site-nav a[href='/inbox/']")
    assert _header_height(phone) <= 64  # one line: the brand and the button
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "phone-menu-closed.png")

    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    assert phone.is_visible("#site-nav a[href='/inbox/']") and phone.is_visible("#site-nav a[href='/demands/mine']")
    shot(phone, "phone-menu-open.png")
    phone.keyboard.press("Tab")  # into the menu
    phone.keyboard.press("Escape")
    assert button.get_attribute("aria-expanded") == "false" and not phone.is_visible("#site-nav a[href='/inbox/']")
    assert phone.evaluate("document.activeElement.classList.contains('nav-toggle')")

    button.focus()
    phone.keyboard.press("Enter")  # a real button: the keyboard opens it too
    assert button.get_attribute("aria-expanded") == "true"
    phone.click("#site-nav a[href='/inbox/']")
    phone.wait_for_load_state("networkidle")
    assert phone.url.endswith("/inbox/")


def test_on_a_wide_screen_the_menu_shows_without_a_button(page, live_server, sign_in):
    sign_in("large@t.cn")
    page.goto(f"{live_server}/demands/")
    assert not page.is_visible("button.nav-toggle") and page.is_visible("#site-nav a[href='/inbox/']")


LONG_INDUSTRIES = [
    "光伏设备及元器件制造与系统集成服务",
    "新能源汽车动力电池回收与梯次利用",
    "半导体材料（电子特气与湿电子化学品）",
    "工业互联网平台与智能制造解决方案",
    "储能变流器及电池管理系统",
    "Advanced Industrial Automation Components",
]


def _text_boxes(pg, chart_id: str) -> list[dict]:
    """Every text ECharts drew in the chart (SVG), with its box on the page."""
    return pg.evaluate(
        """id => Array.from(document.querySelectorAll('#' + id + ' svg text'))
            .filter(t => t.textContent.trim() && t.getBBox().width > 0)
            .map(t => { const r = t.getBoundingClientRect();
                        return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height}; })""",
        chart_id,
    )


def _overlap(a: dict, b: dict) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_dashboard_chart_labels_do_not_overlap(loaded, people, page, live_server, sign_in, language):
    from marketplace.db import session_scope
    from marketplace.demands.workflow import create_demand

    with session_scope(loaded) as s:  # every demand type, and long industry names without an accepted firm
        for i, (kind, industry) in enumerate(
            zip(["rd", "investment", "incubation", "service"] * 2, LONG_INDUSTRIES, strict=False)
        ):
            create_demand(
                s,
                {"owner_firm_id": people["large_firm"], "type": kind, "title": f"看板测试需求{i}",
                 "wanted_industries": [industry], "publish": True},
            )  # fmt: skip
    sign_in("org@t.cn")
    page.goto(f"{live_server}/lang/{language}")
    page.goto(f"{live_server}/organizer/")
    page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)
    for chart in ("chart-type", "chart-status", "chart-funnel", "chart-unmet"):
        area = page.locator(f"#{chart}").bounding_box()
        boxes = _text_boxes(page, chart)
        assert len(boxes) >= 3, chart
        for box in boxes:  # inside the chart: nothing cut off at its edges
            assert box["x"] >= area["x"] - 1 and box["x"] + box["w"] <= area["x"] + area["width"] + 1, (chart, box)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert _overlap(a, b) < 2, (chart, a["text"], b["text"])
    labels = " ".join(b["text"] for b in _text_boxes(page, "chart-unmet"))
    assert "…" in labels  # the longest industry names are cut …
    page.locator("#chart-unmet").scroll_into_view_if_needed()
    row = page.locator("#chart-unmet svg text", has_text="…").first.bounding_box()
    page.mouse.move(row["x"] + row["width"] + 60, row["y"] + row["height"] / 2)
    page.wait_for_timeout(300)
    cut = page.evaluate(
        "Array.from(document.querySelectorAll('#chart-unmet svg text')).find(t => t.textContent.includes('…')).textContent"
    )
    tip = page.evaluate("Array.from(document.querySelectorAll('#chart-unmet div')).map(d => d.innerText).join(' ')")
    whole = [name for name in LONG_INDUSTRIES if name.startswith(cut.rstrip("…"))]
    assert whole and whole[0] in tip  # … and shown whole on hover
    shot(page, f"organizer-dashboard-{language}.png")


_BROKEN_NAV_ITEMS = """() => [...document.querySelectorAll('#site-nav > a, #site-nav .link, #site-nav .lang')]
    .filter(el => el.getClientRects().length > 1).map(el => el.textContent.trim())"""


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_menu_item_never_breaks_across_two_lines(page, live_server, sign_in, language):
    """On a desktop the signed-in menu wraps onto a second line; the break fell inside an item:
    "中" at the end of one line and "文 | English" on the next, or half of "推荐收件箱". Whatever the
    width, each item (and the 中文 | English switch) stays whole on one line."""
    sign_in("large@t.cn")
    page.goto(f"{live_server}/lang/{language}")
    page.goto(f"{live_server}/demands/")
    broken = {}
    for width in range(770, 1500, 9):
        page.set_viewport_size({"width": width, "height": 900})
        items = page.evaluate(_BROKEN_NAV_ITEMS)
        if items:
            broken[width] = items
    assert not broken, broken
