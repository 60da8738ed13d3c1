"""Scheduling an event: builds the solver's JSON input from the database (participants with
representatives, availability and the SMEs' floor; accepted meetings with weights; locked and
previous placements), runs the CP-SAT scheduler (:func:`marketplace.events.solver.solve_json`)
and writes slots, tables and the reasons for unscheduled meetings back. Rerunning it after a
cancellation, a no-show or late requests refills freed slots from the waiting list while staying
close to the previous schedule: accepted-but-unscheduled meetings first, then the engine's
proposals (not yet accepted, not declined) of registered participants, best score first; a
proposal that gets a place becomes a scheduled meeting. Sending the agendas locks the schedule."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from marketplace.errors import Message, TransitionError, msg, to_data
from marketplace.events.events import SCHEDULING, require_status
from marketplace.events.meeting_requests import _meeting_for, meeting_weight
from marketplace.events.registrations import approved_registrations, notify_firms
from marketplace.models import (
    Event,
    EventStatus,
    Firm,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    RequestSource,
    RequestStatus,
    Side,
    utcnow,
)

# what each solver reason code means, for the organizer (the solver's own text gives the details)
SUMMARIES = {
    "no_capacity": msg("not enough representatives or tables"),
    "no_common_slot": msg("the two firms share no slot they can attend"),
    "participant_full": msg("in every common slot one of the two firms is fully booked"),
    "tables_full": msg("in every common slot all tables are taken"),
    "limits": msg("in every common slot the representatives or the tables are used up"),
    "time_limit": msg("the time limit ended the search with a free place left"),
    "zero_weight": msg("the meeting has weight 0"),
    "participant_max": msg("one of the two firms has reached its maximum of meetings for the event"),
}
NOT_SCHEDULED = msg("not scheduled")
LEFT_EVENT = msg("a participant is no longer registered")
PROPOSAL_NOTE = {"kind": "refilled"}  # rendered in the reader's language (events_invitees.render_reason)
ACTIVE = (MeetingStatus.WAITING, MeetingStatus.SCHEDULED, MeetingStatus.HELD, MeetingStatus.NO_SHOW)


def pid(firm_id: int) -> str:
    return f"f{firm_id}"


def mid(meeting_id: int) -> str:
    return f"m{meeting_id}"


def proposal_id(request_id: int) -> str:
    return f"p{request_id}"


def is_locked(meeting: Any) -> bool:
    """Sent to participants, checked in, or already held / no-show: never moves."""
    placed = meeting.slot is not None
    return placed and (
        meeting.locked
        or meeting.checked_in_at is not None
        or meeting.status in (MeetingStatus.HELD, MeetingStatus.NO_SHOW)
    )


def build_solver_input(
    session: Session, event: Event, *, time_limit_s: float = 2.0
) -> tuple[dict[str, Any], dict[int, Message]]:
    """The solver contract's input for this event, and the meetings kept out of it with their
    reason (a participant that is no longer registered). A large firm's ``large_max_meetings`` is
    the solver's ``max_meetings`` of that participant (reason code ``participant_max``)."""
    slots = event.slot_count
    regs = {r.firm_id: r for r in approved_registrations(session, event)}
    meetings = session.execute(  # plain rows: no ORM objects for thousands of meetings
        select(
            Meeting.id,
            Meeting.large_firm_id,
            Meeting.sme_firm_id,
            Meeting.weight,
            Meeting.status,
            Meeting.slot,
            Meeting.table_no,
            Meeting.locked,
            Meeting.checked_in_at,
        )
        .where(Meeting.event_id == event.id, Meeting.status.in_(ACTIVE))
        .order_by(Meeting.id)
    ).all()
    kept_out: dict[int, Message] = {}
    locked_per_firm: dict[int, int] = defaultdict(int)
    for m in meetings:
        if m.large_firm_id not in regs or m.sme_firm_id not in regs:
            kept_out[m.id] = LEFT_EVENT
        elif is_locked(m):
            locked_per_firm[m.large_firm_id] += 1
    participants = []
    for r in regs.values():
        participant: dict[str, Any] = {
            "id": pid(r.firm_id),
            "side": r.side.value,
            "capacity": r.representatives if r.side is Side.LARGE else 1,
            "available": r.available(slots),
            "min_meetings": event.sme_min_meetings if r.side is Side.SME else 0,
        }
        if r.side is Side.LARGE:  # locked meetings beyond a lowered cap stay where they are
            participant["max_meetings"] = max(event.large_max_meetings, locked_per_firm[r.firm_id])
        participants.append(participant)
    items, previous = [], []
    for m in meetings:
        if m.id in kept_out:
            continue
        item: dict[str, Any] = {"id": mid(m.id), "a": pid(m.large_firm_id), "b": pid(m.sme_firm_id), "weight": m.weight}
        if is_locked(m):
            item["locked"] = {"slot": m.slot, "table": m.table_no}
        elif m.slot is not None:
            previous.append({"id": mid(m.id), "slot": m.slot, "table": m.table_no})
        items.append(item)
    data = {
        "slots": slots,
        "tables": event.tables,
        "participants": participants,
        "meetings": items,
        "previous": previous,
        "time_limit_s": time_limit_s,
    }
    return data, kept_out


def proposal_items(session: Session, event: Event) -> tuple[list[dict[str, Any]], dict[str, MeetingRequest]]:
    """The engine's proposals (still proposed: neither accepted nor declined) between two approved
    participants of opposite sides, as solver meetings ``p<request id>`` weighted like the meeting
    each would become (so the best-scored proposal goes first)."""
    regs = {r.firm_id: r for r in approved_registrations(session, event)}
    items, by_id = [], {}
    for req in session.scalars(
        select(MeetingRequest)
        .where(
            MeetingRequest.event_id == event.id,
            MeetingRequest.source == RequestSource.PROPOSAL,
            MeetingRequest.status == RequestStatus.PROPOSED,
        )
        .order_by(MeetingRequest.id)
    ):
        a, b = regs.get(req.from_firm_id), regs.get(req.to_firm_id)
        if a is None or b is None or a.side is b.side:
            continue
        large, sme = (a, b) if a.side is Side.LARGE else (b, a)
        key = proposal_id(req.id)
        items.append({"id": key, "a": pid(large.firm_id), "b": pid(sme.firm_id), "weight": meeting_weight(req)})
        by_id[key] = req
    return items, by_id


def refill_with_proposals(
    session: Session, event: Event, data: dict[str, Any], result: dict[str, Any]
) -> dict[str, tuple[MeetingRequest, int, int]]:
    """Second pass: the places the meetings (accepted ones) left free go to proposals. Every meeting
    the first pass placed is locked where it is and the unplaced ones are left out, so a proposal
    never takes an accepted meeting's place nor moves one; the solver's floors, capacities,
    availability, tables and ``max_meetings`` still hold. Returns {solver id: (proposal, slot, table)}."""
    from marketplace.events.solver import solve_json

    items, by_id = proposal_items(session, event)
    if not items:
        return {}
    placed = {s["id"]: {"slot": int(s["slot"]), "table": int(s["table"])} for s in result["scheduled"]}
    fixed = [{**m, "locked": placed[m["id"]]} for m in data["meetings"] if m["id"] in placed]
    second = solve_json({**data, "meetings": fixed + items, "previous": []})
    return {s["id"]: (by_id[s["id"]], int(s["slot"]), int(s["table"])) for s in second["scheduled"] if s["id"] in by_id}


def schedule_event(
    session: Session, event: Event, *, time_limit_s: float = 2.0, proposals: bool | None = None
) -> dict[str, Any]:
    """Run the scheduler on the event and write the result back; the firms whose meetings were
    placed, moved or dropped are notified. Returns a summary with the unscheduled reasons.

    ``proposals`` (default: when rescheduling, i.e. the event was scheduled before) lets the places
    still free after the accepted meetings go to the engine's proposals: such a proposal is
    accepted on the large firm's behalf and becomes a scheduled meeting, both firms are notified."""
    from marketplace.events.solver import solve_json

    require_scheduling(event)
    started = time.perf_counter()
    data, kept_out = build_solver_input(session, event, time_limit_s=time_limit_s)
    result = solve_json(data)
    if proposals is None:
        proposals = event.scheduled_at is not None
    refilled = refill_with_proposals(session, event, data, result) if proposals else {}
    session.flush()
    rows = session.execute(
        select(
            Meeting.id,
            Meeting.status,
            Meeting.slot,
            Meeting.table_no,
            Meeting.sequence,
            Meeting.large_firm_id,
            Meeting.sme_firm_id,
            Meeting.unscheduled_reason,
            Meeting.unscheduled_detail,
        ).where(Meeting.event_id == event.id, Meeting.status.in_(ACTIVE))
    ).all()
    placed = {int(s["id"][1:]): (int(s["slot"]), int(s["table"])) for s in result["scheduled"]}
    names = firm_names(session, {f for r in rows for f in (r.large_firm_id, r.sme_firm_id)})
    times = [start.strftime("%m-%d %H:%M") for start, _ in event.slot_times()]
    reasons = {int(u["id"][1:]): explain(u, names, times) for u in result["unscheduled"]}
    reasons.update(kept_out)
    changed_firms: set[int] = set()
    moved = 0
    updates = []
    for r in rows:
        if r.status in (MeetingStatus.HELD, MeetingStatus.NO_SHOW):
            continue
        if r.id in placed:
            slot, table = placed[r.id]
            status, reason = MeetingStatus.SCHEDULED, None
        else:
            slot = table = None
            status, reason = MeetingStatus.WAITING, reasons.get(r.id, NOT_SCHEDULED)
        detail = to_data(reason) if reason is not None else None
        sequence = r.sequence
        if (r.slot, r.table_no) != (slot, table):
            sequence += 1
            changed_firms |= {r.large_firm_id, r.sme_firm_id}
            moved += r.slot is not None
        before = (r.slot, r.table_no, r.status, r.unscheduled_reason, r.unscheduled_detail, r.sequence)
        if before != (slot, table, status, reason, detail, sequence):
            updates.append(
                {
                    "id": r.id,
                    "slot": slot,
                    "table_no": table,
                    "status": status,
                    "unscheduled_reason": None if reason is None else str(reason),
                    "unscheduled_detail": detail,
                    "sequence": sequence,
                    "updated_at": utcnow(),
                }
            )
    for req, slot, table in refilled.values():  # the proposal becomes a scheduled meeting
        req.transition(RequestStatus.ACCEPTED)
        req.reasons = [*(req.reasons or []), dict(PROPOSAL_NOTE)]
        meeting = _meeting_for(session, event, req)
        meeting.status = MeetingStatus.SCHEDULED
        meeting.slot, meeting.table_no, meeting.sequence = slot, table, 1
        meeting.unscheduled_reason = meeting.unscheduled_detail = None
        changed_firms |= {meeting.large_firm_id, meeting.sme_firm_id}
    session.flush()
    if updates:  # one executemany instead of thousands of unit-of-work updates
        session.execute(update(Meeting), updates)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Meeting):
                session.expire(obj)
    event.scheduled_at = utcnow()
    if event.status is EventStatus.OPEN:
        event.transition(EventStatus.SCHEDULED)
    session.flush()
    if changed_firms:
        notify_firms(
            session,
            event,
            changed_firms,
            "event_agenda",
            "您的洽谈日程有更新",
            "Your meeting agenda changed",
            f"/events/{event.id}/agenda",
        )
    return {
        "event_id": event.id,
        "scheduled": len(placed) + len(refilled),
        "from_proposals": sorted(req.id for req, _, _ in refilled.values()),
        "unscheduled": [
            {"meeting_id": m_id, "reason": reason} for m_id, reason in sorted(reasons.items()) if m_id not in placed
        ],
        "moved": moved,
        "notified_firms": len(changed_firms),
        "objective": result.get("objective"),
        "solver_seconds": result.get("seconds"),
        "seconds": round(time.perf_counter() - started, 3),
    }


def firm_names(session: Session, firm_ids: set[int]) -> dict[str, str]:
    """Solver participant id -> the firm's display name."""
    if not firm_ids:
        return {}
    rows = session.execute(select(Firm.id, Firm.name, Firm.short_name).where(Firm.id.in_(firm_ids)))
    return {pid(fid): short or name for fid, name, short in rows}


_FIRM_PARAMS = ("pid", "a", "b")
_SLOT_PARAMS = ("slot", "slots", "slots_a", "slots_b")


def explain(unscheduled: dict[str, Any], names: dict[str, str], times: list[str]) -> Message:
    """Why a meeting is left out, for the organizer: what the solver's reason code means, then the
    solver's details with firm names instead of solver ids and slot start times instead of slot
    numbers. A message, so that pages render it in the reader's language."""
    summary = SUMMARIES.get(str(unscheduled.get("code")), NOT_SCHEDULED)
    reason = unscheduled.get("reason")
    if not reason:
        return summary
    detail = _readable(reason, names, times) if isinstance(reason, Message) else str(reason)
    return msg("%(summary)s: %(detail)s", summary=summary, detail=detail)


def _readable(message: Message, names: dict[str, str], times: list[str]) -> Message:
    def slot_time(value: Any) -> Any:
        return times[value] if isinstance(value, int) and 0 <= value < len(times) else value

    params: dict[str, Any] = {}
    for key, value in message.params.items():
        if isinstance(value, Message):
            value = _readable(value, names, times)
        elif key in _FIRM_PARAMS and isinstance(value, str):
            value = names.get(value, value)
        elif key in _SLOT_PARAMS:
            value = ", ".join(str(slot_time(v)) for v in value) if isinstance(value, list) else slot_time(value)
        params[key] = value
    return Message(message.template, params)


def require_scheduling(event: Event) -> None:
    """The scheduler runs and agendas are sent only while the event is open or scheduled (409):
    a draft opens registration first, a finished event is closed for good."""
    if event.status is EventStatus.DRAFT:
        refusal = msg("status: open registration before scheduling (event is %(status)s)", status=event.status)
    else:
        refusal = msg(
            "status: the event is %(status)s; it can no longer be scheduled or its agendas sent", status=event.status
        )
    require_status(event, SCHEDULING, refusal)


def send_agendas(session: Session, event: Event) -> int:
    """Send every participant its agenda: scheduled meetings are locked from now on."""
    require_scheduling(event)
    meetings = list(
        session.scalars(select(Meeting).where(Meeting.event_id == event.id, Meeting.status == MeetingStatus.SCHEDULED))
    )
    if not meetings:
        raise TransitionError(msg("status: nothing is scheduled yet; run the scheduler first"), field="status")
    now = utcnow()
    firms: set[int] = set()
    for m in meetings:
        if not m.locked:
            m.locked = True
            m.sent_at = now
            firms |= {m.large_firm_id, m.sme_firm_id}
    session.flush()
    notify_firms(
        session,
        event,
        firms,
        "event_agenda",
        "洽谈日程已发布，请查看桌号与时间",
        "Your meeting agenda is out: times and table numbers",
        f"/events/{event.id}/agenda",
    )
    return len(firms)
