"""Match suggestions: storing ranked candidates without duplicates, and the SME's answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from marketplace.accounts.notifications import notify
from marketplace.accounts.permissions import Viewer, acting_user_ids, visible_demands_clause
from marketplace.demands.workflow import MATCHABLE, hold_demand, set_status
from marketplace.errors import ConflictError, NotFoundError, TransitionError, msg
from marketplace.matching import reasons as why
from marketplace.models import (
    SUGGESTION_TRANSITIONS,
    Demand,
    DemandInvitation,
    DemandStatus,
    FirmIndustry,
    Industry,
    MatchSuggestion,
    OwnerAction,
    SuggestionStatus,
    Visibility,
    utcnow,
)
from marketplace.models.base import _check_transition


@dataclass(frozen=True)
class Candidate:
    """One ranked firm for a demand, as the matching engine returns it."""

    firm_id: int
    score: float
    reasons: list[why.Reason]  # structured reasons (marketplace/matching/reasons.py)


def save_suggestions(session: Session, demand: Demand, candidates: Iterable[Candidate]) -> list[MatchSuggestion]:
    """Upsert suggestions for a demand: a rerun refreshes score and reasons of existing rows
    (keeping the firm's answer) and adds new firms; the owner is never suggested."""
    ranked = enumerate((c for c in candidates if c.firm_id != demand.owner_firm_id), start=1)
    saved = [upsert_suggestion(session, demand, cand, rank) for rank, cand in ranked]
    session.flush()
    return saved


def upsert_suggestion(session: Session, demand: Demand, cand: Candidate, rank: int) -> MatchSuggestion:
    """Add or refresh one firm's suggestion for a demand (its answer so far is kept)."""
    suggestion = next((s for s in demand.suggestions if s.firm_id == cand.firm_id), None)
    if suggestion is None:
        suggestion = MatchSuggestion(demand=demand, firm_id=cand.firm_id, status=SuggestionStatus.SUGGESTED)
        session.add(suggestion)
    suggestion.score = float(cand.score)
    suggestion.rank = rank
    suggestion.reasons = list(cand.reasons)
    return suggestion


def get_suggestion(session: Session, suggestion_id: int) -> MatchSuggestion:
    suggestion = session.get(MatchSuggestion, suggestion_id)
    if suggestion is None:
        raise NotFoundError(msg("suggestion %(id)s does not exist", id=suggestion_id), field="suggestion_id")
    return suggestion


def _move(session: Session, suggestion: MatchSuggestion, new: SuggestionStatus) -> None:
    """Conditional UPDATE of a suggestion's status (``WHERE status = <what the caller saw>``)."""
    session.flush()
    seen = suggestion.status or SuggestionStatus.SUGGESTED
    _check_transition("suggestion", seen, new, SUGGESTION_TRANSITIONS[seen])
    values: dict[str, Any] = {"status": new, "updated_at": utcnow()}
    if new in (SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED):
        values["decided_at"] = utcnow()
    if new is SuggestionStatus.CONTACTED:
        values["contacted_at"] = utcnow()
    changed = session.execute(
        update(MatchSuggestion)
        .where(MatchSuggestion.id == suggestion.id, MatchSuggestion.status == seen)
        .values(**values),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(suggestion)
    if changed != 1:
        raise ConflictError(
            msg(
                "status: this suggestion was answered meanwhile (now %(status)s); reload the page",
                status=suggestion.status,
            ),
            field="status",
        )


def respond(session: Session, suggestion: MatchSuggestion, status: SuggestionStatus) -> MatchSuggestion:
    """The suggested firm accepts or declines; an accepted suggestion can be marked contacted.
    Only while the demand is open or matched (the demand row is held meanwhile, so a concurrent
    close cannot slip in between). The first acceptance moves an open demand to matched."""
    demand = suggestion.demand
    hold_demand(
        session,
        demand,
        MATCHABLE,
        lambda d: msg(
            "status: demand %(id)s is %(status)s; suggestions on it can no longer be answered", id=d.id, status=d.status
        ),
    )
    _move(session, suggestion, status)
    session.refresh(demand)
    if status is SuggestionStatus.ACCEPTED and demand.status is DemandStatus.OPEN:
        set_status(session, demand, DemandStatus.MATCHED)
    if status in (SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED):
        _tell_owner(session, suggestion, accepted=status is SuggestionStatus.ACCEPTED)
    return suggestion


def _tell_owner(session: Session, suggestion: MatchSuggestion, *, accepted: bool) -> int:
    """Notify the demand owner firm's users that the suggested firm answered (in both languages;
    each reader sees their own), linking to the firm's card among the demand's candidates."""
    demand, firm = suggestion.demand, suggestion.firm
    name = firm.display_name if firm else ""
    return notify(
        session,
        user_ids=acting_user_ids(session, [demand.owner_firm_id]),
        kind="demand.answered",
        title_zh=f"【{demand.title}】{name} {'接受' if accepted else '婉拒'}了洽谈推荐",
        title_en=f"[{demand.title}] {name} {'accepted' if accepted else 'declined'} the suggestion to talk",
        body_zh="可在需求的候选企业中查看并继续处理。" if accepted else "",
        body_en="See it among the demand's candidates and follow up." if accepted else "",
        link=f"/demands/{demand.id}#s{suggestion.id}",
    )


def _tell_invited_firm(session: Session, suggestion: MatchSuggestion) -> int:
    """Notify the suggested firm's users that the demand owner invites it to talk (in both
    languages), linking to the suggestion in their inbox, where they accept or decline."""
    demand = suggestion.demand
    owner = demand.owner.display_name if demand.owner else ""
    return notify(
        session,
        user_ids=acting_user_ids(session, [suggestion.firm_id]),
        kind="demand.invited",
        title_zh=f"【{demand.title}】{owner} 邀请贵企业洽谈",
        title_en=f"[{demand.title}] {owner} invites your firm to talk",
        body_zh="请在推荐收件箱中查看需求，并接受或拒绝。",
        body_en="Open the demand from your inbox, then accept or decline.",
        link=f"/inbox/#s{suggestion.id}",
    )


def owner_act(
    session: Session, suggestion: MatchSuggestion, action: OwnerAction, invited_by_id: int | None = None
) -> MatchSuggestion:
    """The demand owner shortlists, invites to talk, or declines a suggested firm. Inviting
    records a DemandInvitation (so the firm may see an "invited" demand), notifies the firm's
    users and, when the firm has accepted, marks the pair contacted.

    Only while the demand is open or matched (its row is held meanwhile, as in :func:`respond`),
    and never an invitation on a private demand, which the invited firm could not see (409)."""
    session.flush()
    demand = suggestion.demand
    hold_demand(
        session,
        demand,
        MATCHABLE,
        lambda d: msg(
            "status: demand %(id)s is %(status)s; its candidates can no longer be shortlisted, invited or declined",
            id=d.id,
            status=d.status,
        ),
    )
    if action is OwnerAction.INVITED and demand.visibility is Visibility.PRIVATE:
        raise ConflictError(
            msg(
                'visibility: a private demand is seen by your firm only; make it "invited firms only" to invite a firm'
            ),
            field="visibility",
        )
    if suggestion.owner_action is OwnerAction.REJECTED and action is not OwnerAction.REJECTED:
        raise TransitionError(
            msg("owner_action: a declined firm cannot be shortlisted or invited again"), field="owner_action"
        )
    seen = suggestion.owner_action or OwnerAction.NONE
    changed = session.execute(
        update(MatchSuggestion)
        .where(MatchSuggestion.id == suggestion.id, MatchSuggestion.owner_action == seen)
        .values(owner_action=action, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(suggestion)
    if changed != 1:
        raise ConflictError(
            msg("owner_action: this candidate was changed meanwhile; reload the page"), field="owner_action"
        )
    if action is OwnerAction.INVITED:
        invite_firm(session, suggestion.demand_id, suggestion.firm_id, invited_by_id)
        if seen is not OwnerAction.INVITED:  # asked once: a repeated invitation tells nobody again
            _tell_invited_firm(session, suggestion)
        if suggestion.status is SuggestionStatus.ACCEPTED:
            _move(session, suggestion, SuggestionStatus.CONTACTED)
    return suggestion


def invite_firm(session: Session, demand_id: int, firm_id: int, invited_by_id: int | None) -> DemandInvitation:
    """Record that the demand's owner invited the firm (idempotent; a concurrent duplicate is
    absorbed by the unique constraint)."""
    found = session.scalar(
        select(DemandInvitation).where(DemandInvitation.demand_id == demand_id, DemandInvitation.firm_id == firm_id)
    )
    if found is not None:
        return found
    invitation = DemandInvitation(demand_id=demand_id, firm_id=firm_id, invited_by_id=invited_by_id)
    try:
        with session.begin_nested():
            session.add(invitation)
    except IntegrityError:
        return session.scalars(
            select(DemandInvitation).where(DemandInvitation.demand_id == demand_id, DemandInvitation.firm_id == firm_id)
        ).one()
    return invitation


def respond_and_follow_up(session: Session, suggestion: MatchSuggestion, status: SuggestionStatus) -> MatchSuggestion:
    """The firm answers; if the owner already invited it and it accepts, the pair is contacted."""
    respond(session, suggestion, status)
    if status is SuggestionStatus.ACCEPTED and suggestion.owner_action is OwnerAction.INVITED:
        _move(session, suggestion, SuggestionStatus.CONTACTED)
    return suggestion


def suggestions_for_demand(session: Session, demand_id: int, *, industry: str | None = None) -> list[MatchSuggestion]:
    """The demand's suggestions, best first; with ``industry``, only firms with an industry whose
    name contains that text (as the API's match filter reads it)."""
    query = (
        select(MatchSuggestion)
        .where(MatchSuggestion.demand_id == demand_id)
        .options(selectinload(MatchSuggestion.firm))
        .order_by(MatchSuggestion.score.desc())
    )
    if industry:
        in_industry = (
            select(FirmIndustry.firm_id)
            .join(Industry, Industry.id == FirmIndustry.industry_id)
            .where(Industry.name.contains(industry, autoescape=True))
        )
        query = query.where(MatchSuggestion.firm_id.in_(in_industry))
    return list(session.scalars(query))


def inbox(
    session: Session,
    firm_id: int,
    status: SuggestionStatus | None = None,
    *,
    viewer: Viewer,
    answerable: bool = False,
) -> list[MatchSuggestion]:
    """The firm's suggestions on demands the viewer may see (a suggestion alone never reveals an
    invited or private demand); with ``answerable``, only those on demands still open or matched
    (a closed demand's suggestions can no longer be answered)."""
    query = (
        select(MatchSuggestion)
        .join(Demand, Demand.id == MatchSuggestion.demand_id)
        .where(MatchSuggestion.firm_id == firm_id, visible_demands_clause(viewer))
        .options(selectinload(MatchSuggestion.demand))
        .order_by(MatchSuggestion.score.desc())
    )
    if status is not None:
        query = query.where(MatchSuggestion.status == status)
    if answerable:
        query = query.where(Demand.status.in_((DemandStatus.OPEN, DemandStatus.MATCHED)))
    return list(session.scalars(query))


def suggestion_dict(s: MatchSuggestion, locale: str = "zh") -> dict[str, Any]:
    """A suggestion as JSON: ``reasons`` rendered in ``locale``, ``reason_data`` as stored."""
    return {
        "suggestion_id": s.id,
        "demand_id": s.demand_id,
        "firm_id": s.firm_id,
        "firm": s.firm.display_name if s.firm else None,
        "score": round(s.score, 4),
        "rank": s.rank,
        "reasons": why.render_all(s.reasons, locale),
        "reason_data": [r if isinstance(r, dict) else why.legacy(str(r)) for r in s.reasons or []],
        "status": s.status.value,
        "owner_action": s.owner_action.value if s.owner_action else "none",
    }
