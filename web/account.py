"""The signed-in user's account: password change, and (for a firm's admin users) approving or
rejecting requests to join the firm."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from marketplace.models import User
from marketplace.services.accounts import change_password, decide_membership, pending_members
from web.db import commit, get_db
from web.extensions import LoginUser, current_viewer
from web.forms import ActionForm, PasswordChangeForm, apply_error
from web.messages import refuse

bp = Blueprint("account", __name__, url_prefix="/account")
DECISIONS = {"approve": True, "reject": False}


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():  # noqa: ANN201
    form = PasswordChangeForm()
    if form.validate_on_submit():
        db = get_db()
        user = db.get(User, current_user.id)
        _user, error = commit(lambda: change_password(db, user, form.current_password.data, form.new_password.data))
        if error:
            apply_error(form, error)
        else:
            login_user(LoginUser(user))  # this session goes on; every other one ended with the old password
            flash(_("密码已修改，其他设备上的登录已退出"), "success")
            return redirect(url_for("account.password"))
    status = 400 if request.method == "POST" else 200
    return render_template("account/password.html", form=form), status


@bp.get("/members")
@login_required
def members():  # noqa: ANN201
    """Pending requests to join the firm (a firm admin's page; the platform admin sees all)."""
    viewer = current_viewer()
    if not (viewer.is_admin or (viewer.firm_id is not None and current_user.is_firm_admin)):
        abort(403)
    rows = pending_members(get_db(), viewer)
    return render_template("account/members.html", requests=rows, form=ActionForm())


@bp.post("/members/<int:user_id>/<decision>")
@login_required
def decide(user_id: int, decision: str):  # noqa: ANN201
    if decision not in DECISIONS or not ActionForm().validate_on_submit():
        abort(400)
    _user, error = commit(lambda: decide_membership(get_db(), current_viewer(), user_id, DECISIONS[decision]))
    if error:
        refuse(error)
    flash(_("已处理加入申请"), "success")
    return redirect(url_for("account.members"))
