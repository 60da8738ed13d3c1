"""Organizer dashboard: demands by type and status, the suggestion funnel, unmet industries; CSV;
inviting a colleague into the organization. An organizer sees only what the visibility policy
grants it (public demands, and later its own events' demands), never drafts or private ones."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func, select

from marketplace.accounts.permissions import visible_demands_clause
from marketplace.accounts.users import create_organizer_invitation
from marketplace.exports import csv_text
from marketplace.models import Demand, DemandStatus, DemandType, MatchSuggestion, Role, SuggestionStatus
from marketplace.stats import counts, demand_breakdown, suggestion_funnel, unmet_industries
from web.db import commit, get_db
from web.extensions import current_viewer, require_role
from web.forms import ActionForm
from web.i18n import label
from web.messages import refuse

bp = Blueprint("organizer", __name__, url_prefix="/organizer")


@bp.get("/")
@login_required
def dashboard():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    return _dashboard()


def _dashboard(invitation_link: str | None = None, status: int = 200):  # noqa: ANN202
    db = get_db()
    viewer = current_viewer()
    breakdown = demand_breakdown(db, viewer)
    page = render_template(
        "organizer/dashboard.html",
        stats=counts(db, viewer),
        by_type={label(DemandType(k)): v for k, v in breakdown["by_type"].items()},
        by_status={label(DemandStatus(k)): v for k, v in breakdown["by_status"].items()},
        funnel=suggestion_funnel(db, viewer),
        unmet=unmet_industries(db, viewer=viewer),
        can_invite=viewer.is_organizer,
        invitation_link=invitation_link,
        action_form=ActionForm(),
    )
    return page, status


@bp.post("/invite")
@login_required
def invite():  # noqa: ANN201
    """A single-use link for a colleague to join this organizer's organization."""
    require_role(Role.ORGANIZER)
    viewer = current_viewer()
    if not viewer.is_organizer or not ActionForm().validate_on_submit():
        abort(403 if not viewer.is_organizer else 400)
    result, error = commit(lambda: create_organizer_invitation(get_db(), viewer))
    if error:
        refuse(error)
    return _dashboard(request.host_url.rstrip("/") + url_for("auth.join_organization", token=result[0]), 201)


@bp.get("/export.csv")
@login_required
def export_csv():  # noqa: ANN201
    """Demands the organizer may see, with their suggestion counts; headers, types and statuses in
    the reader's language; cells are formula-safe."""
    require_role(Role.ORGANIZER)
    db = get_db()
    per_demand: dict[int, dict[SuggestionStatus, int]] = {}
    query = (
        select(MatchSuggestion.demand_id, MatchSuggestion.status, func.count())
        .join(Demand, Demand.id == MatchSuggestion.demand_id)
        .where(visible_demands_clause(current_viewer()))
        .group_by(MatchSuggestion.demand_id, MatchSuggestion.status)
    )
    for demand_id, status, n in db.execute(query):
        per_demand.setdefault(demand_id, {})[status] = n
    rows = []
    for demand in db.scalars(select(Demand).where(visible_demands_clause(current_viewer())).order_by(Demand.id)):
        tally = per_demand.get(demand.id, {})
        contacted = tally.get(SuggestionStatus.CONTACTED, 0)
        rows.append(
            [
                demand.id,
                demand.title,
                label(demand.type),
                label(demand.status),
                demand.owner.name,
                sum(tally.values()),
                tally.get(SuggestionStatus.ACCEPTED, 0) + contacted,
                contacted,
                demand.created_at.isoformat(timespec="seconds"),
            ]
        )
    header = [
        _("需求编号"),
        _("需求标题"),
        _("需求类型"),
        _("状态"),
        _("发布企业"),
        _("推荐企业数"),
        _("已接受"),
        _("已联系"),
        _("创建时间（UTC）"),
    ]
    return Response(
        csv_text(header, rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=chainmatch-demands.csv"},
    )
