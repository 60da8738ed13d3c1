"""Home page, health checks (liveness /healthz, readiness /readyz) and language switch."""

from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, current_app, jsonify, redirect, render_template, session, url_for
from sqlalchemy import text

from marketplace.accounts.permissions import ANONYMOUS
from marketplace.demands.workflow import list_demands
from marketplace.enterprise.firms import list_firms
from marketplace.models import DemandStatus, FirmKind
from marketplace.stats import catalogue_counts, counts, visible_counts
from web.accounts.auth import same_site_referrer
from web.cache import cached
from web.db import get_db
from web.extensions import current_viewer
from web.i18n import LANGUAGES
from web.matching_engine import WARMING_UP_RETRY_AFTER, engine_status

bp = Blueprint("main", __name__)


@bp.get("/")
def index():  # noqa: ANN201
    db = get_db()
    viewer = current_viewer()
    return render_template(
        "index.html",
        demands=list_demands(db, status=DemandStatus.OPEN, viewer=viewer, limit=12),
        firms=cached("home:large", lambda: _firm_cards(db, FirmKind.LARGE)),
        smes=cached("home:sme", lambda: _firm_cards(db, FirmKind.SME)),
        # the catalogue totals are alike for everyone (cached); what the viewer may see is counted live
        stats={**cached("home:catalogue", lambda: catalogue_counts(db)), **visible_counts(db, viewer)},
    )


def _firm_cards(db, kind: FirmKind) -> list[SimpleNamespace]:  # noqa: ANN001
    """What the home page shows of a firm, as plain values (they outlive the request's session)."""
    return [
        SimpleNamespace(id=f.id, name=f.name, display_name=f.display_name, stock_code=f.stock_code, region=f.region)
        for f in list_firms(db, limit=12, kind=kind)
    ]


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    """Liveness: 200 while the process answers and its database does, the matching engine loading
    or not; the body says whether it is ready (``ready``, ``engine``: loading, ready, failed with
    ``error``, or on_first_use). ``status`` is "degraded" once the engine failed to load."""
    db = get_db()
    db.execute(text("SELECT 1"))
    settings = current_app.extensions["settings"]
    engine = current_app.extensions.get("engine")
    state = engine_status(current_app)
    return jsonify(
        {
            "status": "degraded" if state["engine"] == "failed" else "ok",
            **state,
            "database": "ok",
            "graph_backend": engine.graph.backend
            if engine is not None and engine.graph is not None
            else settings.graph_backend,
            "engine_loaded": engine is not None,
            "counts": counts(db, ANONYMOUS),
        }
    )


@bp.get("/readyz")
def readyz():  # noqa: ANN201
    """Readiness, for a proxy or an orchestrator that routes only to ready servers: 200 once every
    page can be served; 503 while the matching engine loads (with Retry-After) or after it failed."""
    get_db().execute(text("SELECT 1"))
    state = engine_status(current_app)
    if state["ready"]:
        return jsonify({"status": "ok", **state})
    if state["engine"] == "failed":
        return jsonify({"status": "degraded", **state}), 503
    return jsonify({"status": "ok", **state}), 503, {"Retry-After": str(WARMING_UP_RETRY_AFTER)}


@bp.get("/lang/<code>")
def set_language(code: str):  # noqa: ANN201
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(same_site_referrer() or url_for("main.index"))
