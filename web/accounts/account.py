"""The signed-in user's account: password change, and (for a firm's admin users and the platform
admin) the firm's members: approving or rejecting requests to join, removing a member, making one
firm admin or stepping down. Who may do it is one rule, ``can_manage_members`` in
marketplace/accounts/users.py."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from marketplace.accounts.users import (
    can_manage_members,
    change_password,
    decide_membership,
    firm_members,
    pending_members,
    remove_member,
    set_firm_admin,
)
from marketplace.models import User
from web.db import commit, get_db
from web.extensions import LoginUser, current_viewer
from web.forms import ActionForm, PasswordChangeForm, apply_error
from web.messages import refuse

bp = Blueprint("account", __name__, url_prefix="/account")
DECISIONS = {"approve": True, "reject": False}
ADMIN_ACTIONS = {"grant": True, "revoke": False}


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
    """The firm's active members and its pending requests to join (a firm admin's page; the
    platform admin sees every firm's)."""
    viewer = current_viewer()
    db = get_db()
    if not (viewer.is_admin or (viewer.firm_id is not None and can_manage_members(db, viewer, viewer.firm_id))):
        abort(403)
    return render_template(
        "account/members.html",
        members=firm_members(db, viewer),
        requests=pending_members(db, viewer),
        form=ActionForm(),
        all_firms=viewer.is_admin,
    )


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


@bp.post("/members/<int:user_id>/remove")
@login_required
def remove(user_id: int):  # noqa: ANN201
    """End a member's membership of the firm (their sessions end; the account stays)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    viewer = current_viewer()
    user, error = commit(lambda: remove_member(get_db(), viewer, user_id))
    if error:
        refuse(error)
    if user.id == viewer.user_id:  # an admin who left the firm: this session has ended too
        flash(_("您已退出该企业"), "success")
        return redirect(url_for("main.index"))
    flash(_("已将 %(name)s 移出企业", name=user.name), "success")
    return redirect(url_for("account.members"))


@bp.post("/members/<int:user_id>/admin/<action>")
@login_required
def firm_admin(user_id: int, action: str):  # noqa: ANN201
    """Make a member firm admin (``grant``) or end their admin role (``revoke``; stepping down when
    it is one's own)."""
    if action not in ADMIN_ACTIONS or not ActionForm().validate_on_submit():
        abort(400)
    viewer = current_viewer()
    user, error = commit(lambda: set_firm_admin(get_db(), viewer, user_id, ADMIN_ACTIONS[action]))
    if error:
        refuse(error)
    if user.is_firm_admin:
        flash(_("已将 %(name)s 设为企业管理员", name=user.name), "success")
    elif user.id == viewer.user_id:
        flash(_("您已卸任企业管理员"), "success")
        return redirect(url_for("main.index"))  # the members page is the admins' page
    else:
        flash(_("已取消 %(name)s 的企业管理员身份", name=user.name), "success")
    return redirect(url_for("account.members"))
