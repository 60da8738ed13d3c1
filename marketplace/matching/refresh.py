"""Matching stored demands and firms: runs the engine and keeps MatchSuggestions up to date.
Only an open or matched demand is matched (:func:`require_matchable`), whoever asks: web, API or CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from marketplace.accounts.permissions import firm_viewer
from marketplace.demands.suggestions import Candidate, save_suggestions, upsert_suggestion
from marketplace.demands.workflow import MATCHABLE, list_demands
from marketplace.errors import ConflictError, msg
from marketplace.matching import reasons as why
from marketplace.matching.engine import Filters, MatchEngine, MatchResult
from marketplace.models import Demand, DemandStatus

INBOX_POOL = 300
INBOX_MAX_DEMANDS = 500  # one refresh matches at most this many (the newest visible open) demands


def require_matchable(demand: Demand) -> None:
    """Refuse to match a demand that is not open or matched (a draft, a closed or a withdrawn one):
    a ConflictError naming its status (409 on the web, exit code 2 on the CLI)."""
    if demand.status not in MATCHABLE:
        raise ConflictError(
            msg("a %(status)s demand is not matched; publish it first", status=demand.status), field="status"
        )


def match_demand(
    session: Session,
    engine: MatchEngine,
    demand: Demand,
    *,
    top_k: int = 20,
    filters: Filters | None = None,
    channels: list[str] | None = None,
    save: bool = True,
) -> list[MatchResult]:
    """Rank firms for a stored demand (never its owner) and upsert them as suggestions; a demand
    that is not open or matched is refused (:func:`require_matchable`)."""
    require_matchable(demand)
    results = engine.match(
        demand.match_text(),
        demand.type,
        top_k=top_k,
        filters=filters,
        exclude=[demand.owner_firm_id],
        channels=channels,
        region_preference=demand.region_preference,
    )
    if save:
        save_suggestions(session, demand, [Candidate(r.firm_id, r.score, r.reasons) for r in results])
    return results


def suggest_demands(
    session: Session,
    engine: MatchEngine,
    firm_id: int,
    *,
    top_k: int = 10,
    save: bool = False,
    max_demands: int = INBOX_MAX_DEMANDS,
    locale: str = "zh",
) -> list[dict[str, Any]]:
    """Open demands ranked for one firm, among those the firm may see (never invited-only or
    private demands it was not invited to): each demand is matched as usual and the firm's
    fused score in that demand's ranking decides the order (so both directions agree). Bounded
    to the newest ``max_demands`` visible open demands."""
    rows = []
    visible = list_demands(session, status=DemandStatus.OPEN, viewer=firm_viewer(firm_id), limit=max_demands)
    for demand in visible:
        if demand.owner_firm_id == firm_id:
            continue
        results = engine.match(
            demand.match_text(),
            demand.type,
            top_k=INBOX_POOL,
            exclude=[demand.owner_firm_id],
            region_preference=demand.region_preference,
        )
        rank, hit = next(((i, r) for i, r in enumerate(results, start=1) if r.firm_id == firm_id), (0, None))
        if hit is None:
            continue
        rows.append((demand, hit, rank))
    rows.sort(key=lambda row: (-row[1].score, row[0].id))
    rows = rows[:top_k]
    if save:
        for demand, hit, rank in rows:
            upsert_suggestion(session, demand, Candidate(firm_id, hit.score, hit.reasons), rank)
        session.flush()
    return [
        {
            "demand_id": d.id,
            "title": d.title,
            "type": d.type.value,
            "owner": d.owner.display_name if d.owner else None,
            "score": round(h.score, 6),
            "reasons": why.render_all(h.reasons, locale),
            "reason_data": h.reasons,
        }
        for d, h, _ in rows
    ]
