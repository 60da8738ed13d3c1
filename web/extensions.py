"""Flask extensions: sign-in (Flask-Login), CSRF (Flask-WTF), translations (Flask-Babel), rate
limits (Flask-Limiter, in-memory per process; limits configurable in the app config)."""

from __future__ import annotations

from collections.abc import Callable

from apiflask import APIBlueprint
from flask import Flask, abort, current_app, request
from flask_babel import Babel, gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from marketplace.accounts.permissions import Viewer, viewer_of
from marketplace.models import Membership, Role, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录后再访问此页面。"  # a msgid: flashed in the reader's language
login_manager.localize_callback = gettext
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(get_remote_address, storage_uri="memory://")


def limit(config_key: str, methods: list[str] | None = None):  # noqa: ANN201 - a Flask-Limiter decorator
    """Rate-limit a view with the limit string in ``app.config[config_key]`` (e.g. "10/minute"),
    counting only ``methods`` when given (sign-in counts attempts, not page views)."""
    return limiter.limit(lambda: current_app.config[config_key], methods=methods)


def api_blueprint(name: str, import_name: str, url_prefix: str, tag: str) -> APIBlueprint:
    """A blueprint of the JSON API under ``/api/v1``: CSRF-exempt (it authenticates by bearer
    token or session and answers JSON) and counted in the one API rate limit
    (``app.config["RATELIMIT_API"]``) that every API blueprint shares per client address."""
    bp = APIBlueprint(name, import_name, url_prefix=url_prefix, tag=tag)
    csrf.exempt(bp)
    limiter.shared_limit(lambda: current_app.config["RATELIMIT_API"], scope="api")(bp)
    return bp


def retry_after() -> str:
    """The ``Retry-After`` of a 429: whole seconds until the breached limit's window resets (at
    least 1)."""
    import time

    breached = limiter.current_limit
    wait = breached.reset_at - time.time() if breached is not None else 1
    return str(max(1, int(wait)))  # as Flask-Limiter counts it (reset_at is a whole second)


class LoginUser:
    """Adapter that gives Flask-Login what it needs without binding the ORM object to a session."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.email = user.email
        self.name = user.name
        self.role = user.role
        # A pending (not yet approved) member acts for no firm: firm_id stays None until approved.
        self.firm_id = user.firm_id if user.membership is Membership.ACTIVE else None
        self.requested_firm_id = user.firm_id
        self.organization_id = user.organization_id
        self.membership = user.membership
        self.is_firm_admin = user.is_firm_admin
        self.is_authenticated = True
        self.is_active = user.is_active
        self.is_anonymous = False
        self.session_epoch = user.session_epoch

    def get_id(self) -> str:
        """The session's user id: the user and its session epoch, so that a password change or a
        sign-out (which bump the epoch) ends every session issued before."""
        return f"{self.id}.{self.session_epoch}"

    @property
    def is_pending(self) -> bool:
        return self.role in (Role.LARGE, Role.SME) and self.membership is not Membership.ACTIVE

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@login_manager.user_loader
def load_user(user_id: str) -> LoginUser | None:
    from web.db import get_db

    uid, _, epoch = user_id.partition(".")
    if not (uid.isascii() and uid.isdigit() and epoch.isascii() and epoch.isdigit()):
        return None  # an id from before session epochs, or a forged one: sign in again
    user = get_db().get(User, int(uid))
    if user is None or not user.is_active or user.session_epoch != int(epoch):
        return None
    return LoginUser(user)


def current_viewer() -> Viewer:
    """The permission Viewer of the signed-in user (anonymous when nobody is)."""
    return viewer_of(current_user)


def init_app(app: Flask, locale_selector: Callable[[], str]) -> None:
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=locale_selector)
    limiter.init_app(app)


def require_role(*roles: Role) -> None:
    """403 unless the signed-in user has one of the roles (admins pass everywhere). Firm users
    whose membership is still pending have no firm role yet."""
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            abort(401)
        abort(login_manager.unauthorized())  # a page sends to sign-in, as @login_required does
    if current_user.role is Role.ADMIN:
        return
    if current_user.role not in roles or (current_user.role in (Role.LARGE, Role.SME) and current_user.is_pending):
        abort(403)
