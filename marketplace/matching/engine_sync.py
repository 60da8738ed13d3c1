"""Keeps each process's in-memory matching engine in step with the database.

Every server process builds its own :class:`~marketplace.matching.engine.MatchEngine` (profiles, BM25,
vector index, networkx graph). A profile edit is written to the database by whichever process
served it; the others learn of it from the firms table: :func:`data_version` is the newest
``firms.updated_at`` and the number of firms (a cheap indexed aggregate), and
:func:`firms_changed_since` names the firms to write through to the graph. The web layer checks
the version at most every few seconds and refreshes its engine in the background when it moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.models import Firm


@dataclass(frozen=True)
class DataVersion:
    """What the engine was built from: the newest firm change and the number of firms."""

    firms_changed_at: datetime | None
    firms: int


def data_version(session: Session) -> DataVersion:
    changed_at, count = session.execute(select(func.max(Firm.updated_at), func.count(Firm.id))).one()
    return DataVersion(changed_at, count or 0)


def firms_changed_since(session: Session, since: DataVersion | None) -> list[int]:
    """Firms added or edited after ``since`` (all firms when there is no earlier version)."""
    query = select(Firm.id).order_by(Firm.id)
    if since is not None and since.firms_changed_at is not None:
        query = query.where(Firm.updated_at >= since.firms_changed_at)
    return list(session.scalars(query))
