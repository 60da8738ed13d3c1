"""Sign-up, sign-in, sign-out and the API token page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from marketplace.models import Role, User
from marketplace.services.accounts import authenticate, create_user, issue_api_token
from web.db import commit, get_db
from web.extensions import LoginUser
from web.forms import ActionForm, LoginForm, RegisterForm, apply_error

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(get_db(), form.email.data, form.password.data)
        if user is None:
            form.form_errors.append(_("邮箱或密码不正确"))
        else:
            login_user(LoginUser(user))
            flash(_("欢迎回来，%(name)s", name=user.name), "success")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 200 if not form.errors and not form.form_errors else 400


@bp.route("/register", methods=["GET", "POST"])
def register():  # noqa: ANN201
    form = RegisterForm()
    if form.validate_on_submit():
        user, error = commit(
            lambda: create_user(
                get_db(),
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                role=Role(form.role.data),
                firm_name=form.firm_name.data,
                organization_name=form.organization_name.data,
            )
        )
        if error:
            apply_error(form, error)
        else:
            login_user(LoginUser(user))
            flash(_("注册成功"), "success")
            return redirect(url_for("main.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form), status


@bp.post("/logout")
@login_required
def logout():  # noqa: ANN201
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("main.index"))


@bp.route("/token", methods=["GET", "POST"])
@login_required
def token():  # noqa: ANN201
    form = ActionForm()
    new_token = None
    if form.validate_on_submit():
        db = get_db()
        new_token = issue_api_token(db, db.get(User, current_user.id))
        db.commit()
    return render_template("auth/token.html", form=form, token=new_token)
