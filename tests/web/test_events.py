"""Event pages and the events API: the organizer's flow, the participant's flow, agendas (ICS,
print, QR), check-in, outcomes, the report export, and the permission rules: another
organization's organizer, non-participants and anonymous users are denied on every route."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import delete, select

from marketplace.accounts.permissions import firm_viewer
from marketplace.accounts.users import create_user, issue_api_token
from marketplace.db import session_scope
from marketplace.enterprise.firms import create_firm
from marketplace.events import access as evacl
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events import registrations as evreg
from marketplace.events.scheduling import schedule_event
from marketplace.models import (
    Event,
    EventDemand,
    EventRegistration,
    EventStatus,
    FirmKind,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    Organization,
    RequestStatus,
    Role,
)
from tests.events_helpers import event_day_has_come
from tests.web.conftest import PASSWORD


@pytest.fixture
def world(loaded, people):
    """An event of 测试协会 (the `organizer` user's organization): 福莱特 with its separator demand on
    the board, the separator SME and the second SME registered; another association's organizer
    and an SME that takes no part, with API tokens."""
    with session_scope(loaded) as s:
        org = s.scalar(select(Organization).where(Organization.name == "测试协会"))
        event = ev.create_event(
            s,
            org.id,
            {
                "title": "锂电池产业链对接会",
                "focus_products": ["锂电池", "隔膜"],
                "start_date": (date.today() + timedelta(days=20)).isoformat(),
                "sessions": ["09:00-10:15"],
                "tables": 3,
            },
        )
        ev.set_event_status(s, event, EventStatus.OPEN)
        ev.add_event_demands(s, event, [people["demand"]])
        evreg.invite_firms(s, event, [people["large_firm"], people["sme_firm"], people["other_sme"]])
        regs = {
            f: evreg.register_firm(s, event, f) for f in (people["large_firm"], people["sme_firm"], people["other_sme"])
        }
        stranger = create_user(
            s,
            email="org2@t.cn",
            password=PASSWORD,
            name="别家组织方",
            role=Role.ORGANIZER,
            organization_name="别家协会",
        )
        outsider_firm = create_firm(s, name="局外测试企业有限公司", kind=FirmKind.SME)
        outsider = create_user(
            s, email="out@t.cn", password=PASSWORD, name="局外", role=Role.SME, firm_id=outsider_firm.id
        )
        people["emails"].update(stranger="org2@t.cn", outsider="out@t.cn")
        people["tokens"].update(stranger=issue_api_token(s, stranger), outsider=issue_api_token(s, outsider))
        return {
            "event": event.id,
            "tokens": people["tokens"],
            "token_of": {r.firm_id: r.checkin_token for r in regs.values()},
            "outsider_firm": outsider_firm.id,
            **people,
        }


def _schedule_by_hand(loaded, world, slot: int = 0, table: int = 0) -> int:
    """An accepted request placed in a slot directly (the scheduler's own tests live elsewhere)."""
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        req = evreq.request_meeting(s, event, world["sme_firm"], world["large_firm"], demand_id=world["demand"])
        evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
        meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
        meeting.slot, meeting.table_no, meeting.status = slot, table, MeetingStatus.SCHEDULED
        s.flush()
        return meeting.id


def _event_day(loaded, world) -> None:
    """The world's event takes place today (event time zone): check-in, held / no-show and ending it are allowed."""
    with session_scope(loaded) as s:
        event_day_has_come(s, s.get(Event, world["event"]))


# --- organizer flow ---------------------------------------------------------------------------


def test_organizer_creates_an_event_with_the_form(login, world):
    client = login("organizer")
    response = client.post(
        "/events/new",
        data={
            "title": "新能源汽车产业链对接会",
            "format": "hybrid",
            "focus_products": "锂电池, 新能源汽车",
            "start_date": (date.today() + timedelta(days=40)).isoformat(),
            "days": 1,
            "sessions": "09:00-12:00, 13:30-17:00",
            "slot_minutes": 20,
            "gap_minutes": 5,
            "tables": 30,
            "capacity_large": 20,
            "capacity_sme": 100,
            "request_rule": "approval",
            "request_expiry_hours": 48,
            "pending_cap": 10,
            "sme_min_meetings": 1,
            "large_max_meetings": 16,
            "max_representatives": 3,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "新能源汽车产业链对接会" in page and "共 15 个时段" in page


@pytest.mark.parametrize(
    ("language", "shown", "not_shown"),
    [
        ("zh", "不是时间段，请写成 HH:MM-HH:MM，例如 09:00-12:00", "is not a time range"),
        ("en", "is not a time range; write it as HH:MM-HH:MM, e.g. 09:00-12:00", "不是时间段"),
    ],
)
def test_event_form_with_bad_sessions_shows_the_field_error_in_the_readers_language(
    login, world, language, shown, not_shown
):
    client = login("organizer")
    response = client.post(
        "/events/new",
        data={
            "title": "对接会",
            "format": "onsite",
            "start_date": (date.today() + timedelta(days=40)).isoformat(),
            "days": 1,
            "sessions": "上午",
            "slot_minutes": 20,
            "gap_minutes": 5,
            "tables": 3,
            "capacity_large": 1,
            "capacity_sme": 1,
            "request_rule": "approval",
            "request_expiry_hours": 48,
            "pending_cap": 10,
            "sme_min_meetings": 1,
            "large_max_meetings": 16,
            "max_representatives": 3,
        },
        headers={"Accept-Language": language},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert shown in page and not_shown not in page


def test_event_service_errors_are_flashed_in_the_readers_language(login, world, loaded):
    client = login("organizer")
    send = f"/events/{world['event']}/send"
    page = client.post(send, follow_redirects=True).get_data(as_text=True)
    assert "尚未排入任何洽谈，请先运行排程" in page and "status: " not in page and "nothing is scheduled" not in page
    page = client.post(send, headers={"Accept-Language": "en"}, follow_redirects=True).get_data(as_text=True)
    assert "Nothing is scheduled yet; run the scheduler first" in page
    with session_scope(loaded) as s:  # invited firms were approved at once: a second decision is refused
        reg_id = s.scalar(select(EventRegistration.id).where(EventRegistration.event_id == world["event"]))
    decide = f"/events/{world['event']}/registrations/{reg_id}/approve"
    page = client.post(decide, follow_redirects=True).get_data(as_text=True)
    assert "该报名已处理（已通过）" in page
    page = client.post(decide, headers={"Accept-Language": "en"}, follow_redirects=True).get_data(as_text=True)
    assert "Already approved" in page


def test_invite_page_ranks_firms_with_reasons_and_segments(login, world):
    client = login("organizer")
    page = client.get(f"/events/{world['event']}/invite").get_data(as_text=True)
    assert "上游原材料" in page and "下游应用" in page
    assert "需求《采购锂电池隔膜》涉及产业链" in page  # 福莱特 on the large side, with why
    assert 'name="firm_id"' in page


def _reason_items(page: str) -> list[str]:
    return [
        item
        for ul in re.findall(r'<ul class="reasons">(.*?)</ul>', page, re.S)
        for item in re.findall(r"<li>(.*?)</li>", ul)
    ]


RAW = ("{&#39;kind&#39;", "{'kind'", "registration_approved", "registration_pending")


def test_invite_page_shows_reasons_segments_and_statuses_in_the_readers_language(login, world):
    client = login("organizer")
    url = f"/events/{world['event']}/invite"
    page = client.get(url).get_data(as_text=True)
    reasons = _reason_items(page)
    assert "需求《采购锂电池隔膜》涉及产业链：锂电池、隔膜" in reasons  # 福莱特 on the large side, with why
    assert "企业名称涉及产业链：隔膜" in reasons and "可满足需求《采购锂电池隔膜》（福莱特）" in reasons
    assert "匹配产品：锂电池隔膜" in reasons  # the engine's reasons, written out
    assert ">核心产品<" in page and ">上游原材料<" in page and "Upstream materials" not in page
    assert ">报名：已通过<" in page
    assert not any(raw in page for raw in RAW)
    client.get("/lang/en")
    try:
        page = client.get(url).get_data(as_text=True)
    finally:
        client.get("/lang/zh")
    reasons = _reason_items(page)
    assert "Demand “采购锂电池隔膜” is in the chain: 锂电池, 隔膜" in reasons
    assert "Firm name mentions the chain: 隔膜" in reasons and "Can meet demand “采购锂电池隔膜” (福莱特)" in reasons
    assert "Matching products: 锂电池隔膜" in reasons
    assert ">Core products<" in page and ">Upstream materials<" in page
    assert not any(word in page for word in ("上游原材料", "核心产品", "下游应用"))
    assert ">Registration: Approved<" in page
    assert not any(raw in page for raw in RAW)
    chinese_sentences = ("需求《", "涉及产业链", "生产", "企业名称", "可满足", "匹配产品", "文本相关", "产业链：")
    assert not [r for r in reasons if any(word in r for word in chinese_sentences)]
    api = client.get(
        f"/api/v1/events/{world['event']}/invite-suggestions",
        headers={"Authorization": f"Bearer {world['tokens']['organizer']}"},
    ).get_json()
    buyer = next(r for r in api["large"] if r["firm_id"] == world["large_firm"])
    assert buyer["status"] == "registration_approved" and buyer["reason_data"][0]["kind"] == "demand_in_chain"


def test_invitation_reasons_and_segments_on_the_event_page_in_the_readers_language(login, world, loaded):
    from marketplace.events.invitees import stored_segment

    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        reasons = {world["outsider_firm"]: [{"kind": "name_in_chain", "term": "隔膜"}, {"kind": "lexical"}]}
        evreg.invite_firms(s, event, [world["outsider_firm"]], reasons)
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        reg.segment = stored_segment("upstream")
    url = f"/events/{world['event']}"
    for who, zh, en in [
        (
            "outsider",
            ["企业名称涉及产业链：隔膜", "文本相关（BM25）"],
            ["Firm name mentions the chain: 隔膜", "Text match (BM25)"],
        ),
        ("organizer", ["上游原材料"], ["Upstream materials"]),
    ]:
        client = login(who)
        page = client.get(url).get_data(as_text=True)
        shown = _reason_items(page) if who == "outsider" else re.findall(r"<td>([^<]*)</td>", page)
        assert set(zh) <= set(shown) and not set(en) & set(shown)
        client.get("/lang/en")
        try:
            page = client.get(url).get_data(as_text=True)
        finally:
            client.get("/lang/zh")
        shown = _reason_items(page) if who == "outsider" else re.findall(r"<td>([^<]*)</td>", page)
        assert set(en) <= set(shown) and not set(zh) & set(shown)
        assert "{&#39;kind&#39;" not in page and "上游原材料 / Upstream materials" not in page


def test_request_status_and_reasons_are_labelled_in_the_readers_language(login, world, loaded):
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        req = evreq.request_meeting(s, event, world["sme_firm"], world["large_firm"], demand_id=world["demand"])
        req.reasons = [{"kind": "products", "terms": ["锂电池隔膜"]}, "旧版理由"]
    browse, requests = f"/events/{world['event']}/browse", f"/events/{world['event']}/requests"
    status = re.compile(r'<div class="tag muted">([^<]*)</div>')
    for lang, label, other, reason in [
        ("zh", "洽谈申请：待回复", "Awaiting answer", "匹配产品：锂电池隔膜"),
        ("en", "Awaiting answer", "待回复", "Matching products: 锂电池隔膜"),
    ]:
        try:
            client = login("sme")
            client.get(f"/lang/{lang}")
            shown = status.findall(client.get(browse).get_data(as_text=True))
            client = login("large")
            client.get(f"/lang/{lang}")
            page = client.get(requests).get_data(as_text=True)
        finally:
            client.get("/lang/zh")
        assert any(label in s for s in shown) and not any("pending" in s or other in s for s in shown)
        assert reason in _reason_items(page) and "旧版理由" in _reason_items(page)  # stored text as written
        assert "{&#39;kind&#39;" not in page
    api = client.get(
        f"/api/v1/events/{world['event']}/participants", headers={"Authorization": f"Bearer {world['tokens']['sme']}"}
    )
    assert {r["firm_id"]: r["request_status"] for r in api.get_json()["items"]}[world["large_firm"]] == "pending"


def test_sme_requests_a_meeting_and_the_large_firm_accepts(login, world, loaded):
    client = login("sme")
    browse = client.get(f"/events/{world['event']}/browse").get_data(as_text=True)
    assert "采购锂电池隔膜" in browse
    response = client.post(
        f"/events/{world['event']}/requests/{world['large_firm']}",
        data={"message": "我们生产涂覆隔膜", "demand_id": str(world["demand"])},
    )
    assert response.status_code == 302
    client = login("large")
    page = client.get(f"/events/{world['event']}/requests").get_data(as_text=True)
    assert "我们生产涂覆隔膜" in page
    with session_scope(loaded) as s:
        req_id = s.scalar(select(MeetingRequest.id))
    client.post(f"/events/{world['event']}/requests/{req_id}/answer/accept")
    with session_scope(loaded) as s:
        meeting = s.scalar(select(Meeting))
        assert meeting.status is MeetingStatus.WAITING and meeting.demand_id == world["demand"]


def test_agenda_shows_table_numbers_and_the_ics_keeps_one_uid_per_meeting(login, world, loaded):
    meeting_id = _schedule_by_hand(loaded, world, slot=1, table=2)
    client = login("sme")
    page = client.get(f"/events/{world['event']}/agenda").get_data(as_text=True)
    assert "3 号桌" in page and "采购锂电池隔膜" in page and "<svg" in page
    first = Calendar.from_ical(client.get(f"/events/{world['event']}/agenda.ics").data)
    (entry,) = first.walk("VEVENT")
    uid, seq = str(entry["UID"]), int(entry["SEQUENCE"])
    assert entry.decoded("DTSTART").strftime("%H:%M") == "09:25"
    with session_scope(loaded) as s:  # a move, as a reschedule writes it
        m = s.get(Meeting, meeting_id)
        m.slot, m.sequence = 2, m.sequence + 1
    (moved,) = Calendar.from_ical(client.get(f"/events/{world['event']}/agenda.ics").data).walk("VEVENT")
    assert str(moved["UID"]) == uid and int(moved["SEQUENCE"]) == seq + 1
    assert moved.decoded("DTSTART").strftime("%H:%M") == "09:50"
    printable = client.get(f"/events/{world['event']}/agenda/print").get_data(as_text=True)
    assert "events.css" in printable and "3</td>" in printable and "采购锂电池隔膜" in printable
    assert client.get(f"/events/{world['event']}/checkin-qr.png").data[:4] == b"\x89PNG"


def test_organizer_device_checks_in_from_the_qr_url_and_participants_cannot(login, world, loaded):
    _schedule_by_hand(loaded, world)
    token = world["token_of"][world["sme_firm"]]
    client = login("sme")
    assert client.post(f"/events/{world['event']}/checkin/{token}").status_code == 403
    _event_day(loaded, world)
    client = login("organizer")
    assert "确认签到" in client.get(f"/events/{world['event']}/checkin/{token}").get_data(as_text=True)
    client.post(f"/events/{world['event']}/checkin/{token}")
    with session_scope(loaded) as s:
        meeting = s.scalar(select(Meeting))
        assert meeting.locked and meeting.checked_in_at is not None
    assert client.get(f"/events/{world['event']}/checkin/wrong-token").status_code == 404


def test_held_meeting_outcome_is_recorded_and_agreement_offers_a_contract(login, world, loaded):
    meeting_id = _schedule_by_hand(loaded, world)
    _event_day(loaded, world)
    client = login("sme")
    client.post(f"/events/{world['event']}/meetings/{meeting_id}/held")
    response = client.post(
        f"/events/{world['event']}/meetings/{meeting_id}/outcome", data={"outcome": "agreement", "amount": "80"}
    )
    assert response.status_code == 302
    page = client.get(f"/events/{world['event']}/meetings/{meeting_id}/outcome").get_data(as_text=True)
    assert "达成合作" in page and "采购方" in page and "start-contract" in page
    started = client.post(f"/events/{world['event']}/meetings/{meeting_id}/contract")
    assert started.status_code == 302 and "/contracts/" in started.headers["Location"]
    again = client.post(f"/events/{world['event']}/meetings/{meeting_id}/contract")
    assert again.headers["Location"] == started.headers["Location"]  # one contract per meeting
    client = login("sme2")  # not one of the two firms: the meeting is not shown to exist
    assert client.get(f"/events/{world['event']}/meetings/{meeting_id}/outcome").status_code == 404


def test_the_statistics_page_writes_amounts_as_people_write_them(login, world, loaded):
    """The page showed "意向金额（万元） 1250.5" and "120.0": amounts now read "1,250.5" and "120",
    as budgets do (the CSV/XLSX exports keep their plain numbers)."""
    meeting_id = _schedule_by_hand(loaded, world)
    _event_day(loaded, world)
    with session_scope(loaded) as s:
        m = s.get(Meeting, meeting_id)
        evmeet.mark_meeting(s, m, held=True)
        evmeet.record_outcome(s, m, m.sme_firm_id, {"outcome": "agreement", "amount": 1250.5})
    page = login("organizer").get(f"/events/{world['event']}/stats").get_data(as_text=True)
    row = re.search(r"意向金额（万元）</th><td>([^<]*)</td>", page)
    assert row and row.group(1) == "1,250.5", row and row.group(1)
    signed = re.search(r"<th>金额（万元）</th><td>([^<]*)</td>", page)
    assert signed and signed.group(1) == "0"


def test_report_counts_from_records_and_neutralises_formulas(login, world, loaded):
    meeting_id = _schedule_by_hand(loaded, world)
    _event_day(loaded, world)
    with session_scope(loaded) as s:
        m = s.get(Meeting, meeting_id)
        m.sme_firm.name = '=HYPERLINK("http://evil")'
        evmeet.mark_meeting(s, m, held=True)
        evmeet.record_outcome(s, m, m.sme_firm_id, {"outcome": "agreement", "amount": 50})
    client = login("organizer")
    stats = client.get(f"/events/{world['event']}/stats").get_data(as_text=True)
    assert "参会企业数" in stats and "签约数" in stats
    body = client.get(f"/events/{world['event']}/report.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    numbers = {r[0]: r[1] for r in rows if len(r) == 2}
    assert numbers["参会企业数"] == "3" and numbers["对接场次"] == "1" and numbers["意向数"] == "1"
    assert numbers["达成合作意向"] == "1" and numbers["意向金额（万元）"] == "50.0"
    assert numbers["签约数"] == "0" and numbers["金额（万元）"] == "0.0"  # nothing signed on the platform yet
    assert any(cell.startswith("'=HYPERLINK") for r in rows for cell in r)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(client.get(f"/events/{world['event']}/report.xlsx").data))
    cells = [c for row in book["洽谈明细"].iter_rows() for c in row]
    (evil,) = [c for c in cells if c.value and "HYPERLINK" in str(c.value)]
    assert evil.value == '=HYPERLINK("http://evil")' and evil.data_type == "s"  # text, never a formula


def test_waiting_list_reason_reads_in_the_readers_language_on_pages_and_in_english_in_the_api(
    client, login, world, loaded
):
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        req = evreq.request_meeting(s, event, world["sme_firm"], world["large_firm"], demand_id=world["demand"])
        evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        evreg.set_availability(s, reg, [])  # the SME can attend no slot: the meeting waits
        schedule_event(s, event, time_limit_s=5)
        name = reg.firm.display_name
    english = f"the two firms share no slot they can attend: participant '{name}' is available in no slot"
    chinese = f"双方没有共同的可参会时段：参会方 '{name}' 没有任何可参会时段"
    organizer = login("organizer")
    page = organizer.get(f"/events/{world['event']}/schedule").get_data(as_text=True)
    assert chinese.replace("'", "&#39;") in page and "share no slot" not in page
    body = organizer.get(f"/events/{world['event']}/report.csv").data.decode("utf-8-sig")
    assert chinese in body
    organizer.get("/lang/en")
    page = organizer.get(f"/events/{world['event']}/schedule").get_data(as_text=True)
    assert english.replace("'", "&#39;") in page and "没有共同" not in page
    organizer.get("/lang/zh")
    sme = login("sme")
    agenda = sme.get(f"/events/{world['event']}/agenda").get_data(as_text=True)
    assert "候补（未排入）" in agenda and chinese.replace("'", "&#39;") in agenda
    sme.get("/lang/en")
    agenda = sme.get(f"/events/{world['event']}/agenda").get_data(as_text=True)
    assert "Waiting list" in agenda and "候补（未排入）" not in agenda and english.replace("'", "&#39;") in agenda
    sme.get("/lang/zh")
    api = _api(client, world["tokens"]["organizer"], "get", f"/api/v1/events/{world['event']}/meetings").get_json()
    assert [m["reason"] for m in api["items"]] == [english]


# --- permissions ------------------------------------------------------------------------------

ORGANIZER_PAGES = [
    ("get", "/events/{e}/edit"),
    ("get", "/events/{e}/invite"),
    ("post", "/events/{e}/invite"),
    ("get", "/events/{e}/schedule"),
    ("post", "/events/{e}/schedule"),
    ("post", "/events/{e}/send"),
    ("post", "/events/{e}/propose"),
    ("get", "/events/{e}/stats"),
    ("get", "/events/{e}/report.csv"),
    ("get", "/events/{e}/report.xlsx"),
    ("post", "/events/{e}/status/finished"),
]
PARTICIPANT_PAGES = [
    ("get", "/events/{e}/browse"),
    ("get", "/events/{e}/requests"),
    ("get", "/events/{e}/agenda"),
    ("get", "/events/{e}/agenda.ics"),
    ("get", "/events/{e}/agenda/print"),
    ("get", "/events/{e}/availability"),
    ("get", "/events/{e}/survey"),
]


@pytest.mark.parametrize("who", ["stranger", "sme", "large", "outsider"])
def test_organizer_pages_deny_everyone_but_the_organizing_organization(login, world, who):
    client = login(who)
    for method, url in ORGANIZER_PAGES:
        response = getattr(client, method)(url.format(e=world["event"]))
        assert response.status_code in (403, 404), (who, url, response.status_code)


def test_event_pages_send_anonymous_users_to_sign_in(client, world):
    for method, url in ORGANIZER_PAGES + PARTICIPANT_PAGES:
        response = getattr(client, method)(url.format(e=world["event"]))
        assert response.status_code in (302, 401), url
        assert "/auth/login" in response.headers.get("Location", "/auth/login")


@pytest.mark.parametrize("who", ["stranger", "outsider"])
def test_participant_pages_deny_non_participants(login, world, who):
    client = login(who)
    for method, url in PARTICIPANT_PAGES:
        assert getattr(client, method)(url.format(e=world["event"])).status_code in (403, 404), (who, url)


def test_organizer_reads_pages_and_participant_reads_its_own(login, world):
    client = login("organizer")
    for _m, url in ORGANIZER_PAGES:
        if _m == "get" and "report" not in url and "invite" not in url:
            assert client.get(url.format(e=world["event"])).status_code == 200, url
    client = login("sme")
    for _m, url in PARTICIPANT_PAGES:
        assert client.get(url.format(e=world["event"])).status_code == 200, url


def test_other_organizations_organizer_does_not_see_the_event_in_lists(login, world):
    assert "锂电池产业链对接会" not in login("stranger").get("/events/").get_data(as_text=True)
    assert "锂电池产业链对接会" in login("organizer").get("/events/").get_data(as_text=True)


def _api(client, token, method, url, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return getattr(client, method)(url, headers=headers, **kw)


API_ORGANIZER = [
    ("patch", "/api/v1/events/{e}", {"title": "改名"}),
    ("get", "/api/v1/events/{e}/registrations", None),
    ("post", "/api/v1/events/{e}/invitations", {"firm_ids": [1]}),
    ("post", "/api/v1/events/{e}/schedule", {}),
    ("post", "/api/v1/events/{e}/proposals", None),
    ("get", "/api/v1/events/{e}/meetings", None),
    ("get", "/api/v1/events/{e}/stats", None),
]
API_PARTICIPANT = [
    ("get", "/api/v1/events/{e}/participants", None),
    ("get", "/api/v1/events/{e}/requests", None),
    ("get", "/api/v1/events/{e}/agenda", None),
    ("put", "/api/v1/events/{e}/availability", {"slots": [0]}),
]


def _denied_status(who: str | None) -> int:
    """401 without a token; 404 for an account that may not see the event at all (another
    organization's organizer: the event is not shown to exist, as on the pages); 403 otherwise."""
    return 401 if who is None else 404 if who == "stranger" else 403


def test_api_organizer_routes_are_denied_to_others(client, world):
    for who in (None, "stranger", "sme", "outsider"):
        token = world["tokens"][who] if who else None
        for method, url, body in API_ORGANIZER:
            response = _api(client, token, method, url.format(e=world["event"]), json=body)
            assert response.status_code == _denied_status(who), (who, url, response.get_json())


def test_api_participant_routes_are_denied_to_non_participants(client, world):
    for who in (None, "stranger", "outsider"):
        token = world["tokens"][who] if who else None
        for method, url, body in API_PARTICIPANT:
            response = _api(client, token, method, url.format(e=world["event"]), json=body)
            assert response.status_code == _denied_status(who), (who, url, response.get_json())


def test_api_hides_an_event_from_who_may_not_see_it_as_the_pages_do(client, login, world):
    stranger = world["tokens"]["stranger"]
    hidden = _api(client, stranger, "get", f"/api/v1/events/{world['event']}")
    missing = _api(client, stranger, "get", "/api/v1/events/99999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["message"] == f"event {world['event']} does not exist"
    page = login("stranger")
    assert page.get(f"/events/{world['event']}").status_code == 404


def test_api_unknown_event_is_404(client, world):
    assert _api(client, world["tokens"]["organizer"], "get", "/api/v1/events/99999").status_code == 404


def test_api_flow_request_answer_and_conflicts(client, world):
    e = world["event"]
    tokens = world["tokens"]
    detail = _api(client, tokens["sme"], "get", f"/api/v1/events/{e}").get_json()
    assert detail["access"] == "participant" and detail["slots"] == 3
    made = _api(client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]})
    assert made.status_code == 201
    again = _api(
        client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]}
    )
    assert again.status_code == 409 and "to_firm_id" in again.get_json()["detail"]
    bad = _api(client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": 999999})
    assert bad.status_code == 404
    req_id = made.get_json()["items"][0]["request_id"]
    assert (
        _api(
            client, tokens["sme"], "post", f"/api/v1/events/{e}/requests/{req_id}/answer", json={"accept": True}
        ).status_code
        == 403
    )
    ok = _api(client, tokens["large"], "post", f"/api/v1/events/{e}/requests/{req_id}/answer", json={"accept": True})
    assert ok.status_code == 200 and ok.get_json()["items"][0]["status"] == "accepted"
    twice = _api(client, tokens["large"], "post", f"/api/v1/events/{e}/requests/{req_id}/answer", json={"accept": True})
    assert twice.status_code == 409
    meetings = _api(client, tokens["organizer"], "get", f"/api/v1/events/{e}/meetings").get_json()["items"]
    assert meetings[0]["status"] == "waiting"
    bad_slots = _api(client, tokens["sme"], "put", f"/api/v1/events/{e}/availability", json={"slots": [99]})
    assert bad_slots.status_code == 409 and "slots" in bad_slots.get_json()["detail"]  # the event has no slot 99


def test_api_organizer_creates_events_and_others_cannot(client, world):
    body = {
        "title": "API 对接会",
        "start_date": (date.today() + timedelta(days=9)).isoformat(),
        "sessions": ["09:00-10:00"],
    }
    assert _api(client, world["tokens"]["sme"], "post", "/api/v1/events", json=body).status_code == 403
    made = _api(client, world["tokens"]["organizer"], "post", "/api/v1/events", json=body)
    assert made.status_code == 201 and made.get_json()["slots"] == 2
    listed = _api(client, world["tokens"]["stranger"], "get", "/api/v1/events").get_json()["items"]
    assert all(e["title"] != "API 对接会" for e in listed)  # a draft of another organization
    bad = _api(client, world["tokens"]["organizer"], "post", "/api/v1/events", json={**body, "sessions": ["x"]})
    assert bad.status_code == 400 and "sessions" in bad.get_json()["detail"]


def test_events_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/events/{event_id}/schedule" in spec["paths"]
    assert "/api/v1/events/{event_id}/agenda" in spec["paths"]


def test_admin_is_not_needed_but_allowed(login, world):
    client = login("admin")
    assert client.get(f"/events/{world['event']}/stats").status_code == 200


def test_only_the_organizer_marks_a_pair_must_meet_and_its_weight_follows(client, world, loaded):
    e = world["event"]
    made = _api(
        client, world["tokens"]["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]}
    )
    req_id = made.get_json()["items"][0]["request_id"]
    _api(
        client, world["tokens"]["large"], "post", f"/api/v1/events/{e}/requests/{req_id}/answer", json={"accept": True}
    )
    url = f"/api/v1/events/{e}/requests/{req_id}/must-meet"
    assert _api(client, world["tokens"]["sme"], "post", url, json={"must_meet": True}).status_code == 403
    assert _api(client, world["tokens"]["stranger"], "post", url, json={"must_meet": True}).status_code == 404
    ok = _api(client, world["tokens"]["organizer"], "post", url, json={"must_meet": True})
    assert ok.status_code == 200 and ok.get_json()["items"][0]["must_meet"] is True
    meetings = _api(client, world["tokens"]["organizer"], "get", f"/api/v1/events/{e}/meetings").get_json()["items"]
    assert meetings[0]["weight"] >= 1000


def test_api_registration_window_with_a_timezone_is_stored_as_utc(client, world, loaded):
    url = f"/api/v1/events/{world['event']}"
    start = date.fromisoformat(_api(client, world["tokens"]["organizer"], "get", url).get_json()["start_date"])
    opens, closes = start - timedelta(days=10), start - timedelta(days=2)
    body = {"registration_opens": f"{opens}T08:00:00+08:00", "registration_closes": f"{closes}T08:00:00+08:00"}
    response = _api(client, world["tokens"]["organizer"], "patch", url, json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["registration_opens"] == f"{opens}T00:00:00"
    late = {"registration_closes": f"{start + timedelta(days=1)}T08:00:00+08:00"}
    refused = _api(client, world["tokens"]["organizer"], "patch", url, json=late)
    assert refused.status_code == 400 and "registration_closes" in refused.get_json()["message"]


def test_api_organizer_decides_open_registrations_once(client, world):
    e = world["event"]
    made = _api(client, world["tokens"]["outsider"], "post", f"/api/v1/events/{e}/registrations", json={})
    assert made.status_code == 201 and made.get_json()["items"][0]["status"] == "pending"
    reg_id = made.get_json()["items"][0]["registration_id"]
    url = f"/api/v1/events/{e}/registrations/{reg_id}/decision"
    assert _api(client, world["tokens"]["outsider"], "post", url, json={"accept": True}).status_code == 403
    assert _api(client, world["tokens"]["stranger"], "post", url, json={"accept": True}).status_code == 404
    ok = _api(client, world["tokens"]["organizer"], "post", url, json={"accept": True})
    assert ok.status_code == 200 and ok.get_json()["items"][0]["status"] == "approved"
    assert _api(client, world["tokens"]["organizer"], "post", url, json={"accept": False}).status_code == 409


def test_event_pages_speak_english_when_chosen(login, world):
    client = login("sme")
    client.get("/lang/en")
    page = client.get(f"/events/{world['event']}/agenda").get_data(as_text=True)
    assert "Meeting agenda" in page and "Download calendar (ICS)" in page


def test_a_survey_with_bad_answers_is_shown_again_with_400(login, world):
    client = login("sme")
    response = client.post(f"/events/{world['event']}/survey", data={"satisfaction": "9", "contract_amount": "abc"})
    assert response.status_code == 400 and "has-error" in response.get_data(as_text=True)
    assert client.get(f"/events/{world['event']}/survey").status_code == 200


# --- refused input, status rules and hidden objects ----------------------------------------------

FORM_ID_ROUTES = [  # (who, url, field): ids posted by the event forms
    ("organizer", "/events/{e}/demands", "demand_id"),
    ("organizer", "/events/{e}/invite", "firm_id"),
    ("sme", "/events/{e}/availability", "slot"),
    ("sme", "/events/{e}/requests/{large}", "demand_id"),
    ("large", "/events/{e}/proposals/accept", "request_id"),
]


@pytest.mark.parametrize(("who", "url", "field"), FORM_ID_ROUTES, ids=[r[2] + r[1] for r in FORM_ID_ROUTES])
@pytest.mark.parametrize("raw", ["²", "abc", "-1"])
def test_a_posted_id_that_is_not_ascii_digits_answers_400_naming_the_field(login, world, loaded, who, url, field, raw):
    client = login(who)
    response = client.post(
        url.format(e=world["event"], large=world["large_firm"]), data={field: raw, "message": "你好"}
    )
    assert response.status_code == 400
    assert "不是有效的编号，请从列表中选择" in response.get_data(as_text=True)
    with session_scope(loaded) as s:  # nothing was done with the other values
        assert s.scalar(select(MeetingRequest.id)) is None
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        assert reg.available_slots is None


def _edit_form(start: date, **changes: str) -> dict[str, str]:
    data = {
        "title": "锂电池产业链对接会",
        "format": "onsite",
        "start_date": start.isoformat(),
        "days": "1",
        "sessions": "09:00-10:15",
        "slot_minutes": "20",
        "gap_minutes": "5",
        "tables": "3",
        "capacity_large": "50",
        "capacity_sme": "200",
        "open_registration": "y",
        "request_rule": "approval",
        "request_expiry_hours": "48",
        "pending_cap": "10",
        "sme_min_meetings": "1",
        "large_max_meetings": "16",
        "max_representatives": "3",
        "description": "",
        "location": "",
        "focus_products": "",
        "registration_opens": "",
        "registration_closes": "",
    }
    data.update(changes)
    return data


def test_emptied_optional_fields_of_the_edit_form_are_cleared(login, world, loaded):
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        event.description, event.location, event.focus_products = "旧简介", "旧地点", ["锂电池"]
        event.registration_closes = datetime.combine(event.start_date - timedelta(days=2), datetime.min.time())
        start = event.start_date
    client = login("organizer")
    response = client.post(f"/events/{world['event']}/edit", data=_edit_form(start))
    assert response.status_code == 302
    assert "活动已保存" in client.get(response.headers["Location"]).get_data(as_text=True)
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        assert (event.description, event.location, event.focus_products) == ("", "", [])
        assert event.registration_closes is None


def test_the_edit_form_reads_and_shows_the_registration_window_in_the_event_time_zone(login, world, loaded):
    with session_scope(loaded) as s:
        start = s.get(Event, world["event"]).start_date
    client = login("organizer")
    eve = start - timedelta(days=1)
    response = client.post(f"/events/{world['event']}/edit", data=_edit_form(start, registration_closes=f"{eve}T08:00"))
    assert response.status_code == 302
    with session_scope(loaded) as s:  # 08:00 in Shanghai is midnight UTC
        assert s.get(Event, world["event"]).registration_closes == datetime.combine(eve, datetime.min.time())
    page = client.get(f"/events/{world['event']}/edit").get_data(as_text=True)
    assert f'value="{eve}T08:00"' in page
    late = client.post(f"/events/{world['event']}/edit", data=_edit_form(start, registration_closes=f"{start}T20:00"))
    assert late.status_code == 400
    assert f"{start} 20:00" in late.get_data(as_text=True) and f"{start} 09:00" in late.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.get(Event, world["event"]).registration_closes == datetime.combine(eve, datetime.min.time())


def test_an_event_far_in_the_future_is_refused_naming_start_date(client, login, world):
    page = login("organizer").post(
        "/events/new", data=_edit_form(date(9999, 12, 30), days="7"), headers={"Accept-Language": "en"}
    )
    assert page.status_code == 400 and "more than 5 years ahead" in page.get_data(as_text=True)
    body = {"title": "远期对接会", "start_date": "9999-12-30", "days": 7, "sessions": ["09:00-10:00"]}
    api = _api(client, world["tokens"]["organizer"], "post", "/api/v1/events", json=body)
    assert api.status_code == 400 and list(api.get_json()["detail"]) == ["start_date"]
    api = _api(client, world["tokens"]["organizer"], "post", "/api/v1/events", json={**body, "title": "对接\u2028会"})
    assert api.status_code == 400 and list(api.get_json()["detail"]) == ["title"]


def test_api_null_clears_optional_fields_of_an_event(client, world, loaded):
    url = f"/api/v1/events/{world['event']}"
    token = world["tokens"]["organizer"]
    _api(client, token, "patch", url, json={"description": "简介", "location": "会场", "focus_industries": ["电池"]})
    cleared = _api(client, token, "patch", url, json={"description": None, "location": None, "focus_industries": None})
    assert cleared.status_code == 200, cleared.get_json()
    body = cleared.get_json()
    assert (body["description"], body["location"], body["focus_industries"]) == ("", "", [])
    assert _api(client, token, "patch", url, json={"days": None}).status_code == 422  # not optional


@pytest.mark.parametrize(
    ("who", "method", "url", "body", "field"),
    [
        ("organizer", "post", "/api/v1/events", {"days": 1.5}, "days"),
        ("organizer", "post", "/api/v1/events", {"tables": "2"}, "tables"),
        ("sme", "put", "/api/v1/events/{e}/availability", {"slots": [1.5]}, "slots"),
        ("sme", "post", "/api/v1/events/{e}/requests", {"to_firm_id": 1.5}, "to_firm_id"),  # 1.0 is 1
    ],
)
def test_api_non_integers_answer_422_naming_the_field(client, world, loaded, who, method, url, body, field):
    if url == "/api/v1/events":
        body = {"title": "对接会", "start_date": (date.today() + timedelta(days=9)).isoformat(), **body}
    response = _api(client, world["tokens"][who], method, url.format(e=world["event"]), json=body)
    assert response.status_code == 422
    assert field in response.get_json()["detail"]["json"]
    with session_scope(loaded) as s:
        assert s.scalar(select(Event.id).where(Event.title == "对接会")) is None
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        assert reg.available_slots is None


def test_bad_browse_and_agenda_parameters_answer_400_naming_them(login, world):
    client = login("sme")
    for tier in ("abc", "-5", "9"):
        response = client.get(f"/events/{world['event']}/browse?tier={tier}")
        assert response.status_code == 400 and "企业资质：" in response.get_data(as_text=True), tier
    assert client.get(f"/events/{world['event']}/browse?tier=2").status_code == 200
    client = login("organizer")
    for firm in ("abc", "-1", "²"):
        response = client.get(f"/events/{world['event']}/agenda?firm={firm}")
        assert response.status_code == 400 and "企业：" in response.get_data(as_text=True), firm
    assert client.get(f"/events/{world['event']}/agenda?firm={world['sme_firm']}").status_code == 200


def test_another_pairs_meeting_or_request_answers_404_like_a_missing_one(client, login, world, loaded):
    e = world["event"]
    meeting_id = _schedule_by_hand(loaded, world)
    with session_scope(loaded) as s:  # a pending request of the SME to the large firm
        large2 = create_firm(s, name="测试第二大企业有限公司", kind=FirmKind.LARGE)
        event = s.get(Event, e)
        evreg.invite_firms(s, event, [large2.id])
        evreg.register_firm(s, event, large2.id)
        req_id = evreq.request_meeting(s, event, world["sme_firm"], large2.id).id
    pages = login("sme2")  # a participant, but not one of the pair
    for url in (f"/events/{e}/meetings/{meeting_id}/held", f"/events/{e}/requests/{req_id}/answer/accept"):
        assert pages.post(url).status_code == 404, url
        assert (
            pages.post(url.replace(str(meeting_id) if "meetings" in url else str(req_id), "99999")).status_code == 404
        )
    assert pages.get(f"/events/{e}/meetings/{meeting_id}/outcome").status_code == 404
    token = world["tokens"]["sme2"]
    for method, url, body in [
        ("post", f"/api/v1/events/{e}/requests/{req_id}/answer", {"accept": True}),
        ("post", f"/api/v1/events/{e}/meetings/{meeting_id}/status", {"status": "held"}),
        ("put", f"/api/v1/events/{e}/meetings/{meeting_id}/outcome", {"outcome": "follow_up"}),
    ]:
        response = _api(client, token, method, url, json=body)
        assert response.status_code == 404 and "does not exist in this event" in response.get_json()["message"], url
    asker = login("sme")  # sees its own request but does not answer it
    assert asker.post(f"/events/{e}/requests/{req_id}/answer/accept").status_code == 403
    with session_scope(loaded) as s:
        assert s.get(MeetingRequest, req_id).status is RequestStatus.PENDING
        assert s.get(Meeting, meeting_id).status is MeetingStatus.SCHEDULED


def test_only_the_asked_firm_answers_a_meeting_request_on_pages_and_api(client, login, world, loaded):
    e = world["event"]
    with session_scope(loaded) as s:
        req_id = evreq.request_meeting(s, s.get(Event, e), world["sme_firm"], world["large_firm"]).id
    for who in ("organizer", "sme"):  # the organizer and the asking firm see the request, do not answer it
        assert login(who).post(f"/events/{e}/requests/{req_id}/answer/accept").status_code == 403, who
        refused = _api(
            client, world["tokens"][who], "post", f"/api/v1/events/{e}/requests/{req_id}/answer", json={"accept": True}
        )
        assert refused.status_code == 403, who
    with session_scope(loaded) as s:
        assert s.get(MeetingRequest, req_id).status is RequestStatus.PENDING
    answered = login("large").post(f"/events/{e}/requests/{req_id}/answer/decline")
    assert answered.status_code == 302
    with session_scope(loaded) as s:
        assert s.get(MeetingRequest, req_id).status is RequestStatus.DECLINED


def test_a_rejected_firm_no_longer_sees_the_event_once_registration_is_closed(client, login, world, loaded):
    e = world["event"]
    with session_scope(loaded) as s:
        firm = create_firm(s, name="被拒测试企业有限公司", kind=FirmKind.SME)
        user = create_user(s, email="rej@t.cn", password=PASSWORD, name="被拒", role=Role.SME, firm_id=firm.id)
        token = issue_api_token(s, user)
        event = s.get(Event, e)
        evreg.decide_registration(s, evreg.register_firm(s, event, firm.id), approve=False)
        event.open_registration = False
    world["emails"]["rejected"] = "rej@t.cn"
    assert login("rejected").get(f"/events/{e}").status_code == 404
    assert _api(client, token, "get", f"/api/v1/events/{e}").status_code == 404
    assert all(item["event_id"] != e for item in _api(client, token, "get", "/api/v1/events").get_json()["items"])


def test_a_finished_event_refuses_registrations_meetings_and_scheduling_with_409(client, login, world, loaded):
    e = world["event"]
    tokens = world["tokens"]
    made = _api(client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]})
    req_id = made.get_json()["items"][0]["request_id"]
    with session_scope(loaded) as s:
        event = s.get(Event, e)
        evreg.invite_firms(s, event, [world["outsider_firm"]])
        evreg.decline_invitation(s, event, world["outsider_firm"])
        event_day_has_come(s, event)
        ev.set_event_status(s, event, EventStatus.FINISHED)
    refusals = [
        ("outsider", f"/api/v1/events/{e}/registrations", {}, "firms register only while"),
        ("sme2", f"/api/v1/events/{e}/requests", {"to_firm_id": world["large_firm"]}, "meetings are requested"),
        ("large", f"/api/v1/events/{e}/requests/{req_id}/answer", {"accept": True}, "meetings are requested"),
        ("organizer", f"/api/v1/events/{e}/schedule", {"time_limit_s": 0.5}, "can no longer be scheduled"),
    ]
    for who, url, body, words in refusals:
        response = _api(client, tokens[who], "post", url, json=body)
        assert response.status_code == 409, (url, response.get_json())
        assert (
            response.get_json()["message"].startswith("status: the event is finished;")
            and words in (response.get_json()["message"])
        )
    page = login("outsider").post(f"/events/{e}/register", data={"representatives": "1"}, follow_redirects=True)
    assert "活动当前为“已结束”" in page.get_data(as_text=True)  # flashed
    with session_scope(loaded) as s:
        assert evacl.registration_for(s, s.get(Event, e), world["outsider_firm"]) is None
        assert s.scalar(select(Meeting.id)) is None


def test_api_conflict_detail_keeps_a_message_without_a_field_prefix_whole(client, world):
    e = world["event"]
    tokens = world["tokens"]
    made = _api(client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]})
    url = f"/api/v1/events/{e}/requests/{made.get_json()['items'][0]['request_id']}/answer"
    _api(client, tokens["large"], "post", url, json={"accept": True})
    twice = _api(client, tokens["large"], "post", url, json={"accept": True}).get_json()
    assert twice["message"].startswith("meeting request cannot go from accepted to accepted")
    assert twice["detail"] == {"status": twice["message"]}
    again = _api(
        client, tokens["sme"], "post", f"/api/v1/events/{e}/requests", json={"to_firm_id": world["large_firm"]}
    )
    assert again.get_json()["detail"] == {"to_firm_id": "there is already a request between these two firms"}


# --- cancel buttons, edits under placed meetings, finished events, double submits, times, XLSX ---------


def _cancel_form(page: str, meeting_id: int) -> str:
    match = re.search(
        rf'<details class="cancel-meeting inline" id="cancel-meeting-{meeting_id}">(.*?)</details>', page, re.S
    )
    return match.group(1) if match else ""


def test_the_agenda_and_the_schedule_offer_a_confirmed_cancel_to_those_who_may_cancel(login, world, loaded):
    meeting_id = _schedule_by_hand(loaded, world, slot=1, table=0)
    e = world["event"]
    action = f'action="/events/{e}/meetings/{meeting_id}/cancel"'
    sme = login("sme")
    form = _cancel_form(sme.get(f"/events/{e}/agenda").get_data(as_text=True), meeting_id)
    assert action in form and 'method="post"' in form and 'name="csrf_token"' in form
    assert "确定取消与" in form and "双方都会收到通知" in form and "确认取消" in form
    organizer = login("organizer")
    for url in (f"/events/{e}/schedule", f"/events/{e}/agenda?firm={world['sme_firm']}"):
        assert action in _cancel_form(organizer.get(url).get_data(as_text=True), meeting_id), url
    assert action not in login("sme2").get(f"/events/{e}/agenda").get_data(as_text=True)  # not its meeting
    large = login("large")
    assert action in _cancel_form(large.get(f"/events/{e}/agenda").get_data(as_text=True), meeting_id)
    response = large.post(
        f"/events/{e}/meetings/{meeting_id}/cancel", headers={"Referer": f"http://localhost/events/{e}/agenda"}
    )
    assert response.status_code == 302
    with session_scope(loaded) as s:
        assert s.get(Meeting, meeting_id).status is MeetingStatus.CANCELLED
    assert _cancel_form(large.get(f"/events/{e}/agenda").get_data(as_text=True), meeting_id) == ""  # once


def test_a_finished_event_offers_no_cancel_nor_invitation_and_refuses_them_with_a_flash(login, world, loaded):
    meeting_id = _schedule_by_hand(loaded, world)
    e = world["event"]
    _event_day(loaded, world)
    with session_scope(loaded) as s:
        ev.set_event_status(s, s.get(Event, e), EventStatus.FINISHED)
    organizer = login("organizer")
    assert _cancel_form(organizer.get(f"/events/{e}/schedule").get_data(as_text=True), meeting_id) == ""
    show = organizer.get(f"/events/{e}").get_data(as_text=True)
    assert "从产业链邀请企业" not in show and f'href="/events/{e}/invite"' not in show
    english = {"Accept-Language": "en"}
    page = organizer.post(f"/events/{e}/meetings/{meeting_id}/cancel", headers=english, follow_redirects=True)
    assert (
        "the event is finished; meetings are cancelled only until it is finished" in page.get_data(as_text=True).lower()
    )
    page = organizer.post(
        f"/events/{e}/invite", data={"firm_id": str(world["outsider_firm"])}, headers=english, follow_redirects=True
    )
    assert "the event is finished; firms are invited only until it is finished" in page.get_data(as_text=True).lower()
    sme = login("sme")
    assert _cancel_form(sme.get(f"/events/{e}/agenda").get_data(as_text=True), meeting_id) == ""
    assert "已洽谈" in sme.get(f"/events/{e}/agenda").get_data(as_text=True)  # held / no-show stay possible
    sme.post(f"/events/{e}/availability", data={"slot": ["0"]})
    with session_scope(loaded) as s:
        assert s.get(Meeting, meeting_id).status is MeetingStatus.SCHEDULED
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        assert reg.available_slots is None
        assert evacl.registration_for(s, s.get(Event, e), world["outsider_firm"]) is None


def test_editing_the_date_sessions_or_tables_under_sent_agendas_is_refused_with_409(login, world, loaded):
    from marketplace.events.scheduling import send_agendas

    meeting_id = _schedule_by_hand(loaded, world, slot=1, table=2)
    with session_scope(loaded) as s:
        event = s.get(Event, world["event"])
        send_agendas(s, event)
        start = event.start_date
    client = login("organizer")
    url = f"/events/{world['event']}/edit"
    moves = "this change would move 1 placed meetings"
    for change, shown in [
        ({"start_date": (start + timedelta(days=2)).isoformat()}, moves),
        ({"sessions": "14:00-15:30"}, moves),
        ({"tables": "1"}, "keep at least 3 tables"),
    ]:
        response = client.post(url, data=_edit_form(start, **change), headers={"Accept-Language": "en"})
        assert response.status_code == 409, change
        assert shown in response.get_data(as_text=True) and "Event saved" not in response.get_data(as_text=True)
    with session_scope(loaded) as s:
        event, meeting = s.get(Event, world["event"]), s.get(Meeting, meeting_id)
        assert (event.start_date, event.sessions, event.tables) == (start, ["09:00-10:15"], 3)
        assert (meeting.slot, meeting.table_no, meeting.sequence) == (1, 2, 0)
    response = client.post(url, data=_edit_form(start, title="锂电池产业链对接会（改名）"))
    assert response.status_code == 302  # other edits still go through


def test_the_event_form_posted_twice_creates_one_event(login, world, loaded):
    client = login("organizer")
    data = _edit_form(date.today() + timedelta(days=60), title="双击测试对接会")
    first = client.post("/events/new", data=data)
    assert first.status_code == 302
    second = client.post("/events/new", data=data)
    assert second.status_code == 409 and "双击测试对接会" in second.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert len(list(s.scalars(select(Event.id).where(Event.title == "双击测试对接会")))) == 1


def test_the_survey_invitation_posted_twice_notifies_each_participant_once(login, world, loaded):
    from marketplace.models.notifications import Notification

    client = login("organizer")
    url = f"/events/{world['event']}/survey/invite"
    page = client.post(url, follow_redirects=True).get_data(as_text=True)
    assert "已邀请 3 家参会企业填写回访问卷" in page
    with session_scope(loaded) as s:
        sent = len(list(s.scalars(select(Notification.id).where(Notification.kind == "event_survey"))))
    page = client.post(url, follow_redirects=True).get_data(as_text=True)
    assert "已邀请 0 家参会企业填写回访问卷（3 家此前已邀请" in page
    with session_scope(loaded) as s:
        assert len(list(s.scalars(select(Notification.id).where(Notification.kind == "event_survey")))) == sent > 0


def test_request_expiry_and_check_in_times_are_shown_in_beijing_time(login, world, loaded):
    e = world["event"]
    with session_scope(loaded) as s:
        event = s.get(Event, e)
        req = evreq.request_meeting(s, event, world["sme_firm"], world["large_firm"])
        req.expires_at = datetime(2030, 1, 9, 23, 30)  # UTC: 07:30 北京时间 on the 10th
        reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == world["sme_firm"]))
        reg.checked_in_at = datetime(2030, 1, 10, 1, 5)  # UTC: 09:05 北京时间
        token = reg.checkin_token
    page = login("large").get(f"/events/{e}/requests").get_data(as_text=True)
    assert "2030-01-10 07:30" in page and "2030-01-09 23:30" not in page
    page = login("organizer").get(f"/events/{e}/checkin/{token}").get_data(as_text=True)
    assert "09:05" in page and "01:05" not in page


def test_the_xlsx_report_keeps_a_formula_like_title_as_plain_text_and_the_csv_guards_it(login, world, loaded):
    from openpyxl import load_workbook

    with session_scope(loaded) as s:
        s.get(Event, world["event"]).title = "=1+1 锂电池对接会"
    client = login("organizer")
    book = load_workbook(io.BytesIO(client.get(f"/events/{world['event']}/report.xlsx").data))
    cell = book["汇总"]["B1"]
    assert cell.value == "=1+1 锂电池对接会" and cell.data_type == "s"
    rows = list(csv.reader(io.StringIO(client.get(f"/events/{world['event']}/report.csv").data.decode("utf-8-sig"))))
    assert rows[0] == ["活动", "'=1+1 锂电池对接会"]


# --- the day itself: ending, check-in, held / no-show; the participant's own link; 0 proposals ------


def test_ending_an_event_asks_first_and_is_refused_before_its_first_day_on_the_page_and_in_the_api(
    client, login, world, loaded
):
    e = world["event"]
    with session_scope(loaded) as s:
        start = s.get(Event, e).start_date.isoformat()
    organizer = login("organizer")
    show = organizer.get(f"/events/{e}").get_data(as_text=True)
    assert 'id="end-event"' not in show and f"活动于 {start}（北京时间）开始，当天起可结束活动" in show
    refused = organizer.post(f"/events/{e}/status/finished", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert f"the event starts on {start} (Beijing time); it can be ended only from that day on" in refused.get_data(
        as_text=True
    )
    api = _api(client, world["tokens"]["organizer"], "patch", f"/api/v1/events/{e}", json={"status": "finished"})
    assert api.status_code == 409 and api.get_json()["detail"] == {
        "start_date": f"the event starts on {start} (Beijing time); it can be ended only from that day on"
    }
    with session_scope(loaded) as s:
        assert s.get(Event, e).status is EventStatus.OPEN
    _event_day(loaded, world)
    show = organizer.get(f"/events/{e}").get_data(as_text=True)
    confirm = re.search(r'<details class="end-event inline" id="end-event">(.*?)</details>', show, re.S)
    assert confirm and "确认结束" in confirm.group(1) and "无法撤销" in confirm.group(1)
    assert f'action="/events/{e}/status/finished"' in confirm.group(1)
    assert show.count(f'action="/events/{e}/status/finished"') == 1  # only behind the confirmation
    ended = organizer.post(f"/events/{e}/status/finished", follow_redirects=True).get_data(as_text=True)
    assert "活动状态已更新" in ended and "已结束" in ended


def test_held_no_show_and_check_in_wait_for_the_day_on_the_pages_and_in_the_api(client, login, world, loaded):
    e = world["event"]
    meeting_id = _schedule_by_hand(loaded, world)
    token = world["token_of"][world["sme_firm"]]
    with session_scope(loaded) as s:
        start = s.get(Event, e).start_date.isoformat()
    sme = login("sme")
    agenda = sme.get(f"/events/{e}/agenda").get_data(as_text=True)
    assert f'action="/events/{e}/meetings/{meeting_id}/held"' not in agenda
    assert f'action="/events/{e}/meetings/{meeting_id}/no-show"' not in agenda
    assert "洽谈当天起可标记已洽谈或对方缺席" in agenda
    refused = sme.post(
        f"/events/{e}/meetings/{meeting_id}/held", headers={"Accept-Language": "en"}, follow_redirects=True
    )
    assert f"the meeting is on {start} (Beijing time)" in refused.get_data(as_text=True)
    api = _api(
        client,
        world["tokens"]["sme"],
        "post",
        f"/api/v1/events/{e}/meetings/{meeting_id}/status",
        json={"status": "no_show"},
    )
    assert api.status_code == 409 and f"the meeting is on {start} (Beijing time)" in api.get_json()["message"]
    organizer = login("organizer")
    page = organizer.get(f"/events/{e}/checkin/{token}").get_data(as_text=True)
    assert "确认签到" not in page and f"活动于 {start}（北京时间）开始，当天起可签到" in page
    refused = organizer.post(f"/events/{e}/checkin/{token}", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "participants check in only from that day on" in refused.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.get(Meeting, meeting_id).status is MeetingStatus.SCHEDULED
        reg = s.scalar(select(EventRegistration).where(EventRegistration.checkin_token == token))
        assert reg.checked_in_at is None
    _event_day(loaded, world)
    assert "确认签到" in organizer.get(f"/events/{e}/checkin/{token}").get_data(as_text=True)
    agenda = login("sme").get(f"/events/{e}/agenda").get_data(as_text=True)
    assert f'action="/events/{e}/meetings/{meeting_id}/held"' in agenda and "洽谈当天起可标记" not in agenda


def test_a_participant_opening_its_own_check_in_link_reads_what_it_is_for_and_who_scans_it(login, world, loaded):
    e = world["event"]
    token = world["token_of"][world["sme_firm"]]
    own = login("sme").get(f"/events/{e}/checkin/{token}")
    page = own.get_data(as_text=True)
    assert own.status_code == 200 and 'id="checkin-own"' in page
    assert "会场入口出示日程上的签到二维码" in page and "由组织方（测试协会）工作人员扫码为贵企业签到" in page
    assert "确认签到" not in page and "未签到" in page
    assert login("sme").post(f"/events/{e}/checkin/{token}").status_code == 403  # only the organizer checks in
    assert login("sme2").get(f"/events/{e}/checkin/{token}").status_code == 403  # another participant's link
    assert login("sme").get(f"/events/{e}/checkin/not-a-token").status_code == 403
    # everyone else as before: a firm that may only see the open event 403, another organizer 404
    assert login("outsider").get(f"/events/{e}/checkin/{token}").status_code == 403
    assert login("stranger").get(f"/events/{e}/checkin/{token}").status_code == 404
    with session_scope(loaded) as s:
        reg = s.scalar(select(EventRegistration).where(EventRegistration.checkin_token == token))
        assert reg.checked_in_at is None


def test_proposing_nothing_says_why_on_the_page_and_in_the_api(client, login, world, loaded):
    e = world["event"]
    with session_scope(loaded) as s:
        s.execute(delete(EventDemand).where(EventDemand.event_id == e))
    reason = "no demand is on the event's board; add the participating large firms' demands to it first"
    organizer = login("organizer")
    page = organizer.post(f"/events/{e}/propose", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert reason.replace("'", "&#39;") in page.get_data(as_text=True)
    api = _api(client, world["tokens"]["organizer"], "post", f"/api/v1/events/{e}/proposals")
    assert api.status_code == 201 and api.get_json() == {"items": [], "why_none": reason}
    page = organizer.post(f"/events/{e}/propose", follow_redirects=True).get_data(as_text=True)
    assert "平台已推荐 0 场洽谈：活动尚未发榜任何需求，请先把参会大企业的需求加入发榜" in page
