"""The firm's inbox: demands suggested to it, with reasons; accept or decline."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.models import DemandStatus, SuggestionStatus
from marketplace.services.matching import suggest_demands
from marketplace.services.suggestions import get_suggestion, inbox, respond_and_follow_up
from web import label
from web.db import commit, get_db
from web.engine import get_engine
from web.forms import ActionForm

bp = Blueprint("suggestions", __name__, url_prefix="/inbox")
ANSWERS = {"accept": SuggestionStatus.ACCEPTED, "decline": SuggestionStatus.DECLINED}


def _firm_id() -> int:
    if current_user.firm_id is None:
        abort(403)
    return current_user.firm_id


@bp.get("/")
@login_required
def show():  # noqa: ANN201
    rows = [s for s in inbox(get_db(), _firm_id()) if s.demand.status in (DemandStatus.OPEN, DemandStatus.MATCHED)]
    return render_template("suggestions/inbox.html", suggestions=rows, form=ActionForm())


@bp.post("/refresh")
@login_required
def refresh():  # noqa: ANN201
    firm_id = _firm_id()
    if not ActionForm().validate_on_submit():
        abort(400)
    db = get_db()
    found = suggest_demands(db, get_engine(), firm_id, top_k=20, save=True)
    db.commit()
    flash(_("找到 %(n)d 条匹配的需求", n=len(found)), "success")
    return redirect(url_for("suggestions.show"))


@bp.post("/<int:suggestion_id>/<answer>")
@login_required
def answer(suggestion_id: int, answer: str):  # noqa: ANN201
    firm_id = _firm_id()
    if answer not in ANSWERS or not ActionForm().validate_on_submit():
        abort(400)
    db = get_db()
    suggestion = get_suggestion(db, suggestion_id)
    if suggestion.firm_id != firm_id:
        abort(403)
    _result, error = commit(lambda: respond_and_follow_up(db, suggestion, ANSWERS[answer]))
    if error:
        flash(str(error), "error")
    else:
        flash(_("已回复：%(status)s", status=label(suggestion.status)), "success")
    return redirect(url_for("suggestions.show"))
