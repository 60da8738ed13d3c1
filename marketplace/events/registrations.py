"""Invitations and registrations of an event: inviting firms, registering, declining, the
organizer's decisions, availability and browsing the other side's participants."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import acting_user_ids
from marketplace.errors import InputError, Message, NotFoundError, TransitionError, msg
from marketplace.events.access import registration_for
from marketplace.events.events import CHANGING, REGISTERING, require_status
from marketplace.models import (
    Event,
    EventInvitation,
    EventRegistration,
    Firm,
    FirmKind,
    InvitationStatus,
    RegistrationStatus,
    Side,
    User,
    utcnow,
)


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
