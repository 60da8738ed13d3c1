"""JSON API of chain-matching events under /api/v1/events (APIFlask, Bearer tokens like
web/demands/api.py). Same permissions as the pages: only the organizing organization (or an admin) edits,
invites, schedules and reads statistics; approved participants see their own requests and
agenda; everyone else gets 403 (401 without a token; 404 for an event, meeting or request that does
not exist or that the caller may not see at all). Integers are strict (1.5 or "3" answer 422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from apiflask import Schema, abort
from apiflask.fields import Boolean, Date, DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from sqlalchemy import select

from marketplace.errors import MarketplaceError
from marketplace.events import access as evacl
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events import registrations as evreg
from marketplace.events.agenda import agenda_rows
from marketplace.events.events import EventInput
from marketplace.events.invitees import invite_from_suggestions, invite_suggestions
from marketplace.events.scheduling import schedule_event, send_agendas
from marketplace.events.stats import event_stats
from marketplace.models import (
    Event,
    EventFormat,
    EventRegistration,
    EventStatus,
    Meeting,
    MeetingRequest,
    Outcome,
    RequestRule,
)
from marketplace.models.base import INT_MAX
from web.api_fields import Id, JsonBoolean, JsonNumber, Whole, rules_of
from web.db import get_db
from web.demands.api import auth
from web.errors import api_fail
from web.extensions import api_blueprint
from web.matching_engine import get_engine

bp = api_blueprint("api_events", __name__, "/api/v1/events", "Events 产业链对接活动")


# --- schemas --------------------------------------------------------------------------------


class EventIn(Schema):
    title = String(required=True, validate=rules_of(EventInput, "title"))
    description = String(
        allow_none=True, validate=rules_of(EventInput, "description"), metadata={"description": "null clears it"}
    )
    format = String(validate=OneOf([f.value for f in EventFormat]))
    location = String(
        allow_none=True, validate=rules_of(EventInput, "location"), metadata={"description": "null clears it"}
    )
    focus_products = List(
        String(),
        allow_none=True,
        validate=rules_of(EventInput, "focus_products"),
        metadata={"description": "null clears it"},
    )
    focus_industries = List(
        String(),
        allow_none=True,
        validate=rules_of(EventInput, "focus_industries"),
        metadata={"description": "null clears it"},
    )
    start_date = Date(required=True)
    days = Whole(validate=rules_of(EventInput, "days"))
    sessions = List(
        String(),
        validate=rules_of(EventInput, "sessions"),
        metadata={"description": 'e.g. ["09:00-12:00", "13:30-17:00"]'},
    )
    slot_minutes = Whole(validate=rules_of(EventInput, "slot_minutes"))
    gap_minutes = Whole(validate=rules_of(EventInput, "gap_minutes"))
    tables = Whole(validate=rules_of(EventInput, "tables"))
    registration_opens = DateTime(allow_none=True)
    registration_closes = DateTime(allow_none=True)
    capacity_large = Whole(validate=rules_of(EventInput, "capacity_large"))
    capacity_sme = Whole(validate=rules_of(EventInput, "capacity_sme"))
    open_registration = JsonBoolean()
    request_rule = String(validate=OneOf([r.value for r in RequestRule]))
    request_expiry_hours = Whole(validate=rules_of(EventInput, "request_expiry_hours"))
    pending_cap = Whole(validate=rules_of(EventInput, "pending_cap"))
    sme_min_meetings = Whole(validate=rules_of(EventInput, "sme_min_meetings"))
    large_max_meetings = Whole(validate=rules_of(EventInput, "large_max_meetings"))
    max_representatives = Whole(validate=rules_of(EventInput, "max_representatives"))


class EventPatch(EventIn):
    title = String(validate=rules_of(EventInput, "title"))
    start_date = Date()
    status = String(validate=OneOf(["open", "scheduled", "finished"]))
    demand_ids = List(Id(), metadata={"description": "demands to add to the event's board"})


class EventOut(Schema):
    event_id = Integer()
    title = String()
    description = String()
    organization_id = Integer()
    organization = String(allow_none=True)
    format = String()
    status = String()
    location = String()
    focus_products = List(String())
    focus_industries = List(String())
    start_date = String()
    days = Integer()
    sessions = List(String())
    slot_minutes = Integer()
    gap_minutes = Integer()
    slots = Integer()
    tables = Integer()
    registration_opens = String(allow_none=True)
    registration_closes = String(allow_none=True)
    capacity_large = Integer()
    capacity_sme = Integer()
    open_registration = Boolean()
    request_rule = String()
    request_expiry_hours = Integer()
    pending_cap = Integer()
    sme_min_meetings = Integer()
    large_max_meetings = Integer()
    max_representatives = Integer()
    demand_ids = List(Integer())
    access = String()


class EventList(Schema):
    items = List(Nested(EventOut))


class InviteIn(Schema):
    firm_ids = List(Id(), required=True, validate=Length(min=1, max=500))


class RegisterIn(Schema):
    representatives = Whole(load_default=1, validate=Range(min=1, max=50))


class AvailabilityIn(Schema):
    slots = List(Whole(validate=Range(min=0, max=INT_MAX)), allow_none=True, required=True)


class RequestIn(Schema):
    to_firm_id = Id(required=True)
    message = String(load_default="", validate=Length(max=1000))
    demand_id = Id(allow_none=True)


class AnswerIn(Schema):
    accept = JsonBoolean(required=True)


class MustMeetIn(Schema):
    must_meet = JsonBoolean(required=True)


class ProposalsIn(Schema):
    request_ids = List(Id(), required=True, validate=Length(min=1, max=1000))


class ScheduleIn(Schema):
    time_limit_s = JsonNumber(load_default=2.0, validate=Range(min=0.1, max=60))
    send = JsonBoolean(load_default=False, metadata={"description": "send the agendas and lock the schedule"})


class MarkIn(Schema):
    status = String(required=True, validate=OneOf(["held", "no_show", "cancelled"]))


class OutcomeIn(Schema):
    outcome = String(required=True, validate=OneOf([o.value for o in Outcome]))
    amount = JsonNumber(allow_none=True, validate=rules_of(evmeet.OutcomeInput, "amount"))
    note = String(load_default="", validate=rules_of(evmeet.OutcomeInput, "note"))


class SurveyIn(Schema):
    still_in_contact = JsonBoolean(load_default=False)
    contracts_signed = Whole(load_default=0, validate=rules_of(evmeet.SurveyInput, "contracts_signed"))
    contract_amount = JsonNumber(load_default=0, validate=rules_of(evmeet.SurveyInput, "contract_amount"))
    satisfaction = Whole(required=True, validate=rules_of(evmeet.SurveyInput, "satisfaction"))
    comment = String(load_default="", validate=rules_of(evmeet.SurveyInput, "comment"))


class Items(Schema):
    items = List(Dict())


class ProposalsOut(Items):
    why_none = String(
        allow_none=True,
        metadata={
            "description": "when no meeting was proposed, why (no demand on the board, no approved SME, "
            "no fitting SME, pairs already requested, no common slot); null otherwise"
        },
    )


# --- helpers --------------------------------------------------------------------------------


def _run(action):  # noqa: ANN001, ANN202
    """Run a service call and commit; a service error rolls back and answers as web.errors maps it."""
    db = get_db()
    try:
        result = action()
        db.commit()
    except MarketplaceError as exc:
        db.rollback()
        api_fail(exc)
    return result


def _event(event_id: int, need: evacl.Access) -> tuple[Event, evacl.Access]:
    db = get_db()
    event = db.get(Event, event_id)
    access = evacl.event_access(db, auth.current_user, event) if event is not None else evacl.Access.NONE
    if access is evacl.Access.NONE:  # as the pages do: an event one may not see is not shown to exist
        abort(404, message=f"event {event_id} does not exist")
    if access < need:
        abort(403, message=f"event {event_id}: not allowed for this account")
    return event, access


def _firm_id() -> int | None:
    """The caller's firm, only when it is an active (approved) member of it."""
    return evacl.as_viewer(auth.current_user).firm_id


def _own_firm(event: Event) -> int:
    reg = evacl.registration_for(get_db(), event, _firm_id()) if _firm_id() else None
    if reg is None or reg.status.value != "approved":
        abort(403, message="only approved participants of this event")
    return reg.firm_id


def _out(event: Event, access: evacl.Access) -> dict[str, Any]:
    return {**ev.event_dict(event), "access": access.name.lower()}


# --- events ---------------------------------------------------------------------------------


@bp.get("")
@bp.auth_required(auth)
@bp.output(EventList)
def list_events():  # noqa: ANN201
    """Events the caller may see: its organization's, those it takes part in or is invited to,
    and those open for registration."""
    db = get_db()
    user = auth.current_user
    return {"items": [_out(e, evacl.event_access(db, user, e)) for e in evacl.visible_events(db, user)]}


@bp.post("")
@bp.auth_required(auth)
@bp.input(EventIn, arg_name="data")
@bp.output(EventOut, status_code=201)
def create_event(data: dict[str, Any]):  # noqa: ANN201
    """Create an event for the caller's organization (organizers)."""
    user = auth.current_user
    if not evacl.as_viewer(user).is_organizer:
        abort(403, message="only organizers create events")
    event = _run(lambda: ev.create_event(get_db(), user.organization_id, data))
    return _out(event, evacl.Access.ORGANIZER)


@bp.get("/<int:event_id>")
@bp.auth_required(auth)
@bp.output(EventOut)
def get_event(event_id: int):  # noqa: ANN201
    event, access = _event(event_id, evacl.Access.PUBLIC)
    return _out(event, access)


@bp.patch("/<int:event_id>")
@bp.auth_required(auth)
@bp.input(EventPatch, arg_name="data")
@bp.output(EventOut)
def update_event(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Edit the event, change its status, add demands to its board (organizer)."""
    event, access = _event(event_id, evacl.Access.ORGANIZER)
    db = get_db()
    status = data.pop("status", None)
    demand_ids = data.pop("demand_ids", None)

    def work() -> Event:
        if data:
            ev.update_event(db, event, data)
        if demand_ids:
            ev.add_event_demands(db, event, demand_ids)
        if status:
            ev.set_event_status(db, event, EventStatus(status))
        return event

    return _out(_run(work), access)


@bp.get("/<int:event_id>/invite-suggestions")
@bp.auth_required(auth)
def get_invite_suggestions(event_id: int):  # noqa: ANN201
    """Ranked invitees on both sides with reasons, and the chain segments with their gaps."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    return invite_suggestions(get_db(), get_engine(), event)


@bp.post("/<int:event_id>/invitations")
@bp.auth_required(auth)
@bp.input(InviteIn, arg_name="data")
@bp.output(Items, status_code=201)
def post_invitations(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Bulk invitations (firms already invited are skipped)."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    sent = _run(lambda: invite_from_suggestions(get_db(), get_engine(), event, data["firm_ids"]))
    return {"items": [{"firm_id": i.firm_id, "side": i.side.value, "status": i.status.value} for i in sent]}


@bp.get("/<int:event_id>/registrations")
@bp.auth_required(auth)
@bp.output(Items)
def get_registrations(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    rows = get_db().scalars(select(EventRegistration).where(EventRegistration.event_id == event.id))
    return {"items": [evreg.registration_dict(r) for r in rows]}


@bp.post("/<int:event_id>/registrations")
@bp.auth_required(auth)
@bp.input(RegisterIn, arg_name="data")
@bp.output(Items, status_code=201)
def post_registration(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The caller's firm registers (approved at once when invited)."""
    event, _a = _event(event_id, evacl.Access.PUBLIC)
    firm_id = _firm_id()
    if firm_id is None:
        abort(403, message="only firm users register")
    reg = _run(lambda: evreg.register_firm(get_db(), event, firm_id, representatives=data["representatives"]))
    return {"items": [evreg.registration_dict(reg)]}


@bp.post("/<int:event_id>/registrations/<int:registration_id>/decision")
@bp.auth_required(auth)
@bp.input(AnswerIn, arg_name="data")
@bp.output(Items)
def decide_registration(event_id: int, registration_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The organizer approves (accept: true) or rejects an open registration (409 once decided)."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    db = get_db()
    reg = db.get(EventRegistration, registration_id)
    if reg is None or reg.event_id != event.id:
        abort(404, message=f"registration {registration_id} does not exist in this event")
    _run(lambda: evreg.decide_registration(db, reg, data["accept"]))
    return {"items": [evreg.registration_dict(reg)]}


@bp.put("/<int:event_id>/availability")
@bp.auth_required(auth)
@bp.input(AvailabilityIn, arg_name="data")
@bp.output(Items)
def put_availability(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The slots the caller's firm can attend (null: all)."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    reg = evacl.registration_for(get_db(), event, _own_firm(event))
    _run(lambda: evreg.set_availability(get_db(), reg, data["slots"]))
    return {"items": [evreg.registration_dict(reg)]}


@bp.get("/<int:event_id>/participants")
@bp.auth_required(auth)
@bp.output(Items)
def get_participants(event_id: int):  # noqa: ANN201
    """The other side for the caller's firm, with demands, products, tier and met-before marks."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    return {"items": evreq.browse_participants(get_db(), event, _own_firm(event))}


# --- requests and proposals -------------------------------------------------------------------


@bp.get("/<int:event_id>/requests")
@bp.auth_required(auth)
@bp.output(Items)
def get_requests(event_id: int):  # noqa: ANN201
    """The organizer sees every request and proposal; a participant its own."""
    event, access = _event(event_id, evacl.Access.PARTICIPANT)
    db = get_db()
    evreq.expire_requests(db, event)
    db.commit()
    query = select(MeetingRequest).where(MeetingRequest.event_id == event.id).order_by(MeetingRequest.id)
    if access is not evacl.Access.ORGANIZER:
        firm = _own_firm(event)
        query = query.where((MeetingRequest.from_firm_id == firm) | (MeetingRequest.to_firm_id == firm))
    rows = list(db.scalars(query))
    met = evreq.met_before(db, event, [(r.from_firm_id, r.to_firm_id) for r in rows])
    return {"items": [evreq.request_dict(r, met) for r in rows]}


@bp.post("/<int:event_id>/requests")
@bp.auth_required(auth)
@bp.input(RequestIn, arg_name="data")
@bp.output(Items, status_code=201)
def post_request(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    firm = _own_firm(event)
    req = _run(
        lambda: evreq.request_meeting(
            get_db(), event, firm, data["to_firm_id"], message=data["message"], demand_id=data.get("demand_id")
        )
    )
    return {"items": [evreq.request_dict(req)]}


T = TypeVar("T", MeetingRequest, Meeting)


def _of_event(event: Event, model: type[T], record_id: int, access: Callable[..., evacl.Access], what: str) -> T:
    """A request or meeting of ``event`` the caller may see (``access`` is its rule in
    marketplace.events.access), or 404: another pair's is not shown to exist."""
    db = get_db()
    record = db.get(model, record_id)
    if record is None or record.event_id != event.id or access(db, auth.current_user, record) is evacl.Access.NONE:
        abort(404, message=f"{what} {record_id} does not exist in this event")
    return record


def _request(event: Event, request_id: int) -> MeetingRequest:
    return _of_event(event, MeetingRequest, request_id, evacl.request_access, "request")


@bp.post("/<int:event_id>/requests/<int:request_id>/answer")
@bp.auth_required(auth)
@bp.input(AnswerIn, arg_name="data")
@bp.output(Items)
def answer_request(event_id: int, request_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The asked firm accepts or declines (409 once expired or answered)."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    db = get_db()
    req = _request(event, request_id)
    _run(lambda: evreq.answer_request(db, req, user=auth.current_user, accept=data["accept"]))  # 403 unless asked
    return {"items": [evreq.request_dict(req)]}


@bp.post("/<int:event_id>/requests/<int:request_id>/must-meet")
@bp.auth_required(auth)
@bp.input(MustMeetIn, arg_name="data")
@bp.output(Items)
def must_meet(event_id: int, request_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The organizer marks a pair must-meet: its weight makes the scheduler place it first."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    db = get_db()
    req = _request(event, request_id)
    _run(lambda: evreq.set_must_meet(db, req, data["must_meet"]))
    return {"items": [evreq.request_dict(req)]}


@bp.post("/<int:event_id>/proposals")
@bp.auth_required(auth)
@bp.output(ProposalsOut, status_code=201)
def post_proposals(event_id: int):  # noqa: ANN201
    """The engine proposes meetings for the demands on the board (organizer); when it proposes
    none, ``why_none`` says why."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    run = _run(lambda: evreq.propose(get_db(), get_engine(), event))
    return {"items": [evreq.request_dict(r) for r in run.made], "why_none": run.why_none}


@bp.post("/<int:event_id>/proposals/accept")
@bp.auth_required(auth)
@bp.input(ProposalsIn, arg_name="data")
@bp.output(Items)
def accept_proposals(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The demand owner accepts proposals in bulk."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    firm = _own_firm(event)
    done = _run(lambda: evreq.accept_proposals(get_db(), event, firm, data["request_ids"]))
    return {"items": [evreq.request_dict(r) for r in done]}


# --- schedule, agenda, the day ------------------------------------------------------------------


@bp.post("/<int:event_id>/schedule")
@bp.auth_required(auth)
@bp.input(ScheduleIn, arg_name="data")
def post_schedule(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Run the scheduler (CP-SAT) and write slots and tables; optionally send the agendas."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    db = get_db()

    def work() -> dict[str, Any]:
        summary = schedule_event(db, event, time_limit_s=data["time_limit_s"])
        if data["send"]:
            summary["sent_to_firms"] = send_agendas(db, event)
        return summary

    return _run(work)


@bp.get("/<int:event_id>/meetings")
@bp.auth_required(auth)
@bp.output(Items)
def get_meetings(event_id: int):  # noqa: ANN201
    """Every meeting of the event with slot and table (organizer)."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    rows = get_db().scalars(select(Meeting).where(Meeting.event_id == event.id).order_by(Meeting.id))
    return {
        "items": [
            {
                "meeting_id": m.id,
                "large_firm_id": m.large_firm_id,
                "sme_firm_id": m.sme_firm_id,
                "demand_id": m.demand_id,
                "weight": m.weight,
                "status": m.status.value,
                "slot": m.slot,
                "table": m.table_no,
                "locked": m.locked,
                "reason": m.reason,
            }
            for m in rows
        ]
    }


@bp.get("/<int:event_id>/agenda")
@bp.auth_required(auth)
@bp.output(Items)
def get_agenda(event_id: int):  # noqa: ANN201
    """The caller's firm's agenda (tables numbered from 1 here, as printed)."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    return {"items": agenda_rows(get_db(), event, _own_firm(event))}


def _meeting(event: Event, meeting_id: int) -> Meeting:
    return _of_event(event, Meeting, meeting_id, evacl.meeting_access, "meeting")


@bp.post("/<int:event_id>/meetings/<int:meeting_id>/status")
@bp.auth_required(auth)
@bp.input(MarkIn, arg_name="data")
@bp.output(Items)
def mark_meeting(event_id: int, meeting_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Held, no-show or cancelled (the organizer or one of the two firms)."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    db = get_db()
    meeting = _meeting(event, meeting_id)
    if data["status"] == "cancelled":
        _run(lambda: evmeet.cancel_meeting(db, meeting))
    else:
        _run(lambda: evmeet.mark_meeting(db, meeting, held=data["status"] == "held"))
    return {"items": [{"meeting_id": meeting.id, "status": meeting.status.value}]}


@bp.put("/<int:event_id>/meetings/<int:meeting_id>/outcome")
@bp.auth_required(auth)
@bp.input(OutcomeIn, arg_name="data")
@bp.output(Items)
def put_outcome(event_id: int, meeting_id: int, data: dict[str, Any]):  # noqa: ANN201
    """The caller's firm's outcome of a held meeting; "agreement" carries the contract source."""
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    db = get_db()
    meeting = _meeting(event, meeting_id)
    row = _run(lambda: evmeet.record_outcome(db, meeting, _firm_id() or 0, data))
    item = {"meeting_id": meeting.id, "outcome": row.outcome.value, "amount": row.amount}
    if row.outcome is Outcome.AGREEMENT:
        item["contract_source"] = evmeet.meeting_contract_source(meeting)
    return {"items": [item]}


@bp.put("/<int:event_id>/survey")
@bp.auth_required(auth)
@bp.input(SurveyIn, arg_name="data")
@bp.output(Items)
def put_survey(event_id: int, data: dict[str, Any]):  # noqa: ANN201
    event, _a = _event(event_id, evacl.Access.PARTICIPANT)
    firm = _own_firm(event)
    row = _run(lambda: evmeet.submit_survey(get_db(), event, firm, data))
    return {"items": [row.answers]}


@bp.get("/<int:event_id>/stats")
@bp.auth_required(auth)
def get_stats(event_id: int):  # noqa: ANN201
    """Funnel by chain segment, meetings per SME, no-show rate and the report numbers (organizer)."""
    event, _a = _event(event_id, evacl.Access.ORGANIZER)
    return event_stats(get_db(), event)
