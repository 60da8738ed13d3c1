"""云签约 in real headless Chromium: draft → counter → accept → approve → both sign → download →
public verification page (link and upload)."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_flows import shot
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser
SIGN_PW = "browser-sign-pw"
FILL = {
    "amount": "800000",
    "sign_place": "上海",
    "product": "涂覆隔膜",
    "specification": "9μm 基膜 + 3μm 陶瓷涂覆",
    "quantity": "100 万平方米",
    "unit_price": "0.80",
    "delivery_schedule": "2027 年 3 月起分批交付",
    "acceptance": "到货 10 日内抽检",
    "payment_milestones": "预付 30%，验收后 70%",
}


@pytest.fixture
def as_user(browser, live_server):
    contexts = []

    def open_as(email: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server}/auth/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    yield open_as
    for context in contexts:
        context.close()


def _enroll(page, live_server) -> None:
    page.goto(f"{live_server}/contracts/signing-key")
    page.fill("#signing_password", SIGN_PW)
    page.fill("#confirm", SIGN_PW)
    page.click("#key-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "签署证书已签发" in page.inner_text("main")


def sign(page, contract_url: str, password: str = SIGN_PW) -> None:
    """Open the contract, follow its sign link and sign with ``password``; the page says it worked."""
    page.goto(contract_url)
    page.click("#sign-link")
    page.fill("#signing_password", password)
    page.click("#sign-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "签署成功" in page.inner_text("main")


def test_draft_counter_approve_sign_download_and_verify(as_user, live_server, page, tmp_path):
    large = as_user("large@t.cn")
    large.goto(f"{live_server}/contracts/new")
    large.select_option("#other_firm_id", label="测试隔膜科技（上海）有限公司")
    large.select_option("#template", "supply_chain")
    large.fill("#title", "隔膜采购合同")
    large.click("#new-contract button[type=submit]")
    large.wait_for_load_state("networkidle")
    assert "合同草稿已创建" in large.inner_text("main")
    contract_url = large.url
    assert re.search(r"/contracts/\d+$", contract_url)

    sme = as_user("sme@t.cn")
    sme.goto(contract_url)
    sme.click("#counter-link")
    for key, value in FILL.items():
        sme.fill(f"#f-{key}", value)
    sme.fill("#note", "补全价格与交付条款")
    sme.click("#counter-form button[type=submit]")
    sme.wait_for_load_state("networkidle")
    assert "0.80" in sme.inner_text("#round-diff")
    shot(sme, "contract-negotiation.png")

    large.goto(contract_url)
    large.click("text=接受本轮条款")
    large.wait_for_load_state("networkidle")
    large.click("#approve-form button[value=approve]")
    large.wait_for_load_state("networkidle")
    sme.goto(contract_url)
    sme.click("#approve-form button[value=approve]")
    sme.wait_for_load_state("networkidle")
    assert "签署中" in sme.inner_text("#contract-status")

    _enroll(large, live_server)
    _enroll(sme, live_server)
    sign(large, contract_url)
    sign(sme, contract_url)
    assert "已签署" in sme.inner_text("#contract-status")
    shot(sme, "contract-signed.png")

    with sme.expect_download() as download:
        sme.click("#download-pdf")
    pdf_path = tmp_path / "contract.pdf"
    download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")

    sme.click("#verify-link")
    sme.wait_for_load_state("networkidle")
    assert "验证通过" in sme.inner_text("#verify-result")

    page.goto(f"{live_server}/contracts/verify")  # a third party, not signed in
    page.set_input_files("#verify-form input[type=file]", str(pdf_path))
    page.click("#verify-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    result = page.inner_text("#verify-result")
    assert "验证通过" in result and "采购" in result
    shot(page, "contract-verify.png")
