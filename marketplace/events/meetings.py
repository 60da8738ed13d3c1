"""Meetings on the day and after: check-in, held / no-show, cancelling, outcomes, the contract
source of a meeting and the follow-up survey."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import acting_user_ids
from marketplace.demands.workflow import validation_message
from marketplace.errors import InputError, NotFoundError, PermissionDeniedError, TransitionError, msg
from marketplace.events.access import Access, as_viewer, event_access, meeting_access, registration_for
from marketplace.events.events import CHANGING, meeting_day, meeting_day_has_come, require_day, require_status
from marketplace.events.registrations import approved_registrations, notify_firms
from marketplace.models import (
    Event,
    EventRegistration,
    Meeting,
    MeetingOutcome,
    MeetingRequest,
    MeetingStatus,
    Outcome,
    RegistrationStatus,
    RequestStatus,
    SurveyAnswer,
    utcnow,
)


def get_meeting(session: Session, meeting_id: int) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFoundError(msg("meeting %(meeting_id)s does not exist", meeting_id=meeting_id), field="meeting_id")
    return meeting


def registration_by_token(session: Session, event: Event, token: str) -> EventRegistration | None:
    """The registration whose check-in code (the agenda's QR code) is ``token``."""
    return session.scalar(
        select(EventRegistration).where(
            EventRegistration.event_id == event.id, EventRegistration.checkin_token == token
        )
    )


def checkin_access(session: Session, viewer: Any, event: Event, token: str) -> tuple[Access, EventRegistration | None]:
    """Who opens a check-in link: the organizer (whose staff scan it to check the firm in) gets
    :attr:`Access.ORGANIZER`; a user of the participant the code belongs to gets
    :attr:`Access.PARTICIPANT` (a page saying what the link is for, no check-in); anyone else gets
    their access to the event, which is not enough. The registration is None for an unknown code."""
    access = event_access(session, viewer, event)
    reg = registration_by_token(session, event, token)
    if access is Access.ORGANIZER:
        return access, reg
    firm_id = as_viewer(viewer).firm_id
    own = reg is not None and firm_id is not None and firm_id == reg.firm_id
    if own and reg.status is RegistrationStatus.APPROVED:
        return Access.PARTICIPANT, reg
    return min(access, Access.INVITED), reg


def check_in(session: Session, event: Event, token: str, *, now: datetime | None = None) -> EventRegistration:
    """The organizer's device opened a participant's check-in URL (from the agenda's QR code):
    the firm is present, and its scheduled meetings are locked in place. Refused (409 naming the
    start date) before the event's first day in the event time zone."""
    reg = registration_by_token(session, event, token)
    if reg is None or reg.status is not RegistrationStatus.APPROVED:
        raise NotFoundError(msg("token: no approved participant has this check-in code"), field="token")
    require_day(
        event.start_date,
        msg(
            "start_date: the event starts on %(date)s (Beijing time); participants check in only from that day on",
            date=event.start_date.isoformat(),
        ),
        now,
    )
    if reg.checked_in_at is None:
        reg.checked_in_at = utcnow()
    for meeting in session.scalars(
        select(Meeting).where(
            Meeting.event_id == event.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            or_(Meeting.large_firm_id == reg.firm_id, Meeting.sme_firm_id == reg.firm_id),
        )
    ):
        meeting.checked_in_at = meeting.checked_in_at or utcnow()
        meeting.locked = True
    session.flush()
    return reg


MARKABLE = (MeetingStatus.SCHEDULED, MeetingStatus.HELD, MeetingStatus.NO_SHOW)


def mark_meeting(session: Session, meeting: Meeting, held: bool, *, now: datetime | None = None) -> Meeting:
    """Held or no-show; only a scheduled meeting, and it stays where it is. Refused (409 naming the
    day) before the meeting's day in the event time zone: a meeting ahead has not taken place."""
    if meeting.status not in MARKABLE:
        raise TransitionError(
            msg("status: a %(status)s meeting cannot be marked", status=meeting.status), field="status"
        )
    event = session.get(Event, meeting.event_id)
    day = meeting_day(event, meeting)
    require_day(
        day,
        msg(
            "start_date: the meeting is on %(date)s (Beijing time); it is marked held or no-show only from that day on",
            date=day.isoformat(),
        ),
        now,
    )
    meeting.status = MeetingStatus.HELD if held else MeetingStatus.NO_SHOW
    meeting.locked = True
    session.flush()
    return meeting


def cancel_meeting(session: Session, meeting: Meeting) -> Meeting:
    """Cancel a meeting (its slot is freed for the next scheduling run); the other side is told.
    Refused once the event is finished (the meeting then was held or missed: mark it so)."""
    event = session.get(Event, meeting.event_id)
    require_status(
        event,
        CHANGING,
        msg("status: the event is %(status)s; meetings are cancelled only until it is finished", status=event.status),
    )
    if meeting.status in (MeetingStatus.HELD, MeetingStatus.NO_SHOW, MeetingStatus.CANCELLED):
        raise TransitionError(
            msg("status: a %(status)s meeting cannot be cancelled", status=meeting.status), field="status"
        )
    meeting.status = MeetingStatus.CANCELLED
    meeting.slot = meeting.table_no = None
    meeting.locked = False
    meeting.sequence += 1
    req = session.get(MeetingRequest, meeting.request_id)
    if req.status is RequestStatus.ACCEPTED:
        req.transition(RequestStatus.CANCELLED)
    session.flush()
    notify_firms(  # a waiting meeting too: both firms had agreed to meet
        session,
        event,
        [meeting.large_firm_id, meeting.sme_firm_id],
        "event_agenda",
        "一场洽谈已取消",
        "A meeting was cancelled",
        f"/events/{event.id}/agenda",
    )
    return meeting


CANCELLABLE = (MeetingStatus.WAITING, MeetingStatus.SCHEDULED)


def can_mark_meeting(session: Session, meeting: Meeting, now: datetime | None = None) -> bool:
    """Whether the pages offer the held / no-show buttons: a scheduled meeting whose day has come
    (what :func:`mark_meeting` accepts for it)."""
    if meeting.status is not MeetingStatus.SCHEDULED:
        return False
    return meeting_day_has_come(session.get(Event, meeting.event_id), meeting, now)


def can_cancel_meeting(session: Session, viewer: Any, meeting: Meeting) -> bool:
    """Whether the pages offer this viewer a button to cancel the meeting: the organizer or one
    of the two firms (:func:`meeting_access`), a meeting still waiting or scheduled, an event not
    yet finished (what :func:`cancel_meeting` accepts)."""
    if meeting.status not in CANCELLABLE:
        return False
    event = session.get(Event, meeting.event_id)
    if event.status not in CHANGING:
        return False
    return meeting_access(session, viewer, meeting) >= Access.PARTICIPANT


class OutcomeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: Outcome
    amount: float | None = Field(default=None, ge=0, le=1e9)
    note: str = Field(default="", max_length=2000)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> object:
        return Outcome.parse(value, "outcome") if isinstance(value, str) else value


def record_outcome(session: Session, meeting: Meeting, firm_id: int, data: dict[str, Any]) -> MeetingOutcome:
    """One side's outcome of a held meeting (a rerun replaces it); amounts in 万元."""
    try:
        spec = OutcomeInput.model_validate(data)
    except ValidationError as exc:
        message, field = validation_message(exc)
        raise InputError(message, field=field) from None
    if firm_id not in (meeting.large_firm_id, meeting.sme_firm_id):
        raise PermissionDeniedError(msg("meeting: only the two firms report its outcome"))
    if meeting.status is not MeetingStatus.HELD:
        raise TransitionError(msg("status: mark the meeting held before recording its outcome"), field="status")
    row = next((o for o in meeting.outcomes if o.firm_id == firm_id), None)
    if row is None:
        row = MeetingOutcome(meeting=meeting, firm_id=firm_id, outcome=spec.outcome)
        session.add(row)
    row.outcome, row.amount, row.note = spec.outcome, spec.amount, spec.note
    session.flush()
    return row


def meeting_contract_source(meeting: Meeting) -> dict[str, Any]:
    """What a contract draft started from this meeting needs (hook for the contracts module: an
    outcome of "cooperation agreement" leads here). The large firm buys, the SME supplies."""
    amounts = [o.amount for o in meeting.outcomes if o.outcome is Outcome.AGREEMENT and o.amount is not None]
    return {
        "meeting_id": meeting.id,
        "event_id": meeting.event_id,
        "buyer_firm_id": meeting.large_firm_id,
        "supplier_firm_id": meeting.sme_firm_id,
        "demand_id": meeting.demand_id,
        "amount": max(amounts) if amounts else None,
    }


SURVEY_QUESTIONS: dict[str, tuple[str, str]] = {
    "still_in_contact": ("活动后是否仍与对接企业保持联系", "Still in contact with the firms you met"),
    "contracts_signed": ("已签订的合同数", "Contracts signed since the event"),
    "contract_amount": ("合同金额（万元）", "Contract amount (10,000 CNY)"),
    "satisfaction": ("对本次活动的满意度（1–5）", "Satisfaction with the event (1–5)"),
    "comment": ("意见与建议", "Comments"),
}


class SurveyInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    still_in_contact: bool = False
    contracts_signed: int = Field(default=0, ge=0, le=10_000)
    contract_amount: float = Field(default=0, ge=0, le=1e9)
    satisfaction: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


SURVEY_KIND = "event_survey"


def survey_link(event: Event) -> str:
    return f"/events/{event.id}/survey"


def survey_invited_firms(session: Session, event: Event) -> set[int]:
    """Participants already asked for the event's survey: a user acting for the firm got the
    survey notice (the notices are the record; no firm is asked twice)."""
    from marketplace.models import Notification

    firms = [r.firm_id for r in approved_registrations(session, event)]
    notified = set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.kind == SURVEY_KIND, Notification.link == survey_link(event)
            )
        )
    )
    if not notified:
        return set()
    return {firm_id for firm_id in firms if notified & set(acting_user_ids(session, [firm_id]))}


def survey_invitations(session: Session, event: Event) -> dict[str, int]:
    """Ask every participant not asked yet for the follow-up survey (run some months after the
    event, e.g. from cron with ``events survey-invite``). Idempotent: posting the invitation twice
    notifies nobody twice. Returns how many participants were newly ``invited``, how many had
    ``already`` been, and the ``notified`` users."""
    firms = [r.firm_id for r in approved_registrations(session, event)]
    already = survey_invited_firms(session, event)
    fresh = [firm_id for firm_id in firms if firm_id not in already]
    notified = notify_firms(
        session,
        event,
        fresh,
        SURVEY_KIND,
        "请填写活动回访问卷（对接进展、签约情况）",
        "Please answer the follow-up survey (progress, contracts)",
        survey_link(event),
    )
    reached = [firm_id for firm_id in fresh if acting_user_ids(session, [firm_id])]
    return {"invited": len(reached), "already": len(already), "notified": notified}


def invite_to_survey(session: Session, event: Event) -> int:
    """Ask the participants not asked yet for the follow-up survey (:func:`survey_invitations`);
    returns how many participants were newly invited."""
    return survey_invitations(session, event)["invited"]


def submit_survey(session: Session, event: Event, firm_id: int, data: dict[str, Any]) -> SurveyAnswer:
    """The follow-up survey of a participant (a resubmission replaces its answers)."""
    reg = registration_for(session, event, firm_id)
    if reg is None or reg.status is not RegistrationStatus.APPROVED:
        raise PermissionDeniedError(msg("survey: only participants answer the survey"))
    try:
        spec = SurveyInput.model_validate(data)
    except ValidationError as exc:
        message, field = validation_message(exc)
        raise InputError(message, field=field) from None
    row = session.scalar(select(SurveyAnswer).where(SurveyAnswer.event_id == event.id, SurveyAnswer.firm_id == firm_id))
    if row is None:
        row = SurveyAnswer(event_id=event.id, firm_id=firm_id)
        session.add(row)
    row.answers = spec.model_dump()
    session.flush()
    return row
