"""Flask extensions: sign-in (Flask-Login), CSRF (Flask-WTF), translations (Flask-Babel)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, abort
from flask_babel import Babel
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from marketplace.models import Role, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录 / Please sign in first."
csrf = CSRFProtect()
babel = Babel()


class LoginUser:
    """Adapter that gives Flask-Login what it needs without binding the ORM object to a session."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.email = user.email
        self.name = user.name
        self.role = user.role
        self.firm_id = user.firm_id
        self.organization_id = user.organization_id
        self.is_authenticated = True
        self.is_active = user.is_active
        self.is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


@login_manager.user_loader
def load_user(user_id: str) -> LoginUser | None:
    from web.db import get_db

    user = get_db().get(User, int(user_id)) if user_id.isdigit() else None
    return LoginUser(user) if user is not None and user.is_active else None


def init_app(app: Flask, locale_selector: Callable[[], str]) -> None:
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=locale_selector)


def require_role(*roles: Role) -> None:
    """403 unless the signed-in user has one of the roles (admins pass everywhere)."""
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role is not Role.ADMIN and current_user.role not in roles:
        abort(403)
