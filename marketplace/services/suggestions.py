"""Match suggestions: storing ranked candidates without duplicates, and the SME's answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from marketplace import reasons as why
from marketplace.errors import NotFoundError, TransitionError
from marketplace.models import Demand, DemandStatus, MatchSuggestion, OwnerAction, SuggestionStatus


@dataclass(frozen=True)
class Candidate:
    """One ranked firm for a demand, as the matching engine returns it."""

    firm_id: int
    score: float
    reasons: list[why.Reason]  # structured reasons (marketplace/reasons.py)


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
        raise NotFoundError(f"suggestion {suggestion_id} does not exist", field="suggestion_id")
    return suggestion


def respond(session: Session, suggestion: MatchSuggestion, status: SuggestionStatus) -> MatchSuggestion:
    """The suggested firm accepts or declines; an accepted suggestion can be marked contacted.
    The first acceptance moves an open demand to matched."""
    suggestion.transition(status)
    demand = suggestion.demand
    if status is SuggestionStatus.ACCEPTED and demand.status is DemandStatus.OPEN:
        demand.transition(DemandStatus.MATCHED)
    session.flush()
    return suggestion


def owner_act(session: Session, suggestion: MatchSuggestion, action: OwnerAction) -> MatchSuggestion:
    """The demand owner shortlists, invites to talk, or declines a suggested firm. Inviting a firm
    that has accepted marks the pair contacted."""
    if suggestion.owner_action is OwnerAction.REJECTED and action is not OwnerAction.REJECTED:
        raise TransitionError(
            "owner_action: a declined firm cannot be shortlisted or invited again", field="owner_action"
        )
    suggestion.owner_action = action
    if action is OwnerAction.INVITED and suggestion.status is SuggestionStatus.ACCEPTED:
        suggestion.transition(SuggestionStatus.CONTACTED)
    session.flush()
    return suggestion


def respond_and_follow_up(session: Session, suggestion: MatchSuggestion, status: SuggestionStatus) -> MatchSuggestion:
    """The firm answers; if the owner already invited it and it accepts, the pair is contacted."""
    respond(session, suggestion, status)
    if status is SuggestionStatus.ACCEPTED and suggestion.owner_action is OwnerAction.INVITED:
        suggestion.transition(SuggestionStatus.CONTACTED)
        session.flush()
    return suggestion


def suggestions_for_demand(session: Session, demand_id: int) -> list[MatchSuggestion]:
    query = (
        select(MatchSuggestion)
        .where(MatchSuggestion.demand_id == demand_id)
        .options(selectinload(MatchSuggestion.firm))
        .order_by(MatchSuggestion.score.desc())
    )
    return list(session.scalars(query))


def inbox(session: Session, firm_id: int, status: SuggestionStatus | None = None) -> list[MatchSuggestion]:
    query = (
        select(MatchSuggestion)
        .where(MatchSuggestion.firm_id == firm_id)
        .options(selectinload(MatchSuggestion.demand))
        .order_by(MatchSuggestion.score.desc())
    )
    if status is not None:
        query = query.where(MatchSuggestion.status == status)
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
        "reason_data": list(s.reasons or []),
        "status": s.status.value,
        "owner_action": s.owner_action.value if s.owner_action else "none",
    }
