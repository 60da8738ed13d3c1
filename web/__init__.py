"""The ChainMatch web application: Flask app factory, blueprints per area, JSON API under /api/v1.

``create_app()`` reads settings from the environment unless given a :class:`Settings`; nothing
is global. The matching engine is built once per process on first use (``web.engine``).
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask
from flask import Flask, request, session
from werkzeug.exceptions import HTTPException

from marketplace.config import Settings

LANGUAGES = ("zh", "en")


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = APIFlask(
        __name__,
        title="ChainMatch API",
        version="1.0",
        spec_path="/api/v1/openapi.json",
        docs_path=None,  # the Swagger UI page loads its assets from a CDN; pages here must work offline
        json_errors=False,
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES="translations;translations_services",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_AS_ASCII=False,
        INFO={"description": "ChainMatch 产业链供需对接平台 API. Authenticate with `Authorization: Bearer <token>`."},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    app.extensions["settings"] = settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    from web import db, extensions

    db.init_app(app)
    extensions.init_app(app, select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["lbl"] = label

    from web import api, api_events, auth, demands, events, firms, main, notifications, organizer, suggestions

    for module in (main, auth, demands, firms, suggestions, organizer, notifications, api, events, api_events):
        app.register_blueprint(module.bp)
    from web import api_consortia, api_policies, api_tiers, consortia, policies, tiers

    for module in (tiers, policies, consortia, api_tiers, api_policies, api_consortia):
        app.register_blueprint(module.bp)
    _register_errors(app)

    from marketplace.cli import cli

    app.cli.add_command(cli, "marketplace")
    return app


def label(member: Any) -> str:
    """A domain enum's label in the current language (Chinese unless English was chosen)."""
    from flask_babel import get_locale

    return member.label(str(get_locale() or "zh"))


def select_locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    return request.accept_languages.best_match(LANGUAGES) or "zh" if request else "zh"


def _register_errors(app: Flask) -> None:
    from flask import jsonify, render_template

    from marketplace.errors import InputError, MarketplaceError

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/"):
            return jsonify({"status": exc.code, "message": exc.name, "detail": {"error": exc.description}}), exc.code
        return render_template("errors/error.html", code=exc.code, name=exc.name, description=exc.description), exc.code

    @app.errorhandler(MarketplaceError)
    def marketplace_error(exc: MarketplaceError):  # noqa: ANN202
        code = 400 if isinstance(exc, InputError) else 503
        if request.path.startswith("/api/"):
            return jsonify({"status": code, "message": str(exc), "detail": {}}), code
        return render_template("errors/error.html", code=code, name=str(exc), description=""), code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # noqa: ANN202
        app.logger.exception("unhandled error on %s", request.path)
        if request.path.startswith("/api/"):
            return jsonify({"status": 500, "message": "Internal Server Error", "detail": {}}), 500
        try:
            return render_template("errors/error.html", code=500, name="Internal Server Error", description=""), 500
        except Exception:  # noqa: BLE001 - the error page itself failed: answer in plain text
            return "服务器出错 / Internal Server Error", 500
