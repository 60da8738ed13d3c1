"""The three key flows in real headless Chromium; screenshots go to docs/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` refreshes the committed ones in docs/screenshots; a plain test run writes
# them under instance/ so that running the tests leaves the work tree clean.
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / "instance" / "screenshots"
pytestmark = pytest.mark.browser


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_home_page_shows_open_demands(page, live_server):
    page.goto(live_server)
    assert "产业链供需对接平台" in page.title()
    assert "采购锂电池隔膜" in page.inner_text("#open-demands")
    shot(page, "home.png")


def test_sme_signs_in_and_edits_its_profile(page, live_server, sign_in):
    sign_in("sme@t.cn")
    page.goto(f"{live_server}/profile")
    page.fill("textarea[name=description]", "专注锂电池湿法隔膜与陶瓷涂覆隔膜")
    page.select_option("select[name=tier]", "specialized")
    page.fill("textarea[name=products]", "锂电池隔膜\n陶瓷涂覆隔膜")
    page.click("#profile-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "企业档案已保存" in page.inner_text("main")
    assert page.input_value("textarea[name=products]").splitlines() == ["锂电池隔膜", "陶瓷涂覆隔膜"]
    shot(page, "sme-profile.png")
    page.goto(f"{live_server}/inbox/")
    page.click("text=查找匹配的需求")
    page.wait_for_load_state("networkidle")
    assert "采购锂电池隔膜" in page.inner_text("#inbox")
    shot(page, "sme-inbox.png")


def test_large_firm_posts_supply_chain_demand_and_sees_candidates_with_graph(page, live_server, sign_in):
    sign_in("large@t.cn")
    page.goto(f"{live_server}/demands/new?type=supply_chain")
    assert page.is_visible("input[name=quantity]") and not page.is_visible("textarea[name=technical_problem]")
    page.fill("input[name=title]", "采购光伏玻璃与锂电池隔膜")
    page.fill("textarea[name=description]", "组件产线需要光伏玻璃，储能产品需要锂电池隔膜")
    page.fill("input[name=wanted_products]", "光伏玻璃, 锂电池隔膜")
    page.fill("input[name=quantity]", "每月 50 万平方米")
    page.click("#publish")
    page.wait_for_load_state("networkidle")
    page.click("text=匹配候选企业")
    page.wait_for_load_state("networkidle")
    candidates = page.inner_text("#candidates")
    assert "匹配产品" in candidates and "产业链" in candidates
    page.wait_for_selector("#chain-graph[data-rendered]", timeout=15000)
    assert int(page.get_attribute("#chain-graph", "data-rendered")) > 2
    assert page.locator("#chain-graph canvas").count() >= 1
    shot(page, "large-firm-candidates.png")


def test_organizer_opens_the_dashboard(page, live_server, sign_in):
    sign_in("org@t.cn")
    page.goto(f"{live_server}/organizer/")
    page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)
    assert page.locator("#chart-type svg").count() == 1 and page.locator("#chart-funnel svg").count() == 1
    shot(page, "organizer-dashboard.png")


def test_an_incubation_demand_keeps_the_stage_it_shares_with_investment(page, live_server, sign_in):
    """Investment and incubation both ask for the stage: one input, so what is typed is what is saved."""
    sign_in("large@t.cn")
    page.goto(f"{live_server}/demands/new")
    page.select_option("#demand-type", "incubation")
    assert page.locator("input[name=stage]").count() == 1 and page.is_visible("input[name=stage]")
    assert not page.is_visible("input[name=amount]")  # investment only
    page.fill("input[name=title]", "孵化储能初创团队")
    page.fill("input[name=stage]", "天使轮")
    page.fill("input[name=support_needed]", "中试产线与场景验证")
    page.click("#publish")
    page.wait_for_load_state("networkidle")
    assert "天使轮" in page.inner_text("main") and "中试产线与场景验证" in page.inner_text("main")


def test_a_long_unbroken_word_wraps_instead_of_widening_the_page(page, live_server, sign_in):
    sign_in("large@t.cn")
    page.goto(f"{live_server}/demands/new?type=supply_chain")
    page.fill("input[name=title]", "采购" + "隔膜" * 3 + "X" * 150)
    page.fill("textarea[name=description]", "Y" * 400)
    page.fill("input[name=wanted_products]", "锂电池隔膜")
    page.click("#publish")
    page.wait_for_load_state("networkidle")
    assert "Y" * 400 in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
