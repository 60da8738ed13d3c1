"""Meeting requests and engine proposals of an event: browsing the other side to choose whom to
ask, asking for a meeting, answering it (only the asked firm), must-meet pairs, expiry, proposals
and who met before."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from marketplace.errors import (
    InputError,
    Message,
    NotFoundError,
    PermissionDeniedError,
    Term,
    TransitionError,
    join,
    msg,
)
from marketplace.events.access import as_viewer, registration_for
from marketplace.events.events import MEETING, require_status
from marketplace.events.registrations import approved_registrations, notify_firms
from marketplace.models import (
    Demand,
    Event,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    RegistrationStatus,
    RequestRule,
    RequestSource,
    RequestStatus,
    Side,
    utcnow,
)


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
        _record_answer(session, req, accept=True, notify=False)
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


def answer_request(
    session: Session, req: MeetingRequest, *, user: Any, accept: bool, notify: bool = True
) -> MeetingRequest:
    """The asked firm (or, for a proposal, the demand owner) accepts or declines; an accepted
    request becomes a meeting on the waiting list until the organizer schedules. ``user`` is who
    answers (a User row, a signed-in user, a Viewer): only an active member of the asked firm
    may; anyone else, the organizer and the asking firm included, is refused
    (:class:`~marketplace.errors.PermissionDeniedError`)."""
    if as_viewer(user).firm_id != req.to_firm_id:
        raise PermissionDeniedError(
            msg("%(what)s: not allowed for this account", what=Term("洽谈申请", "meeting request"))
        )
    return _record_answer(session, req, accept=accept, notify=notify)


def _record_answer(session: Session, req: MeetingRequest, *, accept: bool, notify: bool) -> MeetingRequest:
    """Accept or decline for the asked firm, already allowed (:func:`answer_request`), for the
    event's auto-accept rule or for a proposal its demand owner accepts (:func:`accept_proposals`)."""
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
            _record_answer(session, req, accept=True, notify=False)
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
