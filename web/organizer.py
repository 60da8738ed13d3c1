"""Organizer dashboard: demands by type and status, the suggestion funnel, unmet industries; CSV."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, render_template
from flask_login import login_required
from sqlalchemy import select

from marketplace.models import Demand, DemandStatus, DemandType, MatchSuggestion, Role, SuggestionStatus
from marketplace.services.stats import counts, demand_breakdown, suggestion_funnel, unmet_industries
from web import label
from web.db import get_db
from web.extensions import require_role

bp = Blueprint("organizer", __name__, url_prefix="/organizer")


@bp.get("/")
@login_required
def dashboard():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    db = get_db()
    breakdown = demand_breakdown(db)
    return render_template(
        "organizer/dashboard.html",
        stats=counts(db),
        by_type={label(DemandType(k)): v for k, v in breakdown["by_type"].items()},
        by_status={label(DemandStatus(k)): v for k, v in breakdown["by_status"].items()},
        funnel=suggestion_funnel(db),
        unmet=unmet_industries(db),
    )


@bp.get("/export.csv")
@login_required
def export_csv():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    db = get_db()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["demand_id", "title", "type", "status", "owner", "suggestions", "accepted", "contacted", "created_at"]
    )
    for demand in db.scalars(select(Demand).order_by(Demand.id)):
        statuses = list(db.scalars(select(MatchSuggestion.status).where(MatchSuggestion.demand_id == demand.id)))
        contacted = statuses.count(SuggestionStatus.CONTACTED)
        writer.writerow(
            [
                demand.id,
                demand.title,
                demand.type.value,
                demand.status.value,
                demand.owner.name,
                len(statuses),
                statuses.count(SuggestionStatus.ACCEPTED) + contacted,
                contacted,
                demand.created_at.isoformat(timespec="seconds"),
            ]
        )
    body = "\ufeff" + out.getvalue()  # BOM so spreadsheet programs read the Chinese as UTF-8
    return Response(
        body,
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=chainmatch-demands.csv"},
    )
