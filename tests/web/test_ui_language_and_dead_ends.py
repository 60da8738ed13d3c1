"""QA findings on the pages: English pages that showed Chinese labels (event statistics, contract
counter-offer, firm size and tier), error pages that showed Werkzeug's English, bare 400 pages for
event form input, CSV exports with a doubled charset, links that led to 403 (the demo organizer's
region reports, the admin's "post a demand/project"), and the profile tier that could not be cleared."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.enterprise.firms import update_profile
from marketplace.events.invitees import stored_segment
from marketplace.models import EventInvitation, Firm, MeetingRequest, Organization, Tier, User
from tests.web.test_contracts_web import _start as start_contract_over_http
from tests.web.test_events import world  # noqa: F401 - the event fixture

REPORT_LABELS_EN = (
    "Participating firms",
    "of which large enterprises",
    "of which SMEs",
    "Firms checked in",
    "Meetings held",
    "Meetings scheduled",
    "Meetings with an intent",
    "Cooperation agreements",
    "Agreed amount (×10k CNY)",
    "Signed amount (×10k CNY)",
)


# --- English pages -----------------------------------------------------------------------------


def test_event_statistics_labels_are_english_on_the_english_page(login, world, loaded):  # noqa: F811
    with session_scope(loaded) as s:  # one invitation in a chain segment, as the invite page stores it
        invitation = s.scalar(select(EventInvitation).where(EventInvitation.event_id == world["event"]))
        invitation.segment = stored_segment("upstream")
    client = login("organizer")
    client.get("/lang/en")
    page = client.get(f"/events/{world['event']}/stats").get_data(as_text=True)
    for label in REPORT_LABELS_EN:
        assert label in page
    assert "<td>Upstream materials</td>" in page and "上游原材料" not in page
    for chinese in ("参会企业数", "其中中小企业", "对接场次", "意向数", "金额（万元）", "未分类"):
        assert chinese not in page
    client.get("/lang/zh")
    page = client.get(f"/events/{world['event']}/stats").get_data(as_text=True)
    assert "参会企业数" in page and "意向金额（万元）" in page and "Participating firms" not in page
    # the filed report (CSV/XLSX) and the API keep the Chinese row names as their keys
    client.get("/lang/en")
    body = client.get(f"/events/{world['event']}/report.csv").data.decode("utf-8-sig")
    assert "参会企业数" in body and "对接场次" in body and "\n上游原材料," in body and "Upstream" not in body
    headers = {"Authorization": f"Bearer {world['tokens']['organizer']}"}
    report = client.get(f"/api/v1/events/{world['event']}/stats", headers=headers).get_json()["report"]
    assert "参会企业数" in report and "签约数" in report


def test_contract_counter_offer_form_labels_follow_the_page_language(login, people):
    cid = start_contract_over_http(login, people)
    client = login("sme")
    client.get("/lang/en")
    page = client.get(f"/contracts/{cid}/counter").get_data(as_text=True)
    assert "Purchase contract" in page and "Total amount (CNY)" in page and "Place of signing" in page
    assert "采购合同" not in page and "合同总金额（元）" not in page and "签订地点" not in page
    detail = client.get(f"/contracts/{cid}").get_data(as_text=True)
    assert "· Purchase contract ·" in detail and "采购合同" not in detail  # the kind of contract, one language
    listing = client.get("/contracts/").get_data(as_text=True)
    assert "/ Contracts" not in listing
    client.get("/lang/zh")
    assert "· 采购合同 ·" in client.get(f"/contracts/{cid}").get_data(as_text=True)


def test_a_required_contract_field_is_named_in_the_pages_language(login, people):
    cid = start_contract_over_http(login, people)
    client = login("large")  # the drafter reworks its first round with the title blanked
    client.get("/lang/en")
    english = client.post(f"/contracts/{cid}/counter", data={"title": ""}).get_data(as_text=True)
    client.get("/lang/zh")
    chinese = client.post(f"/contracts/{cid}/counter", data={"title": ""}).get_data(as_text=True)
    assert "Contract title is required" in english and "合同名称" not in english
    assert "合同名称" in chinese and "Contract title" not in chinese
    page = client.get(f"/contracts/{cid}/counter").get_data(as_text=True)
    assert "采购合同" in page and "合同总金额（元）" in page


def test_firm_page_shows_size_and_tier_in_the_readers_language(client, loaded, people):
    with session_scope(loaded) as s:
        s.get(Firm, people["sme_firm"]).tier = Tier.SPECIALIZED
    client.get("/lang/en")
    page = client.get(f"/firms/{people['sme_firm']}").get_data(as_text=True)
    assert "SME" in page and "Specialized &amp; innovative" in page
    assert "中小企业" not in page and "专精特新" not in page
    assert "Entered by the firm" in page  # where the profile comes from, not the code "user"
    large = client.get(f"/firms/{people['large_firm']}").get_data(as_text=True)
    assert "Large enterprise" in large and "大型企业" not in large
    assert "ChainKG (A-share industry-chain knowledge graph)" in large
    client.get("/lang/zh")
    page = client.get(f"/firms/{people['sme_firm']}").get_data(as_text=True)
    assert "中小企业" in page and "专精特新" in page and "企业自行填写" in page


def test_event_browse_shows_the_tier_in_the_readers_language(login, world, loaded):  # noqa: F811
    with session_scope(loaded) as s:
        s.get(Firm, world["large_firm"]).tier = Tier.SINGLE_CHAMPION
    client = login("sme")
    client.get("/lang/en")
    page = client.get(f"/events/{world['event']}/browse").get_data(as_text=True)
    assert "Single champion" in page and "制造业单项冠军" not in page


# --- error pages -------------------------------------------------------------------------------


def test_not_found_page_has_a_localized_title_instead_of_werkzeugs(client):
    client.get("/lang/zh")
    page = client.get("/no-such-page")
    text = page.get_data(as_text=True)
    assert page.status_code == 404 and "未找到" in text and "Not Found" not in text
    assert "The requested URL was not found" not in text
    client.get("/lang/en")
    text = client.get("/no-such-page").get_data(as_text=True)
    assert "Not found" in text and "未找到" not in text
    api = client.get("/api/v1/no-such-route", headers={"Accept-Language": "zh"}).get_json()
    assert api["message"] == "Not Found"  # the API's JSON errors stay as they were


def test_bare_bad_request_page_is_localized(login, world):  # noqa: F811
    client = login("organizer")
    client.get("/lang/zh")
    page = client.post(f"/events/{world['event']}/status/bogus")
    text = page.get_data(as_text=True)
    assert page.status_code == 400 and "请求有误" in text and "请求无效，请检查后重试。" in text
    assert "Bad Request" not in text and "The browser (or proxy) sent a request" not in text


def test_bad_request_page_keeps_the_apps_own_description(client):
    client.get("/lang/zh")
    page = client.get("/firms/?page=-1")
    text = page.get_data(as_text=True)
    assert (
        page.status_code == 400
        and "页码：请填写 1 到 10000 之间的整数（收到 &#39;-1&#39;）" in text
        and "请求有误" in text
    )
    client.get("/lang/en")
    text = client.get("/firms/?page=-1").get_data(as_text=True)
    assert "Page: give a whole number from 1 to 10000 (got &#39;-1&#39;)" in text


# --- event form input errors -------------------------------------------------------------------


def test_bad_representatives_number_flashes_the_field_and_returns_to_the_event(login, world):  # noqa: F811
    client = login("sme")
    client.get("/lang/zh")
    for bad in ("0", "abc"):
        r = client.post(f"/events/{world['event']}/register", data={"representatives": bad})
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/events/{world['event']}")
        page = client.get(r.headers["Location"]).get_data(as_text=True)
        assert "参会代表人数" in page and "flash error" in page


def test_too_long_meeting_request_message_flashes_the_field_and_sends_nothing(login, world, loaded):  # noqa: F811
    client = login("sme")
    client.get("/lang/en")
    r = client.post(f"/events/{world['event']}/requests/{world['large_firm']}", data={"message": "m" * 1001})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/events/{world['event']}/browse")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Message (why you want to meet): " in page and "flash error" in page
    with session_scope(loaded) as s:
        assert s.scalar(select(MeetingRequest).where(MeetingRequest.event_id == world["event"])) is None


# --- CSV exports -------------------------------------------------------------------------------


def test_csv_exports_send_one_charset(login, world):  # noqa: F811
    client = login("organizer")
    for url in (f"/events/{world['event']}/report.csv", "/organizer/export.csv"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# --- links that led to 403 ---------------------------------------------------------------------


def test_demo_organizer_opens_the_region_reports_its_nav_links_to(client, loaded, people):
    from marketplace.accounts.demo import ensure_demo_accounts

    with session_scope(loaded) as s:
        ensure_demo_accounts(s, "chainmatch-demo")
    r = client.post("/auth/login", data={"email": "organizer@demo.chainmatch.cn", "password": "chainmatch-demo"})
    assert r.status_code == 302
    assert client.get("/tiers/pipeline").status_code == 200
    assert client.get("/consortia/report").status_code == 200
    with session_scope(loaded) as s:
        org = s.scalar(select(User).where(User.email == "organizer@demo.chainmatch.cn")).organization
        assert org.region == "上海"


def test_demo_accounts_rerun_keeps_an_organizers_region_and_fills_a_missing_one(loaded, people):
    from marketplace.accounts.demo import ensure_demo_accounts

    with session_scope(loaded) as s:
        first = ensure_demo_accounts(s, "chainmatch-demo")
        org = s.scalar(select(User).where(User.email == "organizer@demo.chainmatch.cn")).organization
        org.region = "江苏"  # an admin changed it: a rerun leaves it alone
        assert ensure_demo_accounts(s, "chainmatch-demo") == first
        assert org.region == "江苏"
        org.region = None  # installs made before the demo organization had a region
        ensure_demo_accounts(s, "chainmatch-demo")
        assert org.region == "上海"
        assert s.scalar(select(Organization).where(Organization.name == org.name)).id == org.id


def test_admin_without_a_firm_is_not_offered_posting_links_that_403(login, people):
    client = login("admin")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/demands/new"' not in home
    consortia = client.get("/consortia/").get_data(as_text=True)
    assert 'href="/consortia/new"' not in consortia
    client = login("large")
    assert 'href="/demands/new"' in client.get("/").get_data(as_text=True)
    assert 'href="/consortia/new"' in client.get("/consortia/").get_data(as_text=True)


# --- profile tier ------------------------------------------------------------------------------


def test_profile_empty_tier_choice_clears_the_tier(login, loaded, people):
    with session_scope(loaded) as s:
        s.get(Firm, people["sme_firm"]).tier = Tier.SPECIALIZED  # recognised earlier
    client = login("sme")
    assert client.post("/profile", data={"tier": ""}).status_code == 302
    with session_scope(loaded) as s:
        firm = s.get(Firm, people["sme_firm"])
        assert firm.tier is None and firm.tier_claim is None
        firm.tier = Tier.INNOVATIVE
        update_profile(s, firm, products=["锂电池隔膜"])  # other callers: no tier given keeps it
        assert firm.tier is Tier.INNOVATIVE


def test_english_pages_use_ascii_punctuation_around_labels(login, people):
    client = login("sme")
    client.get("/lang/en")
    page = client.get("/profile").get_data(as_text=True)
    client.get("/lang/zh")
    assert "Recognised tier: " in page and "Recognised tier：" not in page
    chinese = client.get("/profile").get_data(as_text=True)
    assert "已认定梯度：" in chinese  # Chinese keeps its full-width colon
