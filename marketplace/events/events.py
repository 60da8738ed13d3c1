"""Chain-matching events: creating and editing events, the permission rules of every event
object, invitations, registrations and availability, meeting requests and engine proposals,
meetings on the day (check-in, held/no-show, outcomes) and the follow-up survey.

Scheduling lives in :mod:`marketplace.events.scheduling`, agendas and calendar files in
:mod:`marketplace.events.agenda`, statistics and the report in
:mod:`marketplace.events.stats`.
"""

from __future__ import annotations

import enum
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import Viewer, acting_user_ids, viewer_of
from marketplace.demands.workflow import short_terms, validation_message
from marketplace.errors import (
    ConflictError,
    InputError,
    MarketplaceError,
    Message,
    NotFoundError,
    TransitionError,
    join,
    msg,
)
from marketplace.events.agenda import EVENT_TZ
from marketplace.models import (
    Demand,
    DemandStatus,
    Event,
    EventDemand,
    EventFormat,
    EventInvitation,
    EventRegistration,
    EventStatus,
    Firm,
    FirmKind,
    InvitationStatus,
    Meeting,
    MeetingOutcome,
    MeetingRequest,
    MeetingStatus,
    Outcome,
    RegistrationStatus,
    RequestRule,
    RequestSource,
    RequestStatus,
    Side,
    SurveyAnswer,
    User,
    Visibility,
    utcnow,
)

MAX_SLOTS = 500
MAX_YEARS_AHEAD = 5  # an event starts at most this many years from today (dates stay far from 9999-12-31)

# What each stage of the lifecycle (draft → open ⇄ scheduled → finished) allows; anything else is
# refused with 409 naming the event's status.
REGISTERING = (EventStatus.OPEN, EventStatus.SCHEDULED)  # firms register (invited or not)
MEETING = (EventStatus.OPEN, EventStatus.SCHEDULED)  # meetings are requested, proposed and answered
SCHEDULING = (EventStatus.OPEN, EventStatus.SCHEDULED)  # the scheduler runs, agendas are sent
# invitations, registration decisions, availability and cancellations change who meets whom and
# so the report: refused once the event is finished (held / no-show, outcomes and the survey stay)
CHANGING = (EventStatus.DRAFT, EventStatus.OPEN, EventStatus.SCHEDULED)
# meetings that have a time and a table: editing the event must not move them or take their table
PLACED = (MeetingStatus.SCHEDULED, MeetingStatus.HELD, MeetingStatus.NO_SHOW)
# the event's fields that make the slot grid, in the order a refusal names them
GRID_FIELDS = ("start_date", "days", "sessions", "slot_minutes", "gap_minutes")


def as_viewer(viewer: Any) -> Viewer:
    """The platform's permission Viewer for a User row, a signed-in web user, an API token's user
    or None: only an active (approved) member of a firm acts for it."""
    return viewer if isinstance(viewer, Viewer) else viewer_of(viewer)


class PermissionDeniedError(MarketplaceError):
    """The viewer may not see or change this event object (pages answer 403, the API 403)."""


class Access(enum.IntEnum):
    """How much of one event a viewer may see or do, from nothing to managing it."""

    NONE = 0
    PUBLIC = 1  # title, dates and rules of an event open for registration
    INVITED = 2  # invited or registered but not (yet) approved
    PARTICIPANT = 3  # an approved registration: browse, request, agenda
    ORGANIZER = 4  # the organizing organization (or an admin): edit, invite, schedule, report


# --- permissions: one rule per object type -----------------------------------------------------


def event_access(session: Session, viewer: Any, event: Event) -> Access:
    """The one rule for events; every page, API route, CLI path and export asks it."""
    viewer = as_viewer(viewer)
    if viewer.is_anonymous:
        return Access.NONE
    if viewer.is_admin:
        return Access.ORGANIZER
    if viewer.is_organizer and viewer.organization_id == event.organization_id:
        return Access.ORGANIZER
    if viewer.firm_id is None:
        return Access.NONE
    reg = registration_for(session, event, viewer.firm_id)
    if reg is not None and reg.status is RegistrationStatus.APPROVED:
        return Access.PARTICIPANT
    if reg is not None and reg.status is RegistrationStatus.PENDING:
        return Access.INVITED
    invited = session.scalar(
        select(EventInvitation.id).where(
            EventInvitation.event_id == event.id, EventInvitation.firm_id == viewer.firm_id
        )
    )
    if invited is not None:  # a rejected or withdrawn registration alone sees nothing more
        return Access.INVITED
    if event.open_registration and event.status in (EventStatus.OPEN, EventStatus.SCHEDULED):
        return Access.PUBLIC
    return Access.NONE


def require_event(session: Session, viewer: Any, event: Event, need: Access) -> Access:
    access = event_access(session, viewer, event)
    if access < need:
        raise PermissionDeniedError(msg("event %(event_id)s: not allowed for this account", event_id=event.id))
    return access


def meeting_access(session: Session, viewer: Any, meeting: Meeting) -> Access:
    """The one rule for meetings: the organizer, or a user of one of the two firms."""
    viewer = as_viewer(viewer)
    event = session.get(Event, meeting.event_id)
    access = event_access(session, viewer, event)
    if access is Access.ORGANIZER:
        return access
    if viewer.firm_id is not None and viewer.firm_id in (meeting.large_firm_id, meeting.sme_firm_id):
        return Access.PARTICIPANT
    return Access.NONE


def request_access(session: Session, viewer: Any, req: MeetingRequest) -> Access:
    """The one rule for meeting requests: the organizer, the asking firm or the answering firm."""
    viewer = as_viewer(viewer)
    event = session.get(Event, req.event_id)
    access = event_access(session, viewer, event)
    if access is Access.ORGANIZER:
        return access
    if viewer.firm_id is not None and viewer.firm_id in (req.from_firm_id, req.to_firm_id):
        return Access.PARTICIPANT
    return Access.NONE


def require(access: Access, need: Access, what: str) -> None:
    if access < need:
        raise PermissionDeniedError(msg("%(what)s: not allowed for this account", what=what))


def visible_events(session: Session, viewer: Any) -> list[Event]:
    """Events the viewer may see at all, newest first."""
    events = session.scalars(select(Event).order_by(Event.start_date.desc(), Event.id.desc()))
    return [e for e in events if event_access(session, viewer, e) > Access.NONE]


def demand_ids_visible_via_events(viewer: Any) -> Select:
    """Ids of demands the viewer may see because they are part of an event: the event's organizer
    and its approved participants see every demand on that event's board (a grant of the demand
    visibility policy, :func:`marketplace.accounts.permissions._grants`)."""
    viewer = as_viewer(viewer)
    linked = select(EventDemand.demand_id).join(Event, Event.id == EventDemand.event_id)
    if viewer.is_anonymous:
        return linked.where(false())
    if viewer.is_admin:
        return linked
    clauses = []
    if viewer.is_organizer:
        clauses.append(Event.organization_id == viewer.organization_id)
    if viewer.firm_id is not None:
        registered = select(EventRegistration.event_id).where(
            EventRegistration.firm_id == viewer.firm_id, EventRegistration.status == RegistrationStatus.APPROVED
        )
        clauses.append(Event.id.in_(registered))
    return linked.where(or_(*clauses)) if clauses else linked.where(false())


# --- events -----------------------------------------------------------------------------------


class EventInput(BaseModel):
    """What an organizer may set on an event; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    format: EventFormat = EventFormat.ONSITE
    location: str = Field(default="", max_length=255)
    focus_products: list[str] = Field(default_factory=list, max_length=30)
    focus_industries: list[str] = Field(default_factory=list, max_length=30)
    start_date: date
    days: int = Field(default=1, ge=1, le=7)
    sessions: list[str] = Field(default_factory=lambda: ["09:00-12:00", "13:30-17:00"], max_length=6)
    slot_minutes: int = Field(default=20, ge=5, le=240)
    gap_minutes: int = Field(default=5, ge=0, le=120)
    tables: int = Field(default=20, ge=1, le=5000)
    registration_opens: datetime | None = None
    registration_closes: datetime | None = None
    capacity_large: int = Field(default=50, ge=0, le=100_000)
    capacity_sme: int = Field(default=200, ge=0, le=100_000)
    open_registration: bool = True
    request_rule: RequestRule = RequestRule.APPROVAL
    request_expiry_hours: int = Field(default=48, ge=1, le=24 * 60)
    pending_cap: int = Field(default=10, ge=1, le=1000)
    sme_min_meetings: int = Field(default=1, ge=0, le=100)
    large_max_meetings: int = Field(default=16, ge=1, le=1000)
    max_representatives: int = Field(default=3, ge=1, le=50)

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: object) -> object:
        return EventFormat.parse(value, "format") if isinstance(value, str) else value

    @field_validator("request_rule", mode="before")
    @classmethod
    def _rule(cls, value: object) -> object:
        return RequestRule.parse(value, "request_rule") if isinstance(value, str) else value

    @field_validator("description", "location", mode="before")
    @classmethod
    def _cleared_text(cls, value: object) -> object:
        """None (the API's null) clears an optional text."""
        return "" if value is None else value

    @field_validator("focus_products", "focus_industries", "sessions", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if value is None:
            return []  # the API's null clears the list (sessions then asks for one)
        if isinstance(value, str):
            value = value.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
        if isinstance(value, list):
            return [v.strip() if isinstance(v, str) else v for v in value if not isinstance(v, str) or v.strip()]
        return value

    @field_validator("sessions")
    @classmethod
    def _sessions(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(msg("add at least one session, e.g. 09:00-12:00"))
        out = []
        for raw in value:
            try:
                start, end = (datetime.strptime(p.strip(), "%H:%M") for p in raw.replace("–", "-").split("-", 1))
            except ValueError:
                raise ValueError(
                    msg("%(raw)r is not a time range; write it as HH:MM-HH:MM, e.g. 09:00-12:00", raw=raw)
                ) from None
            if end <= start:
                raise ValueError(msg("%(raw)r ends before it starts", raw=raw))
            out.append(f"{start:%H:%M}-{end:%H:%M}")
        ordered = sorted(out)  # HH:MM sorts as time
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after.split("-")[0] < before.split("-")[1]:
                raise ValueError(
                    msg(
                        "%(before)r and %(after)r overlap; one table cannot hold two meetings at once",
                        before=before,
                        after=after,
                    )
                )
        return out

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # control characters C0 and C1 (U+0085 NEL among them), DEL, and the line and paragraph
        # separators U+2028 / U+2029
        if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
            raise ValueError(msg("write the title on one line, without control characters"))
        return value

    @field_validator("focus_products", "focus_industries")
    @classmethod
    def _short_terms(cls, value: list[str]) -> list[str]:
        return short_terms(value)

    @field_validator("registration_opens", "registration_closes")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        """Stored as naive UTC like every timestamp of the platform."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _window(self) -> EventInput:
        latest = latest_start_date()
        if self.start_date > latest:
            raise InputError(
                msg(
                    "start_date: %(date)s is more than %(years)s years ahead; give a date up to %(latest)s",
                    date=self.start_date.isoformat(),
                    years=MAX_YEARS_AHEAD,
                    latest=latest.isoformat(),
                ),
                field="start_date",
            )
        if self.registration_opens and self.registration_closes and self.registration_opens > self.registration_closes:
            raise InputError(
                msg("registration_opens: after registration_closes; swap them"), field="registration_opens"
            )
        starts = first_slot_start(self.start_date, self.sessions, self.slot_minutes)
        closes = self.registration_closes
        if closes and starts and closes > starts.astimezone(UTC).replace(tzinfo=None):
            raise InputError(
                msg(
                    "registration_closes: %(closes)s is after the event starts (%(start)s); "
                    "close registration before it",
                    closes=event_time_text(closes.replace(tzinfo=UTC).astimezone(EVENT_TZ)),
                    start=event_time_text(starts),
                ),
                field="registration_closes",
            )
        return self


def latest_start_date(today: date | None = None) -> date:
    """The latest start date an event may have: :data:`MAX_YEARS_AHEAD` years from today."""
    today = today or date.today()
    try:
        return today.replace(year=today.year + MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        return today.replace(year=today.year + MAX_YEARS_AHEAD, day=28)


def first_slot_start(start_date: date, sessions: list[str], slot_minutes: int) -> datetime | None:
    """When the event's first slot begins, in the event time zone (:data:`EVENT_TZ`): the earliest
    session of the first day that holds a slot (None when none does)."""
    begins = []
    for session in sessions:
        first, last = (datetime.strptime(part, "%H:%M") for part in session.split("-", 1))
        if (last - first) >= timedelta(minutes=slot_minutes):
            begins.append(first.time())
    if not begins:
        return None
    return datetime.combine(start_date, min(begins), tzinfo=EVENT_TZ)


def event_time_text(stamp: datetime) -> str:
    """An aware time as ``2030-01-10 09:00+08:00`` (minutes, with its UTC offset)."""
    offset = stamp.strftime("%z")
    return f"{stamp:%Y-%m-%d %H:%M}{offset[:3]}:{offset[3:]}"


def as_event_time(stamp: datetime) -> datetime:
    """A stored (naive UTC) timestamp as the event time zone's wall-clock time, naive."""
    return stamp.replace(tzinfo=UTC).astimezone(EVENT_TZ).replace(tzinfo=None)


def event_today(now: datetime | None = None) -> date:
    """Today's date in the event time zone (:data:`EVENT_TZ`), the day that counts for what may
    happen only on or after an event's day; ``now`` is a stored (naive UTC) time, by default now."""
    return (now or utcnow()).replace(tzinfo=UTC).astimezone(EVENT_TZ).date()


def meeting_day(event: Event, meeting: Meeting) -> date:
    """The day of the meeting's slot (event time zone); the event's first day while it has none."""
    times = event.slot_times()
    if meeting.slot is not None and 0 <= meeting.slot < len(times):
        return times[meeting.slot][0].date()
    return event.start_date


def event_has_begun(event: Event, now: datetime | None = None) -> bool:
    """Whether the event's first day has come (event time zone): from then on it may be ended and
    participants checked in."""
    return event_today(now) >= event.start_date


def meeting_day_has_come(event: Event, meeting: Meeting, now: datetime | None = None) -> bool:
    """Whether the meeting's day has come (event time zone): from then on it is marked held or no-show."""
    return event_today(now) >= meeting_day(event, meeting)


def _require_day(day: date, refusal: Message, now: datetime | None = None) -> None:
    """409 (on ``start_date``) while ``day`` is still ahead in the event time zone."""
    if event_today(now) < day:
        raise ConflictError(refusal, field="start_date")


def require_status(event: Event, allowed: tuple[EventStatus, ...], refusal: Message) -> None:
    """409 unless the event's status allows the action (see :data:`REGISTERING`, :data:`MEETING`,
    :data:`SCHEDULING`); ``refusal`` names the status and what is refused."""
    if event.status not in allowed:
        raise ConflictError(refusal, field="status")


def parse_event(data: dict[str, Any]) -> EventInput:
    try:
        return EventInput.model_validate(data)
    except ValidationError as exc:
        message, field = validation_message(exc)
        raise InputError(message, field=field) from None


def create_event(session: Session, organization_id: int, data: dict[str, Any]) -> Event:
    """A new event of the organization, in draft until registration opens."""
    spec = parse_event(data)
    if spec.start_date < date.today():
        raise InputError(
            msg("start_date: %(date)s is in the past; give a future date", date=spec.start_date.isoformat()),
            "start_date",
        )
    _refuse_duplicate(session, organization_id, spec.title, spec.start_date)
    event = Event(organization_id=organization_id, status=EventStatus.DRAFT, **spec.model_dump())
    _check_grid(event)
    session.add(event)
    session.flush()
    return event


def _refuse_duplicate(
    session: Session, organization_id: int, title: str, start_date: date, *, other_than: int | None = None
) -> None:
    """One event per organization, title and start date: a form posted twice (a double click, a
    reload) creates it once; the second post is refused (409) naming the title."""
    query = select(Event.id).where(
        Event.organization_id == organization_id, Event.title == title, Event.start_date == start_date
    )
    if other_than is not None:
        query = query.where(Event.id != other_than)
    existing = session.scalar(query.order_by(Event.id).limit(1))
    if existing is not None:
        raise ConflictError(
            msg(
                "title: the event “%(title)s” on %(date)s already exists (event %(event_id)s); "
                "open it instead, or choose another title or date",
                title=title,
                date=start_date.isoformat(),
                event_id=existing,
            ),
            field="title",
        )


def update_event(session: Session, event: Event, data: dict[str, Any]) -> Event:
    """Edit an event with the same validation. Once meetings are placed (scheduled, sent or held)
    the start date, the slot grid and the tables cannot change under them: a change that would
    move a placed meeting to another time or leave it at a table that no longer exists is refused
    (409 naming the field) until those meetings are cancelled or rescheduled. Other edits (title,
    description, rules …) and grid changes that keep every placed meeting where it is (e.g. a day
    added at the end, more tables) go through."""
    spec = parse_event({**event_input_dict(event), **data})
    if (spec.title, spec.start_date) != (event.title, event.start_date):
        _refuse_duplicate(session, event.organization_id, spec.title, spec.start_date, other_than=event.id)
    placed = list(
        session.scalars(
            select(Meeting).where(Meeting.event_id == event.id, Meeting.status.in_(PLACED), Meeting.slot.is_not(None))
        )
    )
    proposed = Event(**spec.model_dump())  # never added to the session: only its grid is read
    _check_grid(proposed)
    _keep_placed_meetings(event, proposed, placed)
    for key, value in spec.model_dump().items():
        setattr(event, key, value)
    used = session.scalar(
        select(func.max(Meeting.slot)).where(Meeting.event_id == event.id, Meeting.status != MeetingStatus.CANCELLED)
    )
    if used is not None and used >= event.slot_count:
        raise InputError(
            msg(
                "sessions: meetings are scheduled up to slot %(used)s; keep at least %(keep)s slots",
                used=used,
                keep=used + 1,
            ),
            "sessions",
        )
    session.flush()
    return event


def _keep_placed_meetings(event: Event, proposed: Event, placed: list[Meeting]) -> None:
    """Refuse an edit of ``event`` into ``proposed`` that would move a placed meeting to another
    time or table (see :func:`update_event`); the refusal names the first grid field that changed."""
    if not placed:
        return
    before, after = event.slot_times(), proposed.slot_times()
    moved = [m for m in placed if m.slot >= len(after) or m.slot >= len(before) or after[m.slot] != before[m.slot]]
    if moved:
        field = next((key for key in GRID_FIELDS if getattr(proposed, key) != getattr(event, key)), "sessions")
        raise ConflictError(
            msg(
                "%(field)s: this change would move %(count)s placed meetings (scheduled, sent or held) to "
                "other times; cancel those meetings or re-run the schedule first",
                field=field,
                count=len(moved),
            ),
            field=field,
        )
    beyond = [m for m in placed if m.table_no is not None and m.table_no >= proposed.tables]
    if beyond:
        keep = max(m.table_no for m in beyond) + 1
        raise ConflictError(
            msg(
                "tables: %(count)s placed meetings (scheduled, sent or held) are at tables above %(tables)s; "
                "keep at least %(keep)s tables, or cancel those meetings first",
                count=len(beyond),
                tables=proposed.tables,
                keep=keep,
            ),
            field="tables",
        )


def _check_grid(event: Event) -> None:
    count = event.slot_count
    if count == 0:
        raise InputError(msg("sessions: no slot fits; make the sessions longer than one slot"), field="sessions")
    if count > MAX_SLOTS:
        raise InputError(
            msg(
                "sessions: %(count)s slots is more than %(max)s; use fewer days or sessions", count=count, max=MAX_SLOTS
            ),
            "sessions",
        )


def event_input_dict(event: Event) -> dict[str, Any]:
    return {key: getattr(event, key) for key in EventInput.model_fields}


def get_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFoundError(msg("event %(event_id)s does not exist", event_id=event_id), field="event_id")
    return event


def set_event_status(session: Session, event: Event, status: EventStatus, *, now: datetime | None = None) -> Event:
    """Move the event through its lifecycle (:meth:`Event.transition`). Ending it is refused (409
    naming its start date) before its first day in the event time zone: an event dated ahead has
    not taken place yet."""
    if status is EventStatus.FINISHED and event.status is not EventStatus.FINISHED:
        _require_day(
            event.start_date,
            msg(
                "start_date: the event starts on %(date)s (Beijing time); it can be ended only from that day on",
                date=event.start_date.isoformat(),
            ),
            now,
        )
    event.transition(status)
    session.flush()
    return event


def add_event_demands(session: Session, event: Event, demand_ids: Iterable[int]) -> list[EventDemand]:
    """Put open demands on the event's board (大企业发榜); already listed ones are kept."""
    from marketplace.accounts.permissions import can_view_demand, organization_viewer

    have = {d.demand_id for d in event.demands}
    added = []
    organizers = organization_viewer(event.organization_id)
    for demand_id in dict.fromkeys(demand_ids):
        demand = session.get(Demand, demand_id)
        # only demands the organizing organization may see (trust policy): a private or invited demand
        # of another firm is reported like a missing one
        if demand is None or not can_view_demand(session, organizers, demand):
            raise NotFoundError(
                msg("demand_ids: demand %(demand_id)s does not exist", demand_id=demand_id), field="demand_ids"
            )
        if demand.status not in (DemandStatus.OPEN, DemandStatus.MATCHED):
            raise InputError(
                msg(
                    "demand_ids: demand %(demand_id)s is %(status)s; only open demands",
                    demand_id=demand_id,
                    status=demand.status,
                ),
                "demand_ids",
            )
        if demand.visibility is not Visibility.PUBLIC:
            raise InputError(
                msg(
                    "demand_ids: demand %(demand_id)s is not public; only public demands go on a board",
                    demand_id=demand_id,
                ),
                "demand_ids",
            )
        if demand_id not in have:
            link = EventDemand(event=event, demand_id=demand_id)
            session.add(link)
            added.append(link)
    session.flush()
    return added


def event_dict(event: Event) -> dict[str, Any]:
    slots = event.slot_times()
    return {
        "event_id": event.id,
        "title": event.title,
        "description": event.description,
        "organization_id": event.organization_id,
        "organization": event.organization.name if event.organization else None,
        "format": event.format.value,
        "status": event.status.value,
        "location": event.location,
        "focus_products": list(event.focus_products or []),
        "focus_industries": list(event.focus_industries or []),
        "start_date": event.start_date.isoformat(),
        "days": event.days,
        "sessions": list(event.sessions or []),
        "slot_minutes": event.slot_minutes,
        "gap_minutes": event.gap_minutes,
        "slots": len(slots),
        "tables": event.tables,
        "registration_opens": event.registration_opens.isoformat() if event.registration_opens else None,
        "registration_closes": event.registration_closes.isoformat() if event.registration_closes else None,
        "capacity_large": event.capacity_large,
        "capacity_sme": event.capacity_sme,
        "open_registration": event.open_registration,
        "request_rule": event.request_rule.value,
        "request_expiry_hours": event.request_expiry_hours,
        "pending_cap": event.pending_cap,
        "sme_min_meetings": event.sme_min_meetings,
        "large_max_meetings": event.large_max_meetings,
        "max_representatives": event.max_representatives,
        "demand_ids": [d.demand_id for d in event.demands],
    }


# --- invitations and registrations ------------------------------------------------------------


def side_of(firm: Firm) -> Side:
    return Side.LARGE if firm.kind is FirmKind.LARGE else Side.SME


def organizer_user_ids(session: Session, event: Event) -> list[int]:
    return list(
        session.scalars(select(User.id).where(User.organization_id == event.organization_id, User.is_active.is_(True)))
    )


def notify_firms(
    session: Session, event: Event, firm_ids: Iterable[int], kind: str, zh: str, en: str, link: str
) -> int:
    """In-app notification and e-mail to every user of the firms (through the platform sender)."""
    from marketplace.accounts.notifications import notify

    users = acting_user_ids(session, firm_ids)
    if not users:
        return 0
    return notify(
        session,
        user_ids=users,
        kind=kind,
        title_zh=f"【{event.title}】{zh}",
        title_en=f"[{event.title}] {en}",
        link=link,
    )


def invite_firms(
    session: Session, event: Event, firm_ids: Iterable[int], reasons: dict[int, list[str]] | None = None
) -> list[EventInvitation]:
    """Bulk invitations; a firm already invited keeps its invitation and status. Refused (409)
    once the event is finished."""
    require_status(event, CHANGING, invitations_closed(event))
    reasons = reasons or {}
    existing = {
        i.firm_id: i for i in session.scalars(select(EventInvitation).where(EventInvitation.event_id == event.id))
    }
    sent = []
    for firm_id in dict.fromkeys(firm_ids):
        firm = session.get(Firm, firm_id)
        if firm is None:
            raise NotFoundError(msg("firm_ids: firm %(firm_id)s does not exist", firm_id=firm_id), field="firm_ids")
        if firm_id in existing:
            continue
        inv = EventInvitation(
            event_id=event.id,
            firm_id=firm_id,
            side=side_of(firm),
            status=InvitationStatus.SENT,
            reasons=list(reasons.get(firm_id, [])),
        )
        session.add(inv)
        sent.append(inv)
    session.flush()
    if sent:
        notify_firms(
            session,
            event,
            [i.firm_id for i in sent],
            "event_invitation",
            "诚邀贵企业参加产业链对接活动",
            "You are invited to a chain-matching event",
            f"/events/{event.id}",
        )
    return sent


def invitations_closed(event: Event) -> Message:
    """Why firms can no longer be invited to this event."""
    return msg("status: the event is %(status)s; firms are invited only until it is finished", status=event.status)


def registration_for(session: Session, event: Event, firm_id: int) -> EventRegistration | None:
    return session.scalar(
        select(EventRegistration).where(EventRegistration.event_id == event.id, EventRegistration.firm_id == firm_id)
    )


def register_firm(
    session: Session, event: Event, firm_id: int, *, representatives: int = 1, side: Side | None = None
) -> EventRegistration:
    """A firm registers: invited firms are approved at once, others wait for the organizer.
    Answering an invitation with yes is the same call."""
    firm = session.get(Firm, firm_id)
    if firm is None:
        raise NotFoundError(msg("firm_id: firm %(firm_id)s does not exist", firm_id=firm_id), field="firm_id")
    require_status(
        event,
        REGISTERING,
        msg("status: the event is %(status)s; firms register only while it is open or scheduled", status=event.status),
    )
    invitation = session.scalar(
        select(EventInvitation).where(EventInvitation.event_id == event.id, EventInvitation.firm_id == firm_id)
    )
    if invitation is None and not (event.open_registration and event.registration_is_open()):
        raise TransitionError(msg("event: registration is not open for this event"), field="event")
    if registration_for(session, event, firm_id) is not None:
        raise TransitionError(msg("firm_id: this firm is already registered"), field="firm_id")
    side = side or (invitation.side if invitation else side_of(firm))
    if not 1 <= representatives <= (event.max_representatives if side is Side.LARGE else 1):
        limit = event.max_representatives if side is Side.LARGE else 1
        raise InputError(
            msg("representatives: between 1 and %(limit)s for this side", limit=limit), field="representatives"
        )
    capacity = event.capacity_large if side is Side.LARGE else event.capacity_sme
    taken = session.scalar(
        select(func.count())
        .select_from(EventRegistration)
        .where(
            EventRegistration.event_id == event.id,
            EventRegistration.side == side,
            EventRegistration.status.in_([RegistrationStatus.APPROVED, RegistrationStatus.PENDING]),
        )
    )
    if taken >= capacity:
        raise TransitionError(
            msg("side: the event is full on the %(side)s side (%(capacity)s)", side=side, capacity=capacity),
            field="side",
        )
    reg = EventRegistration(
        event_id=event.id,
        firm_id=firm_id,
        side=side,
        representatives=representatives,
        status=RegistrationStatus.APPROVED if invitation else RegistrationStatus.PENDING,
        segment=invitation.segment if invitation else None,
        checkin_token=secrets.token_urlsafe(24),
    )
    session.add(reg)
    if invitation is not None:
        invitation.status = InvitationStatus.REGISTERED
        invitation.responded_at = utcnow()
    session.flush()
    return reg


def decline_invitation(session: Session, event: Event, firm_id: int) -> EventInvitation:
    invitation = session.scalar(
        select(EventInvitation).where(EventInvitation.event_id == event.id, EventInvitation.firm_id == firm_id)
    )
    if invitation is None:
        raise NotFoundError(msg("invitation: this firm has no invitation to the event"), field="invitation")
    if invitation.status is not InvitationStatus.SENT:
        raise TransitionError(msg("invitation: already %(status)s", status=invitation.status), field="invitation")
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = utcnow()
    session.flush()
    return invitation


def decide_registration(session: Session, reg: EventRegistration, approve: bool) -> EventRegistration:
    """The organizer approves or rejects an open registration (until the event is finished)."""
    event = session.get(Event, reg.event_id)
    require_status(
        event,
        CHANGING,
        msg(
            "status: the event is %(status)s; registrations are approved or rejected only until it is finished",
            status=event.status,
        ),
    )
    if reg.status is not RegistrationStatus.PENDING:
        raise TransitionError(msg("registration: already %(status)s", status=reg.status), field="status")
    reg.status = RegistrationStatus.APPROVED if approve else RegistrationStatus.REJECTED
    session.flush()
    zh, en = ("报名已通过", "Registration approved") if approve else ("报名未通过", "Registration not approved")
    notify_firms(session, event, [reg.firm_id], "event_registration", zh, en, f"/events/{event.id}")
    return reg


def set_availability(session: Session, reg: EventRegistration, slots: Iterable[int] | None) -> EventRegistration:
    """The slots a participant can attend (None: all of them); fixed once the event is finished."""
    event = session.get(Event, reg.event_id)
    require_status(
        event,
        CHANGING,
        msg("status: the event is %(status)s; availability changes only until it is finished", status=event.status),
    )
    if slots is None:
        reg.available_slots = None
    else:
        chosen = sorted(set(int(s) for s in slots))
        bad = [s for s in chosen if not 0 <= s < event.slot_count]
        if bad:  # the event's schedule decides which slots exist: a conflict with it (409), not a malformed list
            raise TransitionError(
                msg("slots: %(slot)s is not a slot of this event (0–%(last)s)", slot=bad[0], last=event.slot_count - 1),
                field="slots",
            )
        reg.available_slots = chosen
    session.flush()
    return reg


def approved_registrations(session: Session, event: Event, side: Side | None = None) -> list[EventRegistration]:
    query = select(EventRegistration).where(
        EventRegistration.event_id == event.id, EventRegistration.status == RegistrationStatus.APPROVED
    )
    if side is not None:
        query = query.where(EventRegistration.side == side)
    return list(session.scalars(query.order_by(EventRegistration.id)))


def registration_dict(reg: EventRegistration) -> dict[str, Any]:
    return {
        "registration_id": reg.id,
        "firm_id": reg.firm_id,
        "firm": reg.firm.display_name,
        "side": reg.side.value,
        "status": reg.status.value,
        "representatives": reg.representatives,
        "segment": reg.segment,
        "available_slots": reg.available_slots,
        "checked_in": reg.checked_in_at is not None,
    }


def browse_participants(
    session: Session,
    event: Event,
    firm_id: int,
    *,
    q: str = "",
    region: str | None = None,
    min_tier: int = 0,
) -> list[dict[str, Any]]:
    """The other side of the event for one participant: demands on the board, products, tier,
    region, and whether the pair met at an earlier event."""
    mine = registration_for(session, event, firm_id)
    if mine is None or mine.status is not RegistrationStatus.APPROVED:
        raise PermissionDeniedError(msg("event: only approved participants browse the other side"))
    other = Side.SME if mine.side is Side.LARGE else Side.LARGE
    demands_by_owner: dict[int, list[Demand]] = {}
    for link in event.demands:
        demands_by_owner.setdefault(link.demand.owner_firm_id, []).append(link.demand)
    met = met_before(session, event, [(firm_id, r.firm_id) for r in approved_registrations(session, event, other)])
    requested = {
        (r.from_firm_id, r.to_firm_id): r
        for r in session.scalars(
            select(MeetingRequest).where(
                MeetingRequest.event_id == event.id,
                or_(MeetingRequest.from_firm_id == firm_id, MeetingRequest.to_firm_id == firm_id),
            )
        )
    }
    rows = []
    needle = (q or "").strip()
    for reg in approved_registrations(session, event, other):
        firm = reg.firm
        products = [fp.product.name for fp in firm.products][:12]
        demands = demands_by_owner.get(firm.id, [])
        text = " ".join(
            [firm.name, firm.short_name or "", firm.description or "", *products, *(d.title for d in demands)]
        )
        if needle and needle not in text:
            continue
        if region and firm.region != region:
            continue
        if min_tier and (firm.tier is None or firm.tier.rank < min_tier):
            continue
        req = requested.get((firm_id, firm.id)) or requested.get((firm.id, firm_id))
        rows.append(
            {
                "firm_id": firm.id,
                "firm": firm.display_name,
                "side": reg.side.value,
                "region": firm.region,
                "tier": firm.tier.value if firm.tier else None,
                "tier_label": firm.tier.label_zh if firm.tier else None,
                "products": products,
                "demands": [{"demand_id": d.id, "title": d.title} for d in demands],
                "met_before": frozenset((firm_id, firm.id)) in met,
                "request_status": req.status if req else None,  # a RequestStatus: its value in JSON, |lbl on pages
            }
        )
    return rows


# --- meeting requests and proposals -------------------------------------------------------------


def _pair_request(session: Session, event: Event, a: int, b: int) -> MeetingRequest | None:
    return session.scalar(
        select(MeetingRequest).where(
            MeetingRequest.event_id == event.id,
            or_(
                and_(MeetingRequest.from_firm_id == a, MeetingRequest.to_firm_id == b),
                and_(MeetingRequest.from_firm_id == b, MeetingRequest.to_firm_id == a),
            ),
        )
    )


def request_meeting(
    session: Session,
    event: Event,
    from_firm_id: int,
    to_firm_id: int,
    *,
    message: str = "",
    demand_id: int | None = None,
) -> MeetingRequest:
    """A participant asks one of the other side for a meeting. Auto-accept events accept at once;
    otherwise the request expires after the event's expiry hours."""
    require_status(event, MEETING, meetings_closed(event))
    expire_requests(session, event)
    if from_firm_id == to_firm_id:
        raise InputError(msg("to_firm_id: a firm cannot meet itself"), field="to_firm_id")
    mine = registration_for(session, event, from_firm_id)
    theirs = registration_for(session, event, to_firm_id)
    if mine is None or mine.status is not RegistrationStatus.APPROVED:
        raise PermissionDeniedError(msg("event: only approved participants request meetings"))
    if theirs is None or theirs.status is not RegistrationStatus.APPROVED:
        raise NotFoundError(
            msg("to_firm_id: firm %(firm_id)s is not a participant of this event", firm_id=to_firm_id),
            field="to_firm_id",
        )
    if mine.side is theirs.side:
        raise InputError(msg("to_firm_id: meetings are between a large firm and an SME"), field="to_firm_id")
    if len(message or "") > 1000:
        raise InputError(msg("message: at most 1000 characters"), field="message")
    if _pair_request(session, event, from_firm_id, to_firm_id) is not None:
        raise TransitionError(msg("to_firm_id: there is already a request between these two firms"), field="to_firm_id")
    if demand_id is not None and demand_id not in {d.demand_id for d in event.demands}:
        raise InputError(
            msg("demand_id: demand %(demand_id)s is not part of this event", demand_id=demand_id), field="demand_id"
        )
    pending = session.scalar(
        select(func.count())
        .select_from(MeetingRequest)
        .where(
            MeetingRequest.event_id == event.id,
            MeetingRequest.from_firm_id == from_firm_id,
            MeetingRequest.status == RequestStatus.PENDING,
        )
    )
    if pending >= event.pending_cap:
        raise TransitionError(
            msg(
                "to_firm_id: %(pending)s requests are still unanswered (limit %(cap)s); wait for answers",
                pending=pending,
                cap=event.pending_cap,
            ),
            field="to_firm_id",
        )
    req = MeetingRequest(
        event_id=event.id,
        from_firm_id=from_firm_id,
        to_firm_id=to_firm_id,
        demand_id=demand_id,
        source=RequestSource.REQUEST,
        status=RequestStatus.PENDING,
        message=(message or "").strip(),
        expires_at=utcnow() + timedelta(hours=event.request_expiry_hours),
    )
    session.add(req)
    session.flush()
    if event.request_rule is RequestRule.AUTO_ACCEPT:
        answer_request(session, req, accept=True, notify=False)
    notify_firms(
        session,
        event,
        [to_firm_id],
        "event_request",
        "收到新的洽谈申请",
        "New meeting request",
        f"/events/{event.id}/requests",
    )
    return req


def answer_request(session: Session, req: MeetingRequest, *, accept: bool, notify: bool = True) -> MeetingRequest:
    """The asked firm (or, for a proposal, the demand owner) accepts or declines; an accepted
    request becomes a meeting on the waiting list until the organizer schedules."""
    event = session.get(Event, req.event_id)
    require_status(event, MEETING, meetings_closed(event))
    if req.status is RequestStatus.PENDING and req.expires_at and req.expires_at < utcnow():
        req.transition(RequestStatus.EXPIRED)
        session.flush()
        raise TransitionError(msg("status: the request expired before it was answered"), field="status")
    req.transition(RequestStatus.ACCEPTED if accept else RequestStatus.DECLINED)
    if accept:
        _meeting_for(session, event, req)
    session.flush()
    if notify:
        zh, en = (
            ("洽谈申请已被接受", "Meeting request accepted")
            if accept
            else ("洽谈申请被婉拒", "Meeting request declined")
        )
        notify_firms(session, event, [req.from_firm_id], "event_request", zh, en, f"/events/{event.id}/requests")
    return req


def meetings_closed(event: Event) -> Message:
    """Why meetings can no longer be requested, proposed or answered in this event."""
    return msg(
        "status: the event is %(status)s; meetings are requested and answered only while it is open or scheduled",
        status=event.status,
    )


def _meeting_for(session: Session, event: Event, req: MeetingRequest) -> Meeting:
    regs = {
        r.firm_id: r for r in approved_registrations(session, event) if r.firm_id in (req.from_firm_id, req.to_firm_id)
    }
    a, b = regs.get(req.from_firm_id), regs.get(req.to_firm_id)
    if a is None or b is None:
        raise TransitionError(msg("status: both firms must be approved participants"), field="status")
    large, sme = (a, b) if a.side is Side.LARGE else (b, a)
    meeting = Meeting(
        event_id=event.id,
        request_id=req.id,
        large_firm_id=large.firm_id,
        sme_firm_id=sme.firm_id,
        demand_id=req.demand_id,
        weight=meeting_weight(req),
        status=MeetingStatus.WAITING,
    )
    session.add(meeting)
    return meeting


def meeting_weight(req: MeetingRequest) -> int:
    """The scheduler's weight of a meeting: 10 for a plain request, plus up to 100 from the
    engine's match score, plus 20 when it is tied to a demand on the board; must-meet pairs weigh
    1000 so they go first."""
    weight = 10 + int(round(100 * min(1.0, max(0.0, req.score or 0.0))))
    if req.demand_id is not None:
        weight += 20
    if req.must_meet:
        weight += 1000
    return weight


def set_must_meet(session: Session, req: MeetingRequest, must_meet: bool) -> MeetingRequest:
    """The organizer marks a pair must-meet (or not); the meeting's weight follows."""
    req.must_meet = must_meet
    meeting = session.scalar(select(Meeting).where(Meeting.request_id == req.id))
    if meeting is not None:
        meeting.weight = meeting_weight(req)
    session.flush()
    return req


def expire_requests(session: Session, event: Event | None = None, now: datetime | None = None) -> int:
    """Unanswered requests past their expiry become expired, freeing the asker's pending quota.
    Called on every page that lists requests and by ``events expire``."""
    now = now or utcnow()
    query = select(MeetingRequest).where(
        MeetingRequest.status == RequestStatus.PENDING, MeetingRequest.expires_at < now
    )
    if event is not None:
        query = query.where(MeetingRequest.event_id == event.id)
    expired = list(session.scalars(query))
    for req in expired:
        req.transition(RequestStatus.EXPIRED)
    session.flush()
    return len(expired)


def requests_for_firm(session: Session, event: Event, firm_id: int) -> dict[str, list[MeetingRequest]]:
    """A participant's inbox: requests it received, proposals it may accept, requests it sent."""
    expire_requests(session, event)
    rows = list(
        session.scalars(
            select(MeetingRequest)
            .where(
                MeetingRequest.event_id == event.id,
                or_(MeetingRequest.from_firm_id == firm_id, MeetingRequest.to_firm_id == firm_id),
            )
            .order_by(MeetingRequest.score.desc().nulls_last(), MeetingRequest.id)
        )
    )
    return {
        "received": [r for r in rows if r.to_firm_id == firm_id and r.source is RequestSource.REQUEST],
        "proposals": [r for r in rows if r.to_firm_id == firm_id and r.source is RequestSource.PROPOSAL],
        "sent": [r for r in rows if r.from_firm_id == firm_id and r.source is RequestSource.REQUEST],
        "proposed_to_me": [r for r in rows if r.from_firm_id == firm_id and r.source is RequestSource.PROPOSAL],
    }


def request_dict(req: MeetingRequest, met: set[frozenset[int]] | None = None) -> dict[str, Any]:
    return {
        "request_id": req.id,
        "from_firm_id": req.from_firm_id,
        "from_firm": req.from_firm.display_name,
        "to_firm_id": req.to_firm_id,
        "to_firm": req.to_firm.display_name,
        "demand_id": req.demand_id,
        "demand": req.demand.title if req.demand else None,
        "source": req.source.value,
        "status": req.status.value,
        "message": req.message,
        "score": round(req.score, 4) if req.score is not None else None,
        "reasons": list(req.reasons or []),
        "must_meet": req.must_meet,
        "expires_at": req.expires_at.isoformat(timespec="minutes") if req.expires_at else None,
        "met_before": frozenset((req.from_firm_id, req.to_firm_id)) in (met or set()),
    }


def get_request(session: Session, request_id: int) -> MeetingRequest:
    req = session.get(MeetingRequest, request_id)
    if req is None:
        raise NotFoundError(msg("request %(request_id)s does not exist", request_id=request_id), field="request_id")
    return req


@dataclass
class ProposalRun:
    """What one run of the engine's proposals made, and, when it made none, why (from the event's
    data: no demand on the board, no approved participant on one side, no fitting SME, pairs that
    already have a request, pairs that share no slot)."""

    made: list[MeetingRequest]
    why_none: Message | None = None


def propose_meetings(session: Session, engine: Any, event: Event, *, per_demand: int = 5) -> list[MeetingRequest]:
    """The engine's new proposals (:func:`propose`)."""
    return propose(session, engine, event, per_demand=per_demand).made


def propose(session: Session, engine: Any, event: Event, *, per_demand: int = 5) -> ProposalRun:
    """The engine proposes meetings: for each demand on the board whose owner takes part, the
    best-matching registered SMEs that share a slot with the owner, with the engine's reasons.
    Existing pairs are left alone. When nothing is proposed the run says why."""
    from marketplace.matching.engine import POOL

    require_status(event, MEETING, meetings_closed(event))
    smes = {r.firm_id: r for r in approved_registrations(session, event, Side.SME)}
    owners = {r.firm_id: r for r in approved_registrations(session, event, Side.LARGE)}
    slots = event.slot_count
    proposals: list[MeetingRequest] = []
    fitting = already = no_slot = 0
    for link in event.demands:
        demand = link.demand
        if demand.owner_firm_id not in owners or not smes:
            continue
        owner_slots = set(owners[demand.owner_firm_id].available(slots))
        results = engine.match(
            demand.match_text(),
            demand.type,
            top_k=POOL,
            exclude=[demand.owner_firm_id],
            region_preference=demand.region_preference,
        )
        taken = 0
        for result in results:
            if taken >= per_demand:
                break
            if result.firm_id not in smes:
                continue
            fitting += 1
            if _pair_request(session, event, result.firm_id, demand.owner_firm_id) is not None:
                taken += 1
                already += 1
                continue
            if not owner_slots.intersection(smes[result.firm_id].available(slots)):
                no_slot += 1  # it could never be scheduled; the next best SME may
                continue
            taken += 1
            req = MeetingRequest(
                event_id=event.id,
                from_firm_id=result.firm_id,
                to_firm_id=demand.owner_firm_id,
                demand_id=demand.id,
                source=RequestSource.PROPOSAL,
                status=RequestStatus.PROPOSED,
                score=float(result.score),
                reasons=[  # data, rendered in the reader's language (events_invitees.render_reason)
                    {"kind": "can_meet_demand", "title": demand.title, "owner": demand.owner.display_name},
                    *result.reasons,
                ],
            )
            session.add(req)
            session.flush()
            proposals.append(req)
    if proposals:
        notify_firms(
            session,
            event,
            {p.to_firm_id for p in proposals},
            "event_proposal",
            "平台为您的需求推荐了洽谈对象",
            "Meeting proposals for your demands",
            f"/events/{event.id}/requests",
        )
        return ProposalRun(proposals)
    return ProposalRun(proposals, _why_no_proposals(event, smes, owners, fitting, already, no_slot))


def _why_no_proposals(
    event: Event, smes: dict[int, Any], owners: dict[int, Any], fitting: int, already: int, no_slot: int
) -> Message:
    """Why a proposal run made nothing, from what it found (see :func:`propose`)."""
    if not event.demands:
        return msg("no demand is on the event's board; add the participating large firms' demands to it first")
    if not any(link.demand.owner_firm_id in owners for link in event.demands):
        names = "、".join(dict.fromkeys(link.demand.owner.display_name for link in event.demands))
        return msg(
            "no demand on the board belongs to an approved participant: its owners (%(owners)s) "
            "have not registered or are not approved yet",
            owners=names,
        )
    if not smes:
        return msg("no SME is registered and approved for the event yet; invite SMEs or approve their registrations")
    if not fitting:
        return msg(
            "the matching engine found none of the %(count)s registered SMEs fitting the board's demands",
            count=len(smes),
        )
    reasons = []
    if already:
        reasons.append(
            msg(
                "%(count)s best-matching pairs already have a meeting request (an earlier proposal or "
                "the firms' own request)",
                count=already,
            )
        )
    if no_slot:
        reasons.append(
            msg(
                "%(count)s matching pairs share no slot both firms can attend; ask them to widen their availability",
                count=no_slot,
            )
        )
    return join(reasons)


def accept_proposals(session: Session, event: Event, firm_id: int, request_ids: Iterable[int]) -> list[MeetingRequest]:
    """The demand owner accepts proposals in bulk (only its own, only proposed ones)."""
    done = []
    for request_id in dict.fromkeys(request_ids):
        req = get_request(session, request_id)
        if req.event_id != event.id or req.to_firm_id != firm_id or req.source is not RequestSource.PROPOSAL:
            raise PermissionDeniedError(
                msg("request_ids: proposal %(request_id)s is not yours to accept", request_id=request_id)
            )
        if req.status is RequestStatus.PROPOSED:
            answer_request(session, req, accept=True, notify=False)
            done.append(req)
    if done:
        notify_firms(
            session,
            event,
            [r.from_firm_id for r in done],
            "event_request",
            "大企业接受了与您的洽谈",
            "A large firm accepted a meeting with you",
            f"/events/{event.id}/requests",
        )
    return done


def met_before(session: Session, event: Event, pairs: Iterable[tuple[int, int]]) -> set[frozenset[int]]:
    """Pairs of firms that held a meeting at an earlier event."""
    wanted = {frozenset(p) for p in pairs}
    if not wanted:
        return set()
    firms = {f for p in wanted for f in p}
    rows = session.execute(
        select(Meeting.large_firm_id, Meeting.sme_firm_id)
        .join(Event, Event.id == Meeting.event_id)
        .where(
            Meeting.event_id != event.id,
            Event.start_date < event.start_date,
            Meeting.status == MeetingStatus.HELD,
            Meeting.large_firm_id.in_(firms),
            Meeting.sme_firm_id.in_(firms),
        )
    )
    return {frozenset(r) for r in rows} & wanted


# --- meetings on the day -----------------------------------------------------------------------


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
    _require_day(
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
    _require_day(
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
