"""The firm's inbox: demands suggested to it, with reasons; accept or decline.

Only suggestions on demands the firm may see are listed or answerable (a suggestion row alone
never reveals an invited or private demand). A refresh is rate-limited, runs at most once per
firm at a time and at most once per ``INBOX_REFRESH_INTERVAL`` seconds per firm.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.accounts.permissions import can_answer_suggestion, can_edit_demand
from marketplace.demands.suggestions import inbox, respond_and_follow_up
from marketplace.matching.refresh import suggest_demands
from marketplace.models import MatchSuggestion, SuggestionStatus
from web.db import commit, get_db
from web.extensions import current_viewer, limit
from web.forms import ActionForm
from web.i18n import label
from web.matching_engine import get_engine, heavy_work
from web.messages import refuse

bp = Blueprint("suggestions", __name__, url_prefix="/inbox")
ANSWERS = {"accept": SuggestionStatus.ACCEPTED, "decline": SuggestionStatus.DECLINED}
_last_refresh: dict[tuple[int, int], float] = {}  # (app id, firm id) -> monotonic time of the last refresh
_last_lock = threading.Lock()


def _firm_id() -> int:
    if current_user.firm_id is None:
        abort(403)
    return current_user.firm_id


@bp.get("/")
@login_required
def show():  # noqa: ANN201
    firm_id = _firm_id()
    rows = inbox(get_db(), firm_id, viewer=current_viewer(), answerable=True)
    return render_template("suggestions/inbox.html", suggestions=rows, form=ActionForm())


def _debounce(firm_id: int) -> None:
    """429 when this firm refreshed less than INBOX_REFRESH_INTERVAL seconds ago."""
    interval = float(current_app.config.get("INBOX_REFRESH_INTERVAL", 30.0))
    key = (id(current_app._get_current_object()), firm_id)  # type: ignore[attr-defined]
    now = time.monotonic()
    with _last_lock:
        last = _last_refresh.get(key)
        if last is not None and now - last < interval:
            wait = int(interval - (now - last)) + 1
            abort(
                429,
                description=_("刚刚刷新过，请 %(n)d 秒后再试", n=wait),
            )
        _last_refresh[key] = now


@bp.post("/refresh")
@login_required
@limit("RATELIMIT_MATCH")
def refresh():  # noqa: ANN201
    firm_id = _firm_id()
    if not ActionForm().validate_on_submit():
        abort(400)
    engine = get_engine()  # 503 while it warms up, before the debounce counts this refresh
    _debounce(firm_id)
    db = get_db()
    with heavy_work(f"inbox-{firm_id}"):
        found = suggest_demands(db, engine, firm_id, top_k=20, save=True)
        db.commit()
    flash(_("找到 %(n)d 条匹配的需求", n=len(found)), "success")
    return redirect(url_for("suggestions.show"))


@bp.post("/<int:suggestion_id>/<answer>")
@login_required
def answer(suggestion_id: int, answer: str):  # noqa: ANN201
    _firm_id()
    if answer not in ANSWERS or not ActionForm().validate_on_submit():
        abort(400)
    db = get_db()
    suggestion = db.get(MatchSuggestion, suggestion_id)
    viewer = current_viewer()
    if suggestion is None or not can_answer_suggestion(db, viewer, suggestion):
        # the demand's managers see its suggestions but do not answer them (403); to anyone else, the
        # suggested firm included once it may no longer see the demand, it does not exist (404)
        abort(403 if suggestion is not None and can_edit_demand(viewer, suggestion.demand) else 404)
    _result, error = commit(lambda: respond_and_follow_up(db, suggestion, ANSWERS[answer]))
    if error:
        refuse(error)
    flash(_("已回复：%(status)s", status=label(suggestion.status)), "success")
    return redirect(url_for("suggestions.show"))
