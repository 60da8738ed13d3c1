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
