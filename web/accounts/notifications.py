"""The signed-in user's notifications: list them, mark them read."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from marketplace.accounts.notifications import mark_read, notifications_for, unread_count
from web.db import get_db
from web.forms import ActionForm

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.app_context_processor
def unread_notifications() -> dict[str, int]:
    """The unread count for the navigation bar (0 when nobody is signed in)."""
    if not current_user.is_authenticated:
        return {"unread_notifications": 0}
    return {"unread_notifications": unread_count(get_db(), current_user.id)}


@bp.get("/")
@login_required
def show():  # noqa: ANN201
    rows = notifications_for(get_db(), current_user.id)
    return render_template("notifications/list.html", notifications=rows, form=ActionForm())


@bp.post("/read")
@bp.post("/<int:notification_id>/read")
@login_required
def read(notification_id: int | None = None):  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    db = get_db()
    mark_read(db, current_user.id, notification_id)
    db.commit()
    return redirect(url_for("notifications.show"))
