"""Who may see and change what: the one visibility policy for demands, and the permission checks
built on it. Every page, the inbox, matching-for-firms, the JSON API, the CSV export and the
dashboard counts ask this module; none re-implements the rule.

The policy is a SQL WHERE clause (:func:`visible_demands_clause`) so lists filter in the
database; :func:`can_view_demand` runs that same clause for one demand, so single checks and
lists cannot drift apart.

Rules (docs/security.md explains them):

* a draft is seen only by its owner firm's active members and the platform admin;
* a published (non-draft) *public* demand is seen by everyone, signed in or not;
* an *invited* demand by the owner firm and by firms the owner invited (a DemandInvitation row);
* a *private* demand only by the owner firm;
* the platform admin sees everything.

* the organizing organization and the approved participants of an event see the public and
  invited demands on the event's board (:func:`demand_ids_visible_via_events`).

New grants go in :func:`_grants`, one OR-clause each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from marketplace.models import (
    Demand,
    DemandInvitation,
    DemandStatus,
    Event,
    EventDemand,
    EventRegistration,
    MatchSuggestion,
    Membership,
    RegistrationStatus,
    Role,
    User,
    Visibility,
)


@dataclass(frozen=True)
class Viewer:
    """Who is asking: built from a signed-in user, an API token's user, or nobody."""

    user_id: int | None = None
    role: Role | None = None
    firm_id: int | None = None  # only when the user is an approved (active) member of the firm
    organization_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_organizer(self) -> bool:
        return self.role is Role.ORGANIZER and self.organization_id is not None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Viewer()


def viewer_of(user: Any) -> Viewer:
    """The Viewer for a User row, a Flask-Login user (signed in or anonymous) or None."""
    if user is None or not getattr(user, "is_authenticated", True) or getattr(user, "id", None) is None:
        return ANONYMOUS
    role = Role(user.role)
    membership = getattr(user, "membership", Membership.ACTIVE)
    firm_id = user.firm_id if role in (Role.LARGE, Role.SME) and membership == Membership.ACTIVE else None
    org_id = user.organization_id if role is Role.ORGANIZER else None
    return Viewer(user_id=user.id, role=role, firm_id=firm_id, organization_id=org_id)


def acts_for_firms(firm_ids: Iterable[int]) -> ColumnElement[bool]:
    """WHERE clause over ``User``: the accounts that act for these firms, as :func:`viewer_of`
    decides — active firm accounts whose membership is approved. A pending or refused request to
    join acts for no firm: it gets none of the firm's notifications and is offered for no role."""
    return and_(
        User.firm_id.in_(list(firm_ids)),
        User.role.in_([Role.LARGE, Role.SME]),
        User.is_active.is_(True),
        User.membership == Membership.ACTIVE,
    )


def acting_user_ids(session: Session, firm_ids: Iterable[int]) -> list[int]:
    """The ids of the accounts that act for these firms (:func:`acts_for_firms`): whom the firms'
    notices go to."""
    ids = list(set(firm_ids))
    if not ids:
        return []
    return list(session.scalars(select(User.id).where(acts_for_firms(ids))))


def firm_viewer(firm_id: int) -> Viewer:
    """What a firm as such may see (matching-for-firms ranks only these demands)."""
    return Viewer(user_id=-1, role=Role.SME, firm_id=firm_id)


def _invited(firm_id: int) -> ColumnElement[bool]:
    return exists().where(DemandInvitation.demand_id == Demand.id, DemandInvitation.firm_id == firm_id)


def demand_ids_visible_via_events(viewer: Any) -> Select:
    """Ids of demands the viewer may see because they are part of an event: the event's organizer
    and its approved participants see every demand on that event's board (a grant of the demand
    visibility policy, :func:`_grants`)."""
    viewer = viewer if isinstance(viewer, Viewer) else viewer_of(viewer)
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


def _grants(viewer: Viewer) -> list[ColumnElement[bool]]:
    """Every way a viewer may see a demand, OR-ed together. Add new grants here (events)."""
    published = Demand.status != DemandStatus.DRAFT
    grants: list[ColumnElement[bool]] = [and_(published, Demand.visibility == Visibility.PUBLIC)]
    if viewer.firm_id is not None:
        grants.append(Demand.owner_firm_id == viewer.firm_id)
        grants.append(and_(published, Demand.visibility == Visibility.INVITED, _invited(viewer.firm_id)))
    # Events: the organizing organization and the event's approved participants see the public and
    # invited demands on the event's board ("invited by an event"); never drafts or private ones.
    grants.append(
        and_(
            published,
            Demand.visibility.in_([Visibility.PUBLIC, Visibility.INVITED]),
            Demand.id.in_(demand_ids_visible_via_events(viewer)),
        )
    )
    return grants


def organization_viewer(organization_id: int) -> Viewer:
    """What an organization's organizers see (event boards and invitee suggestions use it)."""
    return Viewer(user_id=-1, role=Role.ORGANIZER, organization_id=organization_id)


def visible_demands_clause(viewer: Viewer) -> ColumnElement[bool]:
    """WHERE clause over ``Demand``: the demands this viewer may see."""
    if viewer.is_admin:
        return true()
    return or_(*_grants(viewer))


def visible_demand_ids(viewer: Viewer):  # noqa: ANN201 - a Select of ids, for IN (...) filters
    return select(Demand.id).where(visible_demands_clause(viewer))


def can_view_demand(session: Session, viewer: Viewer, demand: Demand | int) -> bool:
    """The same rule as the lists, evaluated in the database for one demand."""
    demand_id = demand if isinstance(demand, int) else demand.id
    return session.scalar(select(Demand.id).where(Demand.id == demand_id, visible_demands_clause(viewer))) is not None


def can_edit_demand(viewer: Viewer, demand: Demand) -> bool:
    """Edit, publish, close, match and act on candidates: the owner firm's active members and admin."""
    return viewer.is_admin or (viewer.firm_id is not None and viewer.firm_id == demand.owner_firm_id)


def can_answer_suggestion(session: Session, viewer: Viewer, suggestion: MatchSuggestion) -> bool:
    """The suggested firm answers, and only while it may see the demand."""
    return (
        viewer.firm_id is not None
        and suggestion.firm_id == viewer.firm_id
        and can_view_demand(session, viewer, suggestion.demand_id)
    )


def visible_suggestions_clause(viewer: Viewer) -> ColumnElement[bool]:
    """WHERE clause over ``MatchSuggestion`` for aggregates (dashboard funnel): suggestions on
    demands the viewer may see."""
    return MatchSuggestion.demand_id.in_(visible_demand_ids(viewer))
