"""The permission rules of every event object (event, registration lookup, meeting, meeting
request): one rule per object type that every page, API route, CLI path and export asks."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import Viewer, viewer_of
from marketplace.errors import PermissionDeniedError, msg
from marketplace.models import (
    Event,
    EventInvitation,
    EventRegistration,
    EventStatus,
    Meeting,
    MeetingRequest,
    RegistrationStatus,
)


def as_viewer(viewer: Any) -> Viewer:
    """The platform's permission Viewer for a User row, a signed-in web user, an API token's user
    or None: only an active (approved) member of a firm acts for it."""
    return viewer if isinstance(viewer, Viewer) else viewer_of(viewer)


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
    return _pair_access(session, viewer, meeting.event_id, (meeting.large_firm_id, meeting.sme_firm_id))


def request_access(session: Session, viewer: Any, req: MeetingRequest) -> Access:
    """The one rule for meeting requests: the organizer, the asking firm or the answering firm."""
    return _pair_access(session, viewer, req.event_id, (req.from_firm_id, req.to_firm_id))


def _pair_access(session: Session, viewer: Any, event_id: int, firm_ids: tuple[int, int]) -> Access:
    """What concerns two firms of an event: its organizer manages it, the two firms take part."""
    viewer = as_viewer(viewer)
    access = event_access(session, viewer, session.get(Event, event_id))
    if access is Access.ORGANIZER:
        return access
    if viewer.firm_id is not None and viewer.firm_id in firm_ids:
        return Access.PARTICIPANT
    return Access.NONE


def require(access: Access, need: Access, what: str) -> None:
    if access < need:
        raise PermissionDeniedError(msg("%(what)s: not allowed for this account", what=what))


def visible_events(session: Session, viewer: Any) -> list[Event]:
    """Events the viewer may see at all, newest first."""
    events = session.scalars(select(Event).order_by(Event.start_date.desc(), Event.id.desc()))
    return [e for e in events if event_access(session, viewer, e) > Access.NONE]


def registration_for(session: Session, event: Event, firm_id: int) -> EventRegistration | None:
    return session.scalar(
        select(EventRegistration).where(EventRegistration.event_id == event.id, EventRegistration.firm_id == firm_id)
    )
