"""Scheduling an event from the database with the CP-SAT solver: feasibility of what is written
back, the SMEs' floor, reasons naming the firm, the large firms' maximum, locked meetings that
never move, refilling a freed slot from the waiting list, calendar sequence bumps, notifications,
and the statistics computed from the records."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from marketplace.accounts.permissions import firm_viewer
from marketplace.accounts.users import create_user
from marketplace.db import session_scope
from marketplace.errors import ConflictError
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events import registrations as evreg
from marketplace.events.invitees import render_reason
from marketplace.events.scheduling import build_solver_input, schedule_event, send_agendas
from marketplace.events.stats import event_stats, report_numbers
from marketplace.models import (
    EventStatus,
    FirmKind,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    RequestSource,
    RequestStatus,
    Role,
    Side,
)
from marketplace.models.notifications import Notification
from tests.events_helpers import event_day_has_come, setup_event
from tests.messages_helpers import zh


def _accept(s, event, sme_id, large_id, demand_id=None) -> Meeting:
    req = evreq.request_meeting(s, event, sme_id, large_id, demand_id=demand_id)
    evreq.answer_request(s, req, user=firm_viewer(req.to_firm_id), accept=True)
    return s.scalar(select(Meeting).where(Meeting.request_id == req.id))


@pytest.fixture
def scheduled(loaded):
    """Six accepted meetings: every SME with both large firms; 3 slots, 2 tables."""
    with session_scope(loaded) as s:
        w = setup_event(s)
        event = w["event"]
        meetings = [
            _accept(s, event, sme.id, large.id, w["demand"].id if large.id == w["large"].id else None)
            for sme in w["smes"]
            for large in (w["large"], w["large2"])
        ]
        yield s, w, meetings


def _check_feasible(s, w) -> None:
    event = w["event"]
    placed = [m for m in s.scalars(select(Meeting).where(Meeting.event_id == event.id)) if m.slot is not None]
    assert len({(m.slot, m.table_no) for m in placed}) == len(placed), "one meeting per table and slot"
    assert all(0 <= m.table_no < event.tables and 0 <= m.slot < event.slot_count for m in placed)
    load = Counter((f, m.slot) for m in placed for f in (m.large_firm_id, m.sme_firm_id))
    for reg in evreg.approved_registrations(s, event):
        cap = reg.representatives if reg.side is Side.LARGE else 1
        avail = set(reg.available(event.slot_count))
        for (firm, slot), n in load.items():
            if firm == reg.firm_id:
                assert n <= cap and slot in avail


def test_schedule_writes_a_feasible_schedule_and_meets_every_smes_floor(scheduled):
    s, w, meetings = scheduled
    summary = schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    assert summary["scheduled"] == 6 and summary["unscheduled"] == []
    per_sme = Counter(m.sme_firm_id for m in meetings if m.status is MeetingStatus.SCHEDULED)
    assert all(per_sme[sme.id] >= 1 for sme in w["smes"])
    assert w["event"].status is EventStatus.SCHEDULED


def test_meeting_without_a_common_slot_is_explained_with_the_firm_name(scheduled):
    s, w, meetings = scheduled
    sme = w["smes"][2]
    evreg.set_availability(s, w["regs"][sme.id], [])
    summary = schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    reasons = [u["reason"] for u in summary["unscheduled"]]
    assert len(reasons) == 2
    for r in reasons:
        assert (
            r
            == f"the two firms share no slot they can attend: participant '{sme.display_name}' is available in no slot"
        )
        assert zh(r) == f"双方没有共同的可参会时段：参会方 '{sme.display_name}' 没有任何可参会时段"
    waiting = [m for m in meetings if m.sme_firm_id == sme.id]
    for m in waiting:  # stored as a message: English for the API and exports, Chinese on the pages
        s.refresh(m)
        assert m.status is MeetingStatus.WAITING and m.unscheduled_reason == reasons[0]
        assert zh(m.reason) == zh(reasons[0]) and m.reason.template == "%(summary)s: %(detail)s"


def test_reasons_name_slots_by_their_start_time_not_the_solvers_slot_number(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, tables=1)
        event = w["event"]
        for sme in w["smes"]:
            _accept(s, event, sme.id, w["large"].id)
        evreg.set_availability(s, w["regs"][w["large"].id], [0])  # three meetings for one table in one slot
        summary = schedule_event(s, event, time_limit_s=5)
        start = event.slot_times()[0][0].strftime("%m-%d %H:%M")
        reasons = [u["reason"] for u in summary["unscheduled"]]
        assert len(reasons) == 2
        for r in reasons:
            assert f"in slot(s) {start}" in r and "[0]" not in r and "'f" not in r, r
            assert f"时段 {start}" in zh(r), zh(r)


def test_large_firms_maximum_goes_to_the_solver_and_extra_meetings_wait_with_a_reason(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, large_max_meetings=2)
        for sme in w["smes"]:
            _accept(s, w["event"], sme.id, w["large"].id)
        data, kept_out = build_solver_input(s, w["event"])
        assert kept_out == {} and len(data["meetings"]) == 3
        caps = {p["id"]: p.get("max_meetings") for p in data["participants"]}
        assert caps[f"f{w['large'].id}"] == 2 and caps[f"f{w['smes'][0].id}"] is None
        summary = schedule_event(s, w["event"], time_limit_s=5)
        assert summary["scheduled"] == 2
        assert any("上限" in zh(u["reason"]) for u in summary["unscheduled"])


def test_sent_meetings_never_move_and_a_cancellation_is_refilled_from_the_waiting_list(scheduled):
    s, w, meetings = scheduled
    before = _full_and_sent(s, w, meetings)
    # a late request arrives after the agendas went out
    late = _accept(s, w["event"], _late_sme(s, w, "迟到报名企业有限公司").id, w["large"].id)
    summary = schedule_event(s, w["event"], time_limit_s=5)
    assert {m.id: (m.slot, m.table_no) for m in meetings} == before, "locked meetings stay"
    assert late.status is MeetingStatus.WAITING and summary["unscheduled"]  # all 6 places are taken
    cancelled = meetings[0]
    freed = (cancelled.slot, cancelled.table_no)
    evmeet.cancel_meeting(s, cancelled)
    summary = schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    assert late.status is MeetingStatus.SCHEDULED and (late.slot, late.table_no) == freed
    assert all((m.slot, m.table_no) == before[m.id] for m in meetings[1:])
    assert summary["moved"] == 0


def _late_sme(s, w, name, available=None):
    from marketplace.enterprise.firms import create_firm

    firm = create_firm(s, name=name, kind=FirmKind.SME)
    evreg.invite_firms(s, w["event"], [firm.id])
    reg = evreg.register_firm(s, w["event"], firm.id)
    if available is not None:
        evreg.set_availability(s, reg, available)
    return firm


def _propose(s, w, sme, score) -> MeetingRequest:
    """An engine proposal (as ``propose_meetings`` writes it), still unanswered."""
    req = MeetingRequest(
        event_id=w["event"].id,
        from_firm_id=sme.id,
        to_firm_id=w["large"].id,
        demand_id=w["demand"].id,
        source=RequestSource.PROPOSAL,
        status=RequestStatus.PROPOSED,
        score=score,
        reasons=["可满足需求"],
    )
    s.add(req)
    s.flush()
    return req


def _full_and_sent(s, w, meetings):
    schedule_event(s, w["event"], time_limit_s=5)
    send_agendas(s, w["event"])
    return {m.id: (m.slot, m.table_no) for m in meetings}


def test_a_freed_place_goes_to_an_accepted_waiting_meeting_before_a_proposal(scheduled):
    s, w, meetings = scheduled
    before = _full_and_sent(s, w, meetings)
    late = _accept(s, w["event"], _late_sme(s, w, "候补企业甲有限公司").id, w["large"].id)
    proposal = _propose(s, w, _late_sme(s, w, "推荐企业乙有限公司"), score=0.99)  # weighs more than `late`
    summary = schedule_event(s, w["event"], time_limit_s=5)
    assert late.status is MeetingStatus.WAITING and proposal.status is RequestStatus.PROPOSED
    assert summary["from_proposals"] == []
    cancelled = meetings[0]
    freed = (cancelled.slot, cancelled.table_no)
    evmeet.cancel_meeting(s, cancelled)
    summary = schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    assert late.status is MeetingStatus.SCHEDULED and (late.slot, late.table_no) == freed
    assert proposal.status is RequestStatus.PROPOSED and summary["from_proposals"] == []
    assert s.scalar(select(Meeting).where(Meeting.request_id == proposal.id)) is None
    assert all((m.slot, m.table_no) == before[m.id] for m in meetings[1:]) and summary["moved"] == 0


def test_without_an_accepted_waiting_meeting_the_best_available_proposal_gets_the_freed_place(scheduled):
    s, w, meetings = scheduled
    before = _full_and_sent(s, w, meetings)
    cancelled = meetings[0]
    freed = (cancelled.slot, cancelled.table_no)
    others = [sl for sl in range(w["event"].slot_count) if sl != freed[0]]
    best = _propose(s, w, _late_sme(s, w, "推荐企业甲有限公司"), score=0.8)
    weaker = _propose(s, w, _late_sme(s, w, "推荐企业乙有限公司"), score=0.3)
    absent = _propose(s, w, _late_sme(s, w, "推荐企业丙有限公司", available=others), score=0.95)
    user = create_user(
        s, email="proposal-sme@t.cn", password="password-123", name="测试", role=Role.SME, firm_id=best.from_firm_id
    )
    evmeet.cancel_meeting(s, cancelled)
    # the first scheduling of an event does not place proposals unless asked; rescheduling does
    summary = schedule_event(s, w["event"], time_limit_s=5, proposals=False)
    assert summary["from_proposals"] == [] and best.status is RequestStatus.PROPOSED
    summary = schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    assert summary["from_proposals"] == [best.id] and summary["moved"] == 0
    assert best.status is RequestStatus.ACCEPTED and best.decided_at is not None
    assert best.reasons[-1] == {"kind": "refilled"}  # said in the reader's language where it is shown
    assert render_reason(best.reasons[-1], "en") == "Placed in a freed place when the event was rescheduled"
    assert render_reason(best.reasons[-1], "zh") == "重新排程时补入空出的洽谈位"
    assert weaker.status is RequestStatus.PROPOSED and absent.status is RequestStatus.PROPOSED  # absent: not available
    meeting = s.scalar(select(Meeting).where(Meeting.request_id == best.id))
    assert meeting.status is MeetingStatus.SCHEDULED and (meeting.slot, meeting.table_no) == freed
    assert (meeting.large_firm_id, meeting.sme_firm_id) == (w["large"].id, best.from_firm_id)
    assert (
        meeting.demand_id == w["demand"].id and meeting.sequence == 1 and meeting.weight == evreq.meeting_weight(best)
    )
    assert all((m.slot, m.table_no) == before[m.id] for m in meetings[1:])
    notes = list(s.scalars(select(Notification.title_zh).where(Notification.user_id == user.id)))
    assert any("日程" in t for t in notes)
    # the SME's requests list shows it accepted, and a later bulk accept does not duplicate it
    assert best in evreq.requests_for_firm(s, w["event"], best.from_firm_id)["proposed_to_me"]
    assert evreq.accept_proposals(s, w["event"], w["large"].id, [best.id]) == []


def test_moving_a_meeting_bumps_its_calendar_sequence_and_notifies_both_firms(scheduled):
    s, w, meetings = scheduled
    user = create_user(
        s, email="sme-user@t.cn", password="password-123", name="测试", role=Role.SME, firm_id=w["smes"][0].id
    )
    schedule_event(s, w["event"], time_limit_s=5)
    assert all(m.sequence == 1 for m in meetings)
    notes = list(s.scalars(select(Notification.title_zh).where(Notification.user_id == user.id)))
    assert any("日程" in t for t in notes)
    evreg.set_availability(s, w["regs"][w["smes"][0].id], [2])
    target = [m for m in meetings if m.sme_firm_id == w["smes"][0].id]
    schedule_event(s, w["event"], time_limit_s=5)
    _check_feasible(s, w)
    moved = [m for m in target if m.sequence == 2]
    assert moved and all(m.slot in (2, None) for m in target)


def test_scheduling_a_draft_event_is_refused(loaded):
    with session_scope(loaded) as s:
        w = setup_event(s, register=False)
        w["event"].status = EventStatus.DRAFT
        with pytest.raises(ConflictError, match="open registration before scheduling") as err:
            schedule_event(s, w["event"])
        assert err.value.field == "status"


def test_a_finished_event_is_neither_scheduled_nor_its_agendas_sent_as_a_conflict(scheduled):
    s, w, meetings = scheduled
    schedule_event(s, w["event"], time_limit_s=5)
    event_day_has_come(s, w["event"])
    ev.set_event_status(s, w["event"], EventStatus.FINISHED)
    for action in (lambda: schedule_event(s, w["event"]), lambda: send_agendas(s, w["event"])):
        with pytest.raises(ConflictError, match="the event is finished; it can no longer be scheduled") as err:
            action()
        assert err.value.field == "status"
    assert not any(m.locked for m in meetings)  # nothing was sent


def test_statistics_follow_the_records(scheduled):
    s, w, meetings = scheduled
    schedule_event(s, w["event"], time_limit_s=5)
    held, no_show = meetings[0], meetings[1]
    event_day_has_come(s, w["event"])
    evmeet.mark_meeting(s, held, held=True)
    evmeet.mark_meeting(s, no_show, held=False)
    evmeet.record_outcome(s, held, held.sme_firm_id, {"outcome": "quotation"})
    stats = event_stats(s, w["event"])
    assert stats["funnel"]["invited"] == 5 and stats["funnel"]["registered"] == 5
    assert stats["funnel"]["scheduled"] == 5 and stats["funnel"]["held"] == 2 and stats["funnel"]["outcome"] == 1
    assert stats["no_show_rate"] == 0.5
    assert stats["meetings_per_sme"] == {"2": 3} and stats["smes_without_meeting"] == []
    numbers = report_numbers(s, w["event"])
    assert numbers["参会企业数"] == 5 and numbers["对接场次"] == 1 and numbers["意向数"] == 1 and numbers["签约数"] == 0


def test_demo_event_is_loaded_once_with_participants_and_a_schedule(loaded):
    from marketplace.demands.workflow import create_demand
    from marketplace.events.demo import DEMO_EVENT_TITLE, load_demo_event
    from marketplace.models import Event, Firm

    with session_scope(loaded) as s:
        owner = s.scalar(select(Firm).where(Firm.stock_code == "002074"))  # 国轩高科, a battery maker
        create_demand(
            s,
            {
                "owner_firm_id": owner.id,
                "type": "supply_chain",
                "title": "采购锂电池隔膜与电解液",
                "wanted_products": ["隔膜", "电解液"],
                "publish": True,
            },
        )
        event_id = load_demo_event(s)
        assert event_id and load_demo_event(s) == 0
        event = s.get(Event, event_id)
        assert event.title == DEMO_EVENT_TITLE
        regs = evreg.approved_registrations(s, event)
        assert {r.side for r in regs} == {Side.LARGE, Side.SME} and len(regs) >= 3
        placed = list(
            s.scalars(select(Meeting).where(Meeting.event_id == event_id, Meeting.status == MeetingStatus.SCHEDULED))
        )
        assert placed and event.status is EventStatus.SCHEDULED
