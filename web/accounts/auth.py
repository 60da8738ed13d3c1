"""Sign-up, sign-in, sign-out, API tokens (list, create, revoke) and organizer invitation links.

Sign-in and sign-up are rate-limited and answer neutrally: neither tells whether an e-mail is
registered. Sign-in starts a fresh session (``session.clear()``) and only follows local
``next=`` paths.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from marketplace.accounts.users import (
    accept_organizer_invitation,
    authenticate,
    create_api_token,
    end_sessions,
    list_api_tokens,
    open_organizer_invitation,
    register_firm_user,
    revoke_api_token,
)
from marketplace.models import Role, User, utcnow
from web.accounts import reveals
from web.db import commit, get_db
from web.errors import error_status
from web.extensions import LoginUser, limit
from web.forms import ActionForm, InvitationAcceptForm, LoginForm, RegisterForm, TokenForm, apply_error
from web.messages import localized, refuse

bp = Blueprint("auth", __name__, url_prefix="/auth")


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the home page. Refuses absolute URLs,
    scheme-relative ``//host`` and the ``/\\host`` form browsers read as ``//host``."""
    fallback = url_for("main.index")
    if not target or not target.startswith("/") or "\\" in target or target.startswith("//"):
        return fallback
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return fallback
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else fallback


def same_site_referrer() -> str | None:
    """The page the browser came from, as a path on this site; None when it came from elsewhere
    (or says nothing), so that "back" links and redirects never leave the site."""
    referrer = request.referrer or ""
    if not referrer.startswith(request.host_url):
        return None
    back = "/" + referrer[len(request.host_url) :]
    return back if safe_next(back) == back else None


@bp.route("/login", methods=["GET", "POST"])
@limit("RATELIMIT_SIGN_IN", methods=["POST"])
def login():  # noqa: ANN201
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(get_db(), form.email.data, form.password.data)
        if user is None:
            form.form_errors.append(_("邮箱或密码不正确"))
        else:
            target = safe_next(request.args.get("next"))
            _fresh_session()  # no state from before sign-in survives it (session fixation)
            login_user(LoginUser(user))
            flash(_("欢迎回来，%(name)s", name=user.name), "success")
            return redirect(target)
    return render_template("auth/login.html", form=form), 200 if not form.errors and not form.form_errors else 400


@bp.route("/register", methods=["GET", "POST"])
@limit("RATELIMIT_SIGN_UP", methods=["POST"])
def register():  # noqa: ANN201
    """Sign-up ends on the sign-in page with the same message whether or not the e-mail was
    already registered (no account enumeration)."""
    form = RegisterForm()
    if form.validate_on_submit():
        _user, error = commit(
            lambda: register_firm_user(
                get_db(),
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                role=Role(form.role.data),
                firm_name=form.firm_name.data,
                join=form.firm_choice.data == "join",
            )
        )
        if error:
            apply_error(form, error)
        else:
            done = _("注册申请已处理：如该邮箱可用，账号已创建，请登录。加入已有企业需等待该企业管理员批准。")
            flash(done, "success")
            return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form), status


def _fresh_session() -> None:
    """An empty session that keeps only the reader's language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.post("/logout")
@login_required
def logout():  # noqa: ANN201
    if ActionForm().validate_on_submit():
        db = get_db()
        user = db.get(User, current_user.id)
        if user is not None:
            _done, error = commit(lambda: end_sessions(db, user))  # a copied session cookie ends too
            if error:
                refuse(error)
        logout_user()
        _fresh_session()
    return redirect(url_for("main.index"))


@bp.route("/token", methods=["GET"])
@login_required
def token():  # noqa: ANN201
    """The user's API tokens: names, expiry, last use; create and revoke. A token just created is
    shown here once (:func:`create_token` keeps it on the server for this one view, never in the
    session cookie, which is signed but readable)."""
    new_token = reveals.take(current_user.id)
    if new_token is reveals.LOST:
        flash(_("新令牌已生成，但已无法再次显示；如未记下，请吊销它并重新生成。"), "error")
        new_token = None
    return _token_page(TokenForm(), new_token)


@bp.post("/token")
@login_required
@limit("RATELIMIT_TOKENS")
def create_token():  # noqa: ANN201
    form = TokenForm()
    if not form.validate_on_submit():
        return _token_page(form, None, 400)
    db = get_db()
    user = db.get(User, current_user.id)
    result, error = commit(lambda: create_api_token(db, user, form.name.data, int(form.expires_in_days.data)))
    if error:
        apply_error(form, error)
        return _token_page(form, None, error_status(error))
    # post/redirect/get: a reload of the page that shows the token does not post again (a second
    # token); the token waits on the server for that one view, only a random id in the session
    reveals.keep(user.id, result[0])
    return redirect(url_for("auth.token"), 303)


@bp.post("/token/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):  # noqa: ANN201
    if not ActionForm().validate_on_submit():
        abort(400)
    _row, error = commit(lambda: revoke_api_token(get_db(), current_user.id, token_id))
    if error:
        refuse(error)
    flash(_("令牌已吊销"), "success")
    return redirect(url_for("auth.token"))


def _token_page(form: TokenForm, new_token: str | None, status: int = 200):  # noqa: ANN202
    tokens = list_api_tokens(get_db(), current_user.id)
    page = render_template(
        "auth/token.html", form=form, token=new_token, tokens=tokens, action_form=ActionForm(), now=utcnow()
    )
    return page, status, {"Cache-Control": "no-store"}  # a new token's secret stays out of every cache


@bp.route("/join/<token>", methods=["GET", "POST"])
@limit("RATELIMIT_SIGN_UP", methods=["POST"])
def join_organization(token: str):  # noqa: ANN201
    """An invitation link from an organizer: create an organizer account in that organization."""
    db = get_db()
    invitation, error = commit(lambda: open_organizer_invitation(db, token))
    if error:
        abort(404, description=localized(error))
    form = InvitationAcceptForm()
    if form.validate_on_submit():
        user, error = commit(
            lambda: accept_organizer_invitation(
                db, token, email=form.email.data, password=form.password.data, name=form.name.data
            )
        )
        if error:
            apply_error(form, error)
            return render_template("auth/join.html", form=form, organization=invitation.organization), error_status(
                error
            )
        flash(_("组织方账号已创建，请登录"), "success")
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/join.html", form=form, organization=invitation.organization), status
