"""Chain-matching events themselves: the lifecycle stages, creating, editing and opening or
finishing an event, its demand board, and the event clock (slot times in 北京时间).

The permission rules live in :mod:`marketplace.events.access`, invitations and registrations in
:mod:`marketplace.events.registrations`, meeting requests and proposals in
:mod:`marketplace.events.meeting_requests`, meetings on the day in :mod:`marketplace.events.meetings`,
scheduling in :mod:`marketplace.events.scheduling`, agendas in :mod:`marketplace.events.agenda` and
statistics in :mod:`marketplace.events.stats`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.demands.workflow import short_terms, validation_message
from marketplace.errors import ConflictError, InputError, Message, NotFoundError, msg
from marketplace.events.agenda import EVENT_TZ
from marketplace.models import (
    Demand,
    DemandStatus,
    Event,
    EventDemand,
    EventFormat,
    EventStatus,
    Meeting,
    MeetingStatus,
    RequestRule,
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


def require_day(day: date, refusal: Message, now: datetime | None = None) -> None:
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
        require_day(
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
