"""Enterprise services in real headless Chromium: an SME checks its tier and its policies; a large
firm posts a procurement project and builds a consortium from the proposed line-up."""

from __future__ import annotations

import pytest

from marketplace.db import session_scope
from marketplace.enterprise.demo import load_enterprise_demo
from tests.browser.test_flows import shot

pytestmark = pytest.mark.browser


@pytest.fixture
def services(loaded, people):
    with session_scope(loaded) as s:
        load_enterprise_demo(s)
    return loaded


def test_sme_checks_its_tier_and_policies(services, page, live_server, sign_in):
    sign_in("sme@t.cn")
    page.goto(f"{live_server}/tiers/")
    assert page.inner_text("#tier-highest") == "尚未达到任何梯度"
    for name, value in {
        "revenue": "9800",
        "main_business_share": "88",
        "revenue_growth": "12",
        "rd_expense": "620",
        "rd_share": "6.3",
        "employees": "120",
        "debt_ratio": "45",
    }.items():
        page.fill(f"#f-{name}", value)
    page.select_option("#f-ip_class", "class_i_own")
    page.check("#f-strategic_emerging-yes")
    page.click("#figures-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "企业数据已保存" in page.inner_text("main")
    assert page.inner_text("#tier-highest") == "创新型中小企业"
    assert "专精特新中小企业" in page.inner_text("#next-tier")
    assert "评分 90 / 100" in page.inner_text("#tier-innovative")
    shot(page, "sme-tier-assessment.png")
    page.goto(f"{live_server}/policies/mine")
    qualifies = page.inner_text("#policies-qualifies")
    assert "关于进一步完善研发费用税前加计扣除政策的公告" in qualifies
    nearly = page.inner_text("#policies-nearly")  # policies ask for a recognised tier, not a self-assessed one
    assert "上海市中小企业研发投入补贴（创新型中小企业）" in nearly and "尚未认定梯度" in nearly
    shot(page, "sme-policies.png")


def test_saving_the_tier_form_confirms_in_view_and_keeps_a_no(services, page, live_server, sign_in):
    """Saving from the bottom of the long figures form: the confirmation and the new assessment
    are what the reloaded page shows first; a 否 stays a no (an unticked box used to mean blank)."""
    sign_in("sme@t.cn")
    page.goto(f"{live_server}/tiers/")
    page.fill("#f-revenue", "9800")
    page.check("#f-own_brand-no")
    page.locator("#figures-form button[type=submit]").scroll_into_view_if_needed()
    page.click("#figures-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    saved = page.locator(".flash.success")
    assert "企业数据已保存，已按新数据重新评估：" in saved.inner_text()
    box = saved.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]  # seen, not scrolled past
    assert page.is_checked("#f-own_brand-no") and not page.is_checked("#f-own_brand-unknown")
    brand = page.locator("#tier-little_giant li", has_text="自主品牌")
    assert "✗" in brand.inner_text() and "未填写" not in brand.inner_text()
    page.locator("#figures-form").scroll_into_view_if_needed()
    shot(page, "sme-tier-form-saved.png")


def test_large_firm_builds_a_consortium(services, page, live_server, sign_in):
    sign_in("large@t.cn")
    page.goto(f"{live_server}/consortia/new")
    page.fill("#c-title", "光伏储能一体化项目联合体")
    page.fill("#c-region", "上海")
    page.fill("#c-share", "30")
    page.fill("#c-lots", "光伏玻璃 | 光伏玻璃 | 800\n储能电池隔膜 | 锂电池隔膜、涂覆隔膜 | 400\n电解液 | 电解液 | 300")
    page.click("#project-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "采购项目已创建" in page.inner_text("main")
    page.click("text=生成联合体方案")
    page.wait_for_load_state("networkidle")
    lineup = page.inner_text("#lineup-1")
    assert "第1包" in lineup and "第3包" in lineup and "产业链" in lineup and "中小企业" in lineup
    shot(page, "large-firm-consortium-proposal.png")
    page.click("#lineup-1 .invite-lineup")
    page.wait_for_load_state("networkidle")
    assert "已发出 3 份邀请" in page.inner_text("main")
    assert page.inner_text("#lots").count("已邀请") == 3
    shot(page, "large-firm-consortium-invited.png")
