"""Agendas of event participants: the ordered meetings with times, table numbers and the demand
each meeting is about; the same agenda as an iCalendar file (one stable UID per meeting, its
SEQUENCE bumped on every move, so calendars update the entry instead of duplicating it); and the
participant's check-in QR code."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from icalendar import Calendar, vText
from icalendar import Event as CalendarEvent
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.models import Event, EventRegistration, Meeting, MeetingStatus

EVENT_TZ = ZoneInfo("Asia/Shanghai")  # events are held in China; slot times are local times
UID_DOMAIN = "events.chainmatch.cn"
SHOWN = (MeetingStatus.SCHEDULED, MeetingStatus.HELD, MeetingStatus.NO_SHOW, MeetingStatus.CANCELLED)


def meeting_uid(meeting: Meeting) -> str:
    """Stable per meeting: a moved meeting keeps its UID."""
    return f"event-{meeting.event_id}-meeting-{meeting.id}@{UID_DOMAIN}"


def table_label(meeting: Meeting) -> str | None:
    """Tables are numbered from 1 for people (the solver numbers them from 0)."""
    return str(meeting.table_no + 1) if meeting.table_no is not None else None


def agenda_rows(session: Session, event: Event, firm_id: int, *, include_waiting: bool = True) -> list[dict[str, Any]]:
    """One participant's meetings in time order; waiting-list ones last, with their reason."""
    times = event.slot_times()
    meetings = list(
        session.scalars(
            select(Meeting).where(
                Meeting.event_id == event.id, or_(Meeting.large_firm_id == firm_id, Meeting.sme_firm_id == firm_id)
            )
        )
    )
    rows = []
    for m in meetings:
        if m.status is MeetingStatus.WAITING and not include_waiting:
            continue
        start, end = times[m.slot] if m.slot is not None and m.slot < len(times) else (None, None)
        other = m.other(firm_id)
        outcome = next((o for o in m.outcomes if o.firm_id == firm_id), None)
        rows.append(
            {
                "meeting_id": m.id,
                "status": m.status.value,
                "status_label": m.status.label_zh,
                "slot": m.slot,
                "table": table_label(m),
                "start": start.isoformat(timespec="minutes") if start else None,
                "end": end.isoformat(timespec="minutes") if end else None,
                "with_firm_id": other.id,
                "with_firm": other.display_name,
                "demand_id": m.demand_id,
                "demand": m.demand.title if m.demand else None,
                "locked": m.locked,
                "reason": m.reason,
                "outcome": outcome.outcome.value if outcome else None,
                "sequence": m.sequence,
            }
        )
    rows.sort(key=lambda r: (r["slot"] is None, r["slot"] if r["slot"] is not None else 0, r["meeting_id"]))
    return rows


def agenda_ics(session: Session, event: Event, firm_id: int, firm_name: str) -> bytes:
    """The participant's agenda as an iCalendar file. Cancelled meetings stay in the file with
    STATUS:CANCELLED so calendars remove them."""
    cal = Calendar()
    cal.add("prodid", "-//ChainMatch//产业链对接活动//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", vText(f"{event.title} · {firm_name}"))  # TEXT-escaped, like SUMMARY
    stamp = datetime.now(EVENT_TZ)
    times = event.slot_times()
    meetings = session.scalars(
        select(Meeting).where(
            Meeting.event_id == event.id,
            Meeting.status.in_(SHOWN),
            or_(Meeting.large_firm_id == firm_id, Meeting.sme_firm_id == firm_id),
        )
    )
    for m in meetings:
        if m.slot is None and m.status is not MeetingStatus.CANCELLED:
            continue
        other = m.other(firm_id)
        entry = CalendarEvent()
        entry.add("uid", meeting_uid(m))
        entry.add("sequence", m.sequence)
        entry.add("dtstamp", stamp)
        summary = f"洽谈：{other.display_name}"
        if m.table_no is not None:
            summary += f"（{table_label(m)} 号桌）"
        entry.add("summary", summary)
        if m.slot is not None and m.slot < len(times):
            start, end = times[m.slot]
            entry.add("dtstart", start.replace(tzinfo=EVENT_TZ))
            entry.add("dtend", end.replace(tzinfo=EVENT_TZ))
        else:  # a cancelled meeting keeps the times calendars know it by: the event's first day
            start, end = times[0]
            entry.add("dtstart", start.replace(tzinfo=EVENT_TZ))
            entry.add("dtend", end.replace(tzinfo=EVENT_TZ))
        location = event.location or ""
        if m.table_no is not None:
            location = f"{location} {table_label(m)} 号桌 / table {table_label(m)}".strip()
        entry.add("location", location)
        lines = [f"活动：{event.title}", f"对接企业：{other.name}"]
        if m.demand is not None:
            lines.append(f"对接需求：{m.demand.title}")
        entry.add("description", "\n".join(lines))
        entry.add("status", "CANCELLED" if m.status is MeetingStatus.CANCELLED else "CONFIRMED")
        cal.add_component(entry)
    cal.add_missing_timezones()
    return cal.to_ical()


def checkin_qr_svg(url: str) -> str:
    """The check-in QR code as inline SVG for the agenda page and the printable agenda."""
    return segno.make(url, error="m").svg_inline(scale=4, dark="#111", omitsize=False)


def checkin_qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6)
    return buffer.getvalue()


def checkin_path(reg: EventRegistration) -> str:
    """The URL path the organizer's device opens when it scans the participant's QR code."""
    return f"/events/{reg.event_id}/checkin/{reg.checkin_token}"
