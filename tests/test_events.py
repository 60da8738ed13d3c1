"""Events: the model's time grid and rules, invitations, registrations, requests, proposals,
expiry, the day itself, permissions and demand visibility through events."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from marketplace.accounts.permissions import demand_ids_visible_via_events, firm_viewer
from marketplace.accounts.users import create_user
from marketplace.db import session_scope
from marketplace.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    TransitionError,
    message_of,
)
from marketplace.events import access as evacl
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events import registrations as evreg
from marketplace.events.invitees import render_reason
from marketplace.models import (
    Demand,
    EventInvitation,
    EventRegistration,
    EventStatus,
    FirmKind,
    InvitationStatus,
    Meeting,
    MeetingStatus,
    RegistrationStatus,
    RequestStatus,
    Role,
    Side,
    User,
    utcnow,
)
from marketplace.models.notifications import Notification
from tests.events_helpers import event_data, event_day_has_come, setup_event
from tests.messages_helpers import zh


@pytest.fixture
def world(loaded):
    with session_scope(loaded) as s:
        yield s, setup_event(s)


def _user(session, role, **kw):
    n = session.scalar(select(User.id).order_by(User.id.desc())) or 0
    return create_user(session, email=f"u{n + 1}@t.cn", password="password-123", name="测试", role=role, **kw)


def test_default_slots_are_twenty_minutes_with_five_minute_gaps(world):
    _s, w = world
    times = w["event"].slot_times()
    assert len(times) == 3
    assert [(b - a).seconds // 60 for a, b in times] == [20, 20, 20]
    assert (times[1][0] - times[0][1]).seconds // 60 == 5
    assert times[0][0].strftime("%H:%M") == "09:00"


def test_event_with_a_malformed_session_is_rejected_naming_the_field(session):
    from marketplace.models import Organization, OrganizationKind

    org = Organization(name="协会", kind=OrganizationKind.ASSOCIATION)
    session.add(org)
    session.flush()
    with pytest.raises(InputError) as err:
        ev.create_event(session, org.id, event_data(sessions=["9点到12点"]))
    assert err.value.field == "sessions"
    with pytest.raises(InputError) as err:
        ev.create_event(session, org.id, event_data(sessions=["09:00-09:10"]))
    assert "no slot fits" in str(err.value)
    with pytest.raises(InputError) as err:
        ev.create_event(session, org.id, event_data(tables=0))
    assert err.value.field == "tables"


def test_invited_firm_registers_approved_and_invitation_is_marked(world):
    s, w = world
    inv_status = s.scalar(select(EventInvitation.status).where(EventInvitation.firm_id == w["smes"][0].id))
    assert inv_status is InvitationStatus.REGISTERED
    assert w["regs"][w["smes"][0].id].status is RegistrationStatus.APPROVED


def test_invitation_notifies_the_firms_users(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, register=False)
        user = _user(s, Role.SME, firm_id=w["smes"][0].id)
        evreg.invite_firms(s, w["event"], [w["smes"][0].id])
        titles = list(s.scalars(select(Notification.title_zh).where(Notification.user_id == user.id)))
        assert any("诚邀" in t for t in titles)


def test_open_registration_waits_for_organizer_approval(world):
    s, w = world
    from marketplace.enterprise.firms import create_firm

    newcomer = create_firm(s, name="报名测试企业有限公司", kind=FirmKind.SME)
    reg = evreg.register_firm(s, w["event"], newcomer.id)
    assert reg.status is RegistrationStatus.PENDING
    evreg.decide_registration(s, reg, approve=True)
    assert reg.status is RegistrationStatus.APPROVED
    with pytest.raises(TransitionError):
        evreg.decide_registration(s, reg, approve=False)


def test_registration_is_refused_when_the_side_is_full(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, register=False, capacity_sme=1)
        evreg.register_firm(s, w["event"], w["smes"][0].id)
        with pytest.raises(TransitionError) as err:
            evreg.register_firm(s, w["event"], w["smes"][1].id)
        assert err.value.field == "side"


def test_sme_cannot_bring_several_representatives(world):
    s, w = world
    reg = w["regs"][w["smes"][0].id]
    s.delete(reg)
    s.flush()
    with pytest.raises(InputError) as err:
        evreg.register_firm(s, w["event"], w["smes"][0].id, representatives=2)
    assert err.value.field == "representatives"


def test_availability_outside_the_grid_is_rejected(world):
    s, w = world
    reg = w["regs"][w["smes"][0].id]
    evreg.set_availability(s, reg, [0, 2])
    assert reg.available(3) == [0, 2]
    with pytest.raises(InputError) as err:
        evreg.set_availability(s, reg, [7])
    assert err.value.field == "slots"


def test_request_accepted_becomes_a_waiting_meeting(world):
    s, w = world
    sme, large = w["smes"][0], w["large"]
    req = evreq.request_meeting(
        s, w["event"], sme.id, large.id, message="想介绍我们的涂覆隔膜", demand_id=w["demand"].id
    )
    assert req.status is RequestStatus.PENDING and req.expires_at > utcnow()
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
    assert meeting.status is MeetingStatus.WAITING
    assert (meeting.large_firm_id, meeting.sme_firm_id) == (large.id, sme.id)
    assert meeting.weight == evreq.meeting_weight(req) == 30


def test_only_the_asked_firm_answers_a_meeting_request_whoever_calls_the_service(world):
    s, w = world
    sme, large = w["smes"][0], w["large"]
    req = evreq.request_meeting(s, w["event"], sme.id, large.id)
    asker = _user(s, Role.SME, firm_id=sme.id)
    organizer = _user(s, Role.ORGANIZER, organization_name=w["org"].name)
    admin = _user(s, Role.ADMIN)
    other_participant = _user(s, Role.LARGE, firm_id=w["large2"].id)
    for user in (asker, organizer, admin, other_participant, None):
        with pytest.raises(PermissionDeniedError) as err:
            evreq.answer_request(s, req, user=user, accept=True)
        assert err.value.exit_code == 2  # one error type: the CLI's exit code of a refusal
    assert req.status is RequestStatus.PENDING
    assert s.scalar(select(Meeting).where(Meeting.request_id == req.id)) is None
    asked = _user(s, Role.LARGE, firm_id=large.id)
    evreq.answer_request(s, req, user=asked, accept=False)
    assert req.status is RequestStatus.DECLINED


def test_request_between_same_side_or_self_or_twice_is_refused(world):
    s, w = world
    a, b = w["smes"][0], w["smes"][1]
    with pytest.raises(InputError):
        evreq.request_meeting(s, w["event"], a.id, b.id)
    with pytest.raises(InputError):
        evreq.request_meeting(s, w["event"], a.id, a.id)
    evreq.request_meeting(s, w["event"], a.id, w["large"].id)
    with pytest.raises(TransitionError):
        evreq.request_meeting(s, w["event"], w["large"].id, a.id)


def test_pending_cap_blocks_more_requests_until_one_expires(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, pending_cap=1)
        sme = w["smes"][0]
        first = evreq.request_meeting(s, w["event"], sme.id, w["large"].id)
        with pytest.raises(TransitionError) as err:
            evreq.request_meeting(s, w["event"], sme.id, w["large2"].id)
        assert "unanswered" in str(err.value)
        first.expires_at = utcnow() - timedelta(minutes=1)
        assert evreq.expire_requests(s, w["event"]) == 1
        assert first.status is RequestStatus.EXPIRED
        evreq.request_meeting(s, w["event"], sme.id, w["large2"].id)


def test_expired_request_cannot_be_accepted(world):
    s, w = world
    req = evreq.request_meeting(s, w["event"], w["smes"][0].id, w["large"].id)
    req.expires_at = utcnow() - timedelta(hours=1)
    with pytest.raises(TransitionError):
        evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    assert req.status is RequestStatus.EXPIRED


def test_auto_accept_event_accepts_requests_at_once(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, request_rule="auto_accept")
        req = evreq.request_meeting(s, w["event"], w["smes"][0].id, w["large"].id)
        assert req.status is RequestStatus.ACCEPTED
        assert s.scalar(select(Meeting.id).where(Meeting.request_id == req.id)) is not None


def test_engine_proposes_registered_smes_for_board_demands_and_owner_accepts_in_bulk(world, loaded):
    from marketplace.matching.engine import MatchEngine

    s, w = world
    engine = MatchEngine(loaded, use_dense=False).build(s)  # lexical + chain graph over this database
    proposals = evreq.propose_meetings(s, engine, w["event"], per_demand=3)
    assert proposals, "the separator SME should be proposed for the separator demand"
    registered = {r.firm_id for r in evreg.approved_registrations(s, w["event"], Side.SME)}
    assert all(p.from_firm_id in registered and p.to_firm_id == w["large"].id for p in proposals)
    assert all(p.demand_id == w["demand"].id and p.reasons[0]["kind"] == "can_meet_demand" for p in proposals)
    first = proposals[0].reasons[0]
    assert render_reason(first, "zh") == f"可满足需求《{first['title']}》（{first['owner']}）"
    assert render_reason(first, "en") == f"Can meet demand “{first['title']}” ({first['owner']})"
    assert proposals[0].from_firm_id == w["smes"][0].id  # the separator maker ranks first
    again = evreq.propose_meetings(s, engine, w["event"], per_demand=3)
    assert again == []
    done = evreq.accept_proposals(s, w["event"], w["large"].id, [p.id for p in proposals])
    assert {r.status for r in done} == {RequestStatus.ACCEPTED}
    with pytest.raises(PermissionDeniedError):
        evreq.accept_proposals(s, w["event"], w["large2"].id, [proposals[0].id])


def test_pair_that_met_at_an_earlier_event_is_marked(world):
    s, w = world
    sme, large = w["smes"][0], w["large"]
    earlier = ev.create_event(s, w["org"].id, event_data(title="上一届对接会"))
    earlier.start_date = w["event"].start_date - timedelta(days=90)  # it has taken place since
    ev.set_event_status(s, earlier, EventStatus.OPEN)
    evreg.invite_firms(s, earlier, [sme.id, large.id])
    evreg.register_firm(s, earlier, sme.id)
    evreg.register_firm(s, earlier, large.id)
    req = evreq.request_meeting(s, earlier, sme.id, large.id)
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
    meeting.slot, meeting.table_no, meeting.status = 0, 0, MeetingStatus.SCHEDULED
    evmeet.mark_meeting(s, meeting, held=True)
    rows = evreq.browse_participants(s, w["event"], sme.id)
    marked = {r["firm_id"]: r["met_before"] for r in rows}
    assert marked[large.id] is True and marked[w["large2"].id] is False


def test_check_in_locks_the_firms_scheduled_meetings(world):
    s, w = world
    sme = w["smes"][0]
    req = evreq.request_meeting(s, w["event"], sme.id, w["large"].id)
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
    meeting.slot, meeting.table_no, meeting.status = 1, 0, MeetingStatus.SCHEDULED
    event_day_has_come(s, w["event"])
    reg = evmeet.check_in(s, w["event"], w["regs"][sme.id].checkin_token)
    assert reg.checked_in_at is not None and meeting.locked
    with pytest.raises(NotFoundError):
        evmeet.check_in(s, w["event"], "not-a-token")


def test_outcome_needs_a_held_meeting_and_agreement_leads_to_the_contract_hook(world):
    s, w = world
    sme = w["smes"][0]
    req = evreq.request_meeting(s, w["event"], sme.id, w["large"].id, demand_id=w["demand"].id)
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
    with pytest.raises(TransitionError):
        evmeet.record_outcome(s, meeting, sme.id, {"outcome": "follow_up"})
    meeting.slot, meeting.table_no, meeting.status = 0, 0, MeetingStatus.SCHEDULED
    event_day_has_come(s, w["event"])
    evmeet.mark_meeting(s, meeting, held=True)
    with pytest.raises(InputError) as err:
        evmeet.record_outcome(s, meeting, sme.id, {"outcome": "maybe"})
    assert err.value.field == "outcome"
    with pytest.raises(InputError) as err:
        evmeet.record_outcome(s, meeting, sme.id, {"outcome": "agreement", "amount": -5})
    assert err.value.field == "amount"
    evmeet.record_outcome(s, meeting, sme.id, {"outcome": "agreement", "amount": 120})
    evmeet.record_outcome(s, meeting, w["large"].id, {"outcome": "达成合作意向/协议", "amount": 100})
    source = evmeet.meeting_contract_source(meeting)
    assert source == {
        "meeting_id": meeting.id,
        "event_id": w["event"].id,
        "buyer_firm_id": w["large"].id,
        "supplier_firm_id": sme.id,
        "demand_id": w["demand"].id,
        "amount": 120,
    }
    with pytest.raises(PermissionDeniedError):
        evmeet.record_outcome(s, meeting, w["smes"][1].id, {"outcome": "none"})


def test_survey_answers_are_kept_and_validated(world):
    s, w = world
    sme = w["smes"][0]
    row = evmeet.submit_survey(
        s, w["event"], sme.id, {"still_in_contact": True, "contracts_signed": 1, "satisfaction": 4}
    )
    assert row.answers["contracts_signed"] == 1
    with pytest.raises(InputError) as err:
        evmeet.submit_survey(s, w["event"], sme.id, {"satisfaction": 9})
    assert err.value.field == "satisfaction"


def test_event_access_by_role(world):
    s, w = world
    event = w["event"]
    organizer = _user(s, Role.ORGANIZER, organization_name=w["org"].name)
    stranger_org = _user(s, Role.ORGANIZER, organization_name=w["other_org"].name)
    participant = _user(s, Role.SME, firm_id=w["smes"][0].id)
    from marketplace.enterprise.firms import create_firm

    outsider = _user(s, Role.SME, firm_id=create_firm(s, name="局外企业有限公司", kind=FirmKind.SME).id)
    admin = _user(s, Role.ADMIN)
    assert evacl.event_access(s, organizer, event) is evacl.Access.ORGANIZER
    assert evacl.event_access(s, admin, event) is evacl.Access.ORGANIZER
    assert evacl.event_access(s, participant, event) is evacl.Access.PARTICIPANT
    assert evacl.event_access(s, stranger_org, event) is evacl.Access.NONE
    assert evacl.event_access(s, outsider, event) is evacl.Access.PUBLIC  # may register, sees nothing inside
    assert evacl.event_access(s, None, event) is evacl.Access.NONE
    event.open_registration = False
    assert evacl.event_access(s, outsider, event) is evacl.Access.NONE
    with pytest.raises(PermissionDeniedError):
        evacl.require_event(s, stranger_org, event, evacl.Access.ORGANIZER)


def test_demands_of_an_event_are_visible_to_its_organizer_and_participants_only(world):
    s, w = world
    organizer = _user(s, Role.ORGANIZER, organization_name=w["org"].name)
    stranger_org = _user(s, Role.ORGANIZER, organization_name=w["other_org"].name)
    participant = _user(s, Role.SME, firm_id=w["smes"][0].id)
    from marketplace.enterprise.firms import create_firm

    outsider = _user(s, Role.SME, firm_id=create_firm(s, name="局外企业二有限公司", kind=FirmKind.SME).id)

    def visible(viewer):
        return set(s.scalars(select(Demand.id).where(Demand.id.in_(demand_ids_visible_via_events(viewer)))))

    assert visible(organizer) == {w["demand"].id}
    assert visible(participant) == {w["demand"].id}
    assert visible(stranger_org) == set()
    assert visible(outsider) == set()
    assert visible(None) == set()
    reg = s.scalar(select(EventRegistration).where(EventRegistration.firm_id == w["smes"][0].id))
    reg.status = RegistrationStatus.WITHDRAWN
    s.flush()
    assert visible(participant) == set()


def test_invite_suggestions_rank_both_sides_with_reasons_and_show_chain_gaps(world):
    from marketplace.events.invitees import chain_segments, invite_suggestions

    s, w = world
    segments = chain_segments(s, w["event"])
    assert "锂电池" in segments["core"].values() and segments["parts"]  # sub-products from the relations
    found = invite_suggestions(s, None, w["event"])
    large = {r["firm_id"]: r for r in found["large"]}
    assert any(r.startswith("需求《采购锂电池隔膜》涉及产业链") for r in large[w["large"].id]["reasons"])
    assert large[w["large"].id]["status"] == "registration_approved"
    core = next(seg for seg in found["segments"] if seg["segment"] == "core")
    assert "隔膜" in core["covered"] and core["candidates"] >= 1
    assert all(set(seg["covered"]).isdisjoint(seg["gaps"]) for seg in found["segments"])
    assert any(seg["gaps"] for seg in found["segments"])  # the fixture chain has segments nobody covers


def test_invite_suggestions_keep_reasons_as_data_and_write_them_in_the_readers_language(loaded):
    """Reasons, segments and statuses: data in the suggestions and on the invitation, text in the
    locale asked for (English or Chinese, never both), names and titles as written."""
    from marketplace.events.invitees import (
        SEGMENTS,
        invite_from_suggestions,
        invite_suggestions,
        segment_name,
        stored_segment,
    )

    with session_scope(loaded) as s:
        w = setup_event(s, register=False)
        evreg.invite_firms(s, w["event"], [w["large"].id])
        evreg.register_firm(s, w["event"], w["large"].id)
        zh = invite_suggestions(s, None, w["event"])
        en = invite_suggestions(s, None, w["event"], locale="en")
        buyer_zh = next(r for r in zh["large"] if r["firm_id"] == w["large"].id)
        buyer_en = next(r for r in en["large"] if r["firm_id"] == w["large"].id)
        assert "需求《采购锂电池隔膜》涉及产业链：锂电池、隔膜" in buyer_zh["reasons"]
        assert "Demand “采购锂电池隔膜” is in the chain: 锂电池, 隔膜" in buyer_en["reasons"]
        assert buyer_en["reason_data"][0] == {
            "kind": "demand_in_chain",
            "title": "采购锂电池隔膜",
            "terms": ["锂电池", "隔膜"],
        }
        assert buyer_en["status"] == "registration_approved"
        assert (buyer_zh["status_label"], buyer_en["status_label"]) == ("报名：已通过", "Registration: Approved")
        separator = w["smes"][0].id  # 测试隔膜科技 makes 锂电池隔膜 and has 隔膜 in its name
        sme_zh = next(r for r in zh["sme"] if r["firm_id"] == separator)
        sme_en = next(r for r in en["sme"] if r["firm_id"] == separator)
        assert (
            "企业名称涉及产业链：隔膜" in sme_zh["reasons"]
            and "Firm name mentions the chain: 隔膜" in sme_en["reasons"]
        )
        assert sme_en["segment"] in SEGMENTS and sme_en["segment_label"] == SEGMENTS[sme_en["segment"]][1]
        assert sme_zh["segment_label"] == SEGMENTS[sme_zh["segment"]][0]
        assert sme_zh["status"] is None and sme_zh["status_label"] is None
        assert [seg["label"] for seg in en["segments"]] == [SEGMENTS[seg["segment"]][1] for seg in en["segments"]]
        for row in en["large"] + en["sme"]:  # English text only: no Chinese sentence, no raw data
            for text in row["reasons"]:
                assert isinstance(text, str) and "{" not in text
                assert not any(word in text for word in ("需求《", "涉及产业链", "生产", "企业名称", "产业链："))
        # inviting keeps the reasons as data and the segment as the statistics group it
        sent = invite_from_suggestions(s, None, w["event"], [separator], en)
        assert sent[0].reasons == sme_en["reason_data"]
        assert sent[0].segment == stored_segment(sme_en["segment"])
        assert segment_name(sent[0].segment, "en") == sme_en["segment_label"]
        assert segment_name(sent[0].segment, "zh") == sme_zh["segment_label"]
        assert segment_name("自定义环节", "en") == "自定义环节"  # other text as written


@pytest.mark.parametrize(
    ("reason", "zh", "en"),
    [
        (
            {"kind": "demand_in_chain", "title": "甲", "terms": []},
            "需求《甲》：本活动发榜需求",
            "Demand “甲” is on this event's board",
        ),
        (
            {"kind": "makes_chain_product", "segment": "upstream", "product": "电解液", "buyer": False},
            "生产上游原材料：电解液",
            "Makes 电解液 (Upstream materials)",
        ),
        (
            {"kind": "makes_chain_product", "segment": "core", "product": "锂电池", "buyer": True},
            "生产核心产品：锂电池（产业链买方）",
            "Makes 锂电池 (Core products; a buyer in the chain)",
        ),
        (
            {"kind": "firm_relation", "relation": "supplies", "firm": "福莱特"},
            "与福莱特有供应关系（产业链企业关系）",
            "Supplies 福莱特 (chain firm relation)",
        ),
        (
            {"kind": "can_meet_demand", "title": "甲", "owner": "福莱特"},
            "可满足需求《甲》（福莱特）",
            "Can meet demand “甲” (福莱特)",
        ),
        ({"kind": "products", "terms": ["隔膜"]}, "匹配产品：隔膜", "Matching products: 隔膜"),  # the engine's
        ({"kind": "lexical"}, "文本相关（BM25）", "Text match (BM25)"),
        ("旧版理由", "旧版理由", "旧版理由"),  # stored before reasons were data: as written
    ],
)
def test_invitee_reasons_render_in_either_language(reason, zh, en):
    from marketplace.events.invitees import render_reason

    assert render_reason(reason, "zh") == zh
    assert render_reason(reason, "en") == en


def test_browse_gives_the_request_status_as_a_labelled_enum(world):
    s, w = world
    sme = w["smes"][0]
    evreq.request_meeting(s, w["event"], sme.id, w["large"].id)
    row = next(r for r in evreq.browse_participants(s, w["event"], sme.id) if r["firm_id"] == w["large"].id)
    assert row["request_status"] is RequestStatus.PENDING and row["request_status"] == "pending"
    assert row["request_status"].label("en") == "Awaiting answer"


def test_survey_invitation_notifies_every_participants_users(world):
    s, w = world
    user = _user(s, Role.SME, firm_id=w["smes"][1].id)
    assert evmeet.invite_to_survey(s, w["event"]) >= 1
    links = list(s.scalars(select(Notification.link).where(Notification.user_id == user.id)))
    assert f"/events/{w['event'].id}/survey" in links


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"start_date": "2020-01-01"}, "start_date", "in the past"),
        ({"sessions": ["09:00-12:00", "11:00-13:00"]}, "sessions", "overlap"),
        ({"title": "对接会\r\nX-INJ:1"}, "title", "one line"),
        ({"focus_products": ["隔" * 201]}, "focus_products", "at most 200"),
    ],
)
def test_bad_events_are_refused_naming_the_field(world, extra, field, words):
    s, w = world
    with pytest.raises(InputError, match=words) as err:
        ev.create_event(s, w["org"].id, event_data(**extra))
    assert err.value.field == field


def test_registration_cannot_close_after_the_event_starts(world):
    s, w = world
    start = w["event"].start_date
    with pytest.raises(InputError, match="after the event starts"):
        ev.update_event(s, w["event"], {"registration_closes": f"{start + timedelta(days=3)}T09:00"})
    ev.update_event(s, w["event"], {"registration_closes": f"{start - timedelta(days=1)}T09:00"})


def test_a_line_break_in_a_firm_name_is_escaped_in_the_calendar_name(world):
    from icalendar import Calendar

    from marketplace.events.agenda import agenda_ics

    s, w = world
    data = agenda_ics(s, w["event"], w["smes"][0].id, "甲公司\r\nX-INJ:1")
    unfolded = data.replace(b"\r\n ", b"")
    assert b"\nX-INJ" not in unfolded and "甲公司\\nX-INJ:1".encode() in unfolded
    assert "X-INJ" not in Calendar.from_ical(data)  # no property smuggled in


@pytest.mark.parametrize("title", ["对接会\u2028第二行", "对接会\u2029第二段", "对接会\u0085下一行", "对接会\x9b控制"])
def test_title_with_a_unicode_line_separator_or_c1_control_is_refused(world, title):
    s, w = world
    with pytest.raises(InputError, match="one line") as err:
        ev.create_event(s, w["org"].id, event_data(title=title))
    assert err.value.field == "title"


@pytest.mark.parametrize(("start", "days"), [("9999-12-30", 7), ("9999-12-31", 1)])
def test_a_start_date_more_than_five_years_ahead_is_refused_naming_start_date(world, start, days):
    s, w = world
    with pytest.raises(InputError, match="more than 5 years ahead") as err:
        ev.create_event(s, w["org"].id, event_data(start_date=start, days=days))
    assert err.value.field == "start_date"
    with pytest.raises(InputError) as err:
        ev.update_event(s, w["event"], {"start_date": start, "days": days})
    assert err.value.field == "start_date"


def test_the_latest_allowed_start_date_takes_the_longest_event(world):
    s, w = world
    latest = ev.latest_start_date()
    event = ev.create_event(s, w["org"].id, event_data(start_date=latest.isoformat(), days=7))
    assert event.slot_times()[-1][0].date() == latest + timedelta(days=6)
    assert ev.latest_start_date(date(2028, 2, 29)) == date(2033, 2, 28)


def test_registration_cannot_close_after_the_first_slot_in_the_event_time_zone(world):
    s, w = world
    event = w["event"]  # one session from 09:00 (Asia/Shanghai), i.e. 01:00 UTC
    start = event.start_date
    with pytest.raises(InputError) as err:
        ev.update_event(s, event, {"registration_closes": f"{start}T20:00:00+08:00"})
    assert err.value.field == "registration_closes"
    assert f"{start} 20:00+08:00 is after the event starts ({start} 09:00+08:00)" in str(err.value)
    with pytest.raises(InputError):  # naive values are UTC: 01:01 UTC is 09:01 in Shanghai
        ev.update_event(s, event, {"registration_closes": f"{start}T01:01:00"})
    ev.update_event(s, event, {"registration_closes": f"{start}T09:00:00+08:00"})
    assert event.registration_closes == datetime(start.year, start.month, start.day, 1, 0)
    late_morning = ev.update_event(s, event, {"sessions": ["13:30-17:00", "10:00-12:00"]})
    assert late_morning.registration_closes is not None  # the first slot now starts at 10:00


def test_null_clears_the_optional_texts_and_lists_of_an_event(world):
    s, w = world
    event = ev.update_event(
        s, w["event"], {"description": "旧简介", "location": "旧地点", "focus_industries": ["电池"]}
    )
    ev.update_event(
        s, event, {"description": None, "location": None, "focus_industries": None, "registration_closes": None}
    )
    assert (event.description, event.location, event.focus_industries) == ("", "", [])
    assert event.registration_closes is None


def test_an_event_without_sessions_is_refused_naming_sessions(world):
    s, w = world
    for empty in ("", [], None):
        with pytest.raises(InputError, match="at least one session") as err:
            ev.update_event(s, w["event"], {"sessions": empty})
        assert err.value.field == "sessions"


def test_a_finished_event_takes_no_registration_even_from_an_invited_firm(loaded):
    from marketplace.enterprise.firms import create_firm

    with session_scope(loaded) as s:
        w = setup_event(s)
        late = create_firm(s, name="迟到测试企业有限公司", kind=FirmKind.SME)
        evreg.invite_firms(s, w["event"], [late.id])
        evreg.decline_invitation(s, w["event"], late.id)
        event_day_has_come(s, w["event"])
        ev.set_event_status(s, w["event"], EventStatus.FINISHED)
        with pytest.raises(ConflictError, match="the event is finished; firms register only") as err:
            evreg.register_firm(s, w["event"], late.id)
        assert err.value.field == "status"
        assert evacl.registration_for(s, w["event"], late.id) is None


def test_a_draft_event_takes_no_registration_even_from_an_invited_firm(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, register=False)
        w["event"].status = EventStatus.DRAFT
        evreg.invite_firms(s, w["event"], [w["smes"][0].id])
        with pytest.raises(ConflictError, match="the event is draft"):
            evreg.register_firm(s, w["event"], w["smes"][0].id)


def test_meetings_are_neither_requested_nor_answered_nor_proposed_once_the_event_is_finished(world):
    s, w = world
    event = w["event"]
    pending = evreq.request_meeting(s, event, w["smes"][0].id, w["large"].id)
    event_day_has_come(s, event)
    ev.set_event_status(s, event, EventStatus.FINISHED)
    with pytest.raises(ConflictError, match="the event is finished; meetings are requested and answered"):
        evreq.request_meeting(s, event, w["smes"][1].id, w["large"].id)
    for accept in (True, False):
        with pytest.raises(ConflictError) as err:
            evreq.answer_request(s, pending, user=firm_viewer(pending.to_firm_id), accept=accept)
        assert err.value.field == "status"
    assert pending.status is RequestStatus.PENDING
    assert s.scalar(select(Meeting.id).where(Meeting.event_id == event.id)) is None
    with pytest.raises(ConflictError):
        evreq.propose_meetings(s, None, event)


def test_a_rejected_registration_alone_does_not_show_the_event(world):
    from marketplace.enterprise.firms import create_firm

    s, w = world
    event = w["event"]
    firm = create_firm(s, name="被拒测试企业有限公司", kind=FirmKind.SME)
    user = _user(s, Role.SME, firm_id=firm.id)
    reg = evreg.register_firm(s, event, firm.id)
    assert evacl.event_access(s, user, event) is evacl.Access.INVITED  # pending: sees the event page
    evreg.decide_registration(s, reg, approve=False)
    assert evacl.event_access(s, user, event) is evacl.Access.PUBLIC  # open registration: like anyone
    event.open_registration = False
    assert evacl.event_access(s, user, event) is evacl.Access.NONE
    evreg.invite_firms(s, event, [firm.id])
    assert evacl.event_access(s, user, event) is evacl.Access.INVITED  # an invitation still shows it


# --- editing a scheduled event, a finished event, double submits, the report's contracts ------------


def _placed(s, w, sme, slot=1, table=1, status=MeetingStatus.SCHEDULED):
    req = evreq.request_meeting(s, w["event"], sme.id, w["large"].id, demand_id=w["demand"].id)
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == req.id))
    meeting.slot, meeting.table_no, meeting.status, meeting.locked = slot, table, status, True
    s.flush()
    return meeting


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_date": "+1"}, "start_date"),
        ({"sessions": ["14:00-15:30"]}, "sessions"),
        ({"slot_minutes": 25}, "slot_minutes"),
        ({"gap_minutes": 10}, "gap_minutes"),
        ({"tables": 1}, "tables"),
    ],
)
def test_an_edit_that_would_move_placed_meetings_is_refused_naming_the_field(world, change, field):
    s, w = world
    event = w["event"]
    held = _placed(s, w, w["smes"][0], slot=1, table=1, status=MeetingStatus.HELD)
    sent = _placed(s, w, w["smes"][1], slot=2, table=0)
    if change.get("start_date") == "+1":
        change = {"start_date": (event.start_date + timedelta(days=1)).isoformat()}
    before = (event.start_date, list(event.sessions), event.slot_minutes, event.gap_minutes, event.tables)
    with pytest.raises(ConflictError, match="cancel those meetings") as err:
        ev.update_event(s, event, {"title": "改名的对接会", **change})
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")
    assert (event.start_date, list(event.sessions), event.slot_minutes, event.gap_minutes, event.tables) == before
    assert event.title != "改名的对接会"  # nothing of the refused edit is kept
    assert (held.slot, held.table_no, sent.slot, sent.table_no) == (1, 1, 2, 0)


def test_edits_that_keep_placed_meetings_where_they_are_go_through(world):
    s, w = world
    event = w["event"]
    meeting = _placed(s, w, w["smes"][0], slot=2, table=1)
    times = event.slot_times()[2]
    ev.update_event(s, event, {"title": "锂电池产业链对接会（第二期）", "description": "新简介", "location": "3 号馆"})
    ev.update_event(s, event, {"days": 2, "tables": 5})  # a day added at the end, more tables
    assert event.title == "锂电池产业链对接会（第二期）" and event.days == 2 and event.tables == 5
    assert event.slot_times()[meeting.slot] == times and meeting.sequence == 0


def test_waiting_or_cancelled_meetings_do_not_block_a_new_date(world):
    s, w = world
    event = w["event"]
    waiting = _placed(s, w, w["smes"][0])
    waiting.slot = waiting.table_no = None
    waiting.status, waiting.locked = MeetingStatus.WAITING, False
    ev.update_event(s, event, {"start_date": (event.start_date + timedelta(days=3)).isoformat(), "tables": 1})
    assert event.tables == 1


def test_a_finished_event_refuses_invitations_decisions_availability_and_cancellations(loaded):
    from marketplace.enterprise.firms import create_firm
    from marketplace.events.invitees import invite_from_suggestions

    with session_scope(loaded) as s:
        w = setup_event(s)
        event = w["event"]
        late = create_firm(s, name="迟到测试企业有限公司", kind=FirmKind.SME)
        pending = evreg.register_firm(s, event, late.id)  # open registration: waits for the organizer
        meeting = _placed(s, w, w["smes"][0], slot=0, table=0)
        meeting.locked = False
        reg = w["regs"][w["smes"][1].id]
        event_day_has_come(s, event)
        ev.set_event_status(s, event, EventStatus.FINISHED)
        newcomer = create_firm(s, name="新邀请测试企业有限公司", kind=FirmKind.SME)
        refusals = [
            (lambda: evreg.invite_firms(s, event, [newcomer.id]), "firms are invited only until"),
            (lambda: invite_from_suggestions(s, None, event, [newcomer.id]), "firms are invited only until"),
            (lambda: evreg.decide_registration(s, pending, approve=True), "registrations are approved or rejected"),
            (lambda: evreg.set_availability(s, reg, [0]), "availability changes only until"),
            (lambda: evmeet.cancel_meeting(s, meeting), "meetings are cancelled only until"),
        ]
        for action, words in refusals:
            with pytest.raises(ConflictError, match=f"the event is finished; {words}") as err:
                action()
            assert err.value.field == "status"
        assert evacl.registration_for(s, event, newcomer.id) is None
        assert pending.status is RegistrationStatus.PENDING and reg.available_slots is None
        assert meeting.status is MeetingStatus.SCHEDULED and meeting.slot == 0
        assert not evmeet.can_cancel_meeting(s, None, meeting)
        evmeet.mark_meeting(s, meeting, held=True)  # what happened on the day is still recorded


def test_the_same_event_posted_twice_is_created_once(world):
    s, w = world
    event = w["event"]
    with pytest.raises(ConflictError, match="锂电池产业链供需对接会") as err:
        ev.create_event(s, event.organization_id, event_data())
    assert err.value.field == "title" and str(err.value).startswith("title: the event “锂电池产业链供需对接会”")
    later = ev.create_event(
        s, event.organization_id, event_data(start_date=(event.start_date + timedelta(days=7)).isoformat())
    )
    other = ev.create_event(s, w["other_org"].id, event_data())  # another organizer may use the title
    with pytest.raises(ConflictError):  # an edit cannot make a copy either
        ev.update_event(s, later, {"start_date": event.start_date.isoformat()})
    ev.update_event(s, event, {"description": "只改简介"})  # an edit of the event itself is not a copy
    assert later.id != event.id and other.id != event.id


def test_the_survey_invitation_asks_each_participant_once(world):
    from marketplace.enterprise.firms import create_firm

    s, w = world
    event = w["event"]
    users = [_user(s, Role.SME, firm_id=f.id) for f in w["smes"][:2]]
    first = evmeet.survey_invitations(s, event)
    assert first["invited"] == 2 and first["already"] == 0

    def notices() -> int:
        return len(list(s.scalars(select(Notification.id).where(Notification.kind == "event_survey"))))

    sent = notices()
    assert sent == first["notified"] == 2
    assert evmeet.invite_to_survey(s, event) == 0  # posted twice: nobody is notified again
    assert notices() == sent
    late = create_firm(s, name="后批准测试企业有限公司", kind=FirmKind.SME)
    evreg.decide_registration(s, evreg.register_firm(s, event, late.id), approve=True)
    _user(s, Role.SME, firm_id=late.id)
    again = evmeet.survey_invitations(s, event)
    assert again == {"invited": 1, "already": 2, "notified": 1}
    assert {n for n in s.scalars(select(Notification.user_id).where(Notification.kind == "event_survey"))} >= {
        u.id for u in users
    }


def test_the_report_counts_contracts_of_the_events_meetings_and_signatures_on_the_event_day(world):
    from datetime import time

    from marketplace.contracts import starting
    from marketplace.events.stats import report_csv, report_numbers
    from marketplace.models import ContractStatus

    s, w = world
    event = w["event"]
    sme = w["smes"][0]
    meeting = _placed(s, w, sme, slot=0, table=0)
    event_day_has_come(s, event)
    evmeet.mark_meeting(s, meeting, held=True)
    evmeet.record_outcome(s, meeting, sme.id, {"outcome": "agreement", "amount": 50})
    buyer = _user(s, Role.LARGE, firm_id=w["large"].id)
    eve = event.start_date - timedelta(days=1)

    def signed(contract, at, amount):
        contract.status, contract.signed_at, contract.amount = ContractStatus.SIGNED, at, amount
        s.flush()

    # started from the meeting: counts whenever it was signed (here the evening before, UTC)
    signed(starting.start_from_meeting(s, buyer, meeting.id), datetime.combine(eve, time(10)), 500_000)
    scratch = [
        starting.start_contract(s, buyer, buyer_firm_id=w["large"].id, supplier_firm_id=sme.id) for _ in range(2)
    ]
    signed(scratch[0], datetime.combine(eve, time(23)), 200_000)  # 07:00 北京时间 on the event day: counts
    signed(scratch[1], datetime.combine(eve, time(15)), 900_000)  # 23:00 北京时间 the day before: not
    numbers = report_numbers(s, event)
    assert (numbers["签约数"], numbers["金额（万元）"]) == (2, 70.0)
    csv_text = report_csv(s, event).decode("utf-8-sig")
    assert "签约数,2" in csv_text and "金额（万元）,70.0" in csv_text


# --- what happens on the day waits for the day (event time zone); why nothing was proposed --------


def _utc(day: date, hour: int, minute: int = 0) -> datetime:
    """A stored (naive UTC) time."""
    return datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)


def test_an_event_is_ended_only_from_its_first_day_in_beijing_time(world):
    s, w = world
    event = w["event"]  # 30 days ahead
    start = event.start_date
    with pytest.raises(ConflictError) as err:
        ev.set_event_status(s, event, EventStatus.FINISHED)
    assert err.value.field == "start_date"
    assert str(err.value) == (
        f"start_date: the event starts on {start.isoformat()} (Beijing time); it can be ended only from that day on"
    )
    refusal = err.value
    # 23:59 in Beijing on the eve is 15:59 UTC; 00:30 on the day is 16:30 UTC of the eve
    with pytest.raises(ConflictError):
        ev.set_event_status(s, event, EventStatus.FINISHED, now=_utc(start - timedelta(days=1), 15, 59))
    assert event.status is EventStatus.OPEN
    ev.set_event_status(s, event, EventStatus.FINISHED, now=_utc(start - timedelta(days=1), 16, 30))
    assert event.status is EventStatus.FINISHED
    assert zh(message_of(refusal)) == f"start_date: 活动于 {start.isoformat()}（北京时间）开始，当天起才能结束活动"


def test_held_and_no_show_are_refused_before_the_meetings_day_and_check_in_before_the_events(world):
    s, w = world
    event = w["event"]
    ev.update_event(s, event, {"days": 2})
    sme = w["smes"][0]
    second_day = len(event.slot_times()) // 2  # the first slot of the event's second day
    meeting = _placed(s, w, sme, slot=second_day, table=0)
    start = event.start_date
    day2 = start + timedelta(days=1)
    for held in (True, False):
        with pytest.raises(ConflictError) as err:
            evmeet.mark_meeting(s, meeting, held=held, now=_utc(start, 4))  # 12:00 in Beijing on the first day
        assert err.value.field == "start_date" and f"the meeting is on {day2.isoformat()} (Beijing time)" in str(
            err.value
        )
    refusal = err.value
    assert meeting.status is MeetingStatus.SCHEDULED
    assert not evmeet.can_mark_meeting(s, meeting, now=_utc(start, 4))
    token = w["regs"][sme.id].checkin_token
    with pytest.raises(ConflictError) as err:
        evmeet.check_in(s, event, token, now=_utc(start - timedelta(days=1), 15, 59))
    assert str(err.value) == (
        f"start_date: the event starts on {start.isoformat()} (Beijing time); participants check in only from that day on"
    )
    assert w["regs"][sme.id].checked_in_at is None and meeting.checked_in_at is None
    assert evmeet.check_in(s, event, token, now=_utc(start - timedelta(days=1), 16, 0)).checked_in_at is not None
    assert evmeet.can_mark_meeting(s, meeting, now=_utc(start, 16))  # 00:00 in Beijing on the second day
    evmeet.mark_meeting(s, meeting, held=False, now=_utc(start, 16))
    assert meeting.status is MeetingStatus.NO_SHOW
    assert (
        zh(message_of(refusal)) == f"start_date: 洽谈在 {day2.isoformat()}（北京时间）举行，当天起才能标记已洽谈或缺席"
    )


def test_a_check_in_link_is_the_organizers_to_scan_and_its_own_participants_to_read(world):
    s, w = world
    event = w["event"]
    sme, other = w["smes"][0], w["smes"][1]
    token = w["regs"][sme.id].checkin_token
    organizer = _user(s, Role.ORGANIZER, organization_name=w["org"].name)
    owner = _user(s, Role.SME, firm_id=sme.id)
    participant = _user(s, Role.SME, firm_id=other.id)
    assert evmeet.checkin_access(s, organizer, event, token) == (evacl.Access.ORGANIZER, w["regs"][sme.id])
    assert evmeet.checkin_access(s, owner, event, token) == (evacl.Access.PARTICIPANT, w["regs"][sme.id])
    assert evmeet.checkin_access(s, participant, event, token)[0] is evacl.Access.INVITED  # another firm's link
    assert evmeet.checkin_access(s, owner, event, "not-a-token") == (evacl.Access.INVITED, None)
    assert evmeet.checkin_access(s, None, event, token)[0] is evacl.Access.NONE


def test_a_proposal_run_that_makes_nothing_says_why_from_the_events_data(loaded):
    from marketplace.matching.engine import MatchEngine

    with session_scope(loaded) as s:
        w = setup_event(s, register=False)
        event = w["event"]
        engine = MatchEngine(loaded, use_dense=False).build(s)
        owner = w["large"].display_name
        run = evreq.propose(s, engine, event)
        assert run.made == [] and run.why_none == (
            f"no demand on the board belongs to an approved participant: its owners ({owner}) "
            "have not registered or are not approved yet"
        )
        unregistered = run.why_none
        evreg.invite_firms(s, event, [w["large"].id])
        large = evreg.register_firm(s, event, w["large"].id)
        assert evreq.propose(s, engine, event).why_none.startswith("no SME is registered and approved")
        sme = w["smes"][0]  # the separator maker fits the separator demand
        evreg.invite_firms(s, event, [sme.id])
        evreg.set_availability(s, evreg.register_firm(s, event, sme.id), [2])
        evreg.set_availability(s, large, [0, 1])
        run = evreq.propose(s, engine, event, per_demand=1)
        assert run.made == [] and run.why_none == (
            "1 matching pairs share no slot both firms can attend; ask them to widen their availability"
        )
        evreg.set_availability(s, large, [0, 1, 2])
        assert [r.from_firm_id for r in evreq.propose(s, engine, event, per_demand=1).made] == [sme.id]
        run = evreq.propose(s, engine, event, per_demand=1)
        assert run.made == [] and run.why_none.startswith("1 best-matching pairs already have a meeting request")
        assert zh(unregistered) == f"发榜需求的发布企业（{owner}）尚未报名或尚未获批参会"
        assert zh(run.why_none) == "1 对最匹配的企业已有洽谈申请（此前的推荐或企业自己的申请）"


def test_a_proposal_run_on_an_empty_board_says_so(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s)
        w["event"].demands.clear()
        s.flush()
        run = evreq.propose(s, None, w["event"])  # no demand: the engine is not asked
        assert run.made == [] and run.why_none == (
            "no demand is on the event's board; add the participating large firms' demands to it first"
        )
