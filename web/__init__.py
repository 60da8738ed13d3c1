"""The ChainMatch web application: Flask app factory, blueprints per area, JSON API under /api/v1.

``create_app()`` reads settings from the environment unless given a :class:`Settings`; nothing
is global. The matching engine is built once per process: in the background by ``serve``, else on
first use (``web.matching_engine``).
Outside debug and testing it refuses to start with the development or a short SECRET_KEY; outside
testing, with platform CA keys that the configured protection does not open.
Security headers (CSP, frame-ancestors, nosniff, Referrer-Policy) are set in one place,
:func:`_security_headers`; which HTTP status a service error answers, in one place too
(``web.errors``).
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError as APIFlaskHTTPError
from flask import Flask, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from marketplace.config import DEV_SECRET_KEY, MIN_SECRET_KEY_LENGTH, Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
RATE_LIMIT_DEFAULTS = {
    "RATELIMIT_SIGN_IN": "10 per minute",  # per client address, on each of these endpoints
    "RATELIMIT_SIGN_UP": "5 per minute",
    "RATELIMIT_TOKENS": "10 per hour",
    "RATELIMIT_MATCH": "20 per minute",
    "RATELIMIT_API": "300 per minute",
    "INBOX_REFRESH_INTERVAL": 30.0,  # seconds between two inbox refreshes of one firm
    "HEAVY_WORK_SLOTS": 2,  # matching jobs (inbox refresh, demand match) run at once per process
}


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` URL parts up to the largest 64-bit integer the databases store."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002, ANN001, ANN002, ANN003
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


class InsecureConfigError(RuntimeError):
    """The app would run with a secret key anyone can know."""


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    from web.errors import API_ERROR_SCHEMA

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
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES="translations;translations_services",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_AS_ASCII=False,
        INFO={"description": "ChainMatch 产业链供需对接平台 API. Authenticate with `Authorization: Bearer <token>`."},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        HTTP_ERROR_SCHEMA=API_ERROR_SCHEMA,
    )
    app.url_map.converters["int"] = BoundedIntConverter  # ids beyond a 64-bit integer are 404, not 500
    app.config.update(RATE_LIMIT_DEFAULTS, HEAVY_WORK_SLOTS=settings.match_slots)
    if test_config:
        app.config.update(test_config)
    # Tests turn rate limits off unless they ask for them; production keeps them on.
    app.config.setdefault("RATELIMIT_ENABLED", settings.rate_limits and not app.testing)
    _check_secret_key(app)
    if not app.testing:  # CA keys that cannot be opened stop the app here, naming the setting (not a 500 per request)
        from marketplace.contracts.keys import check as check_contracts_ca

        check_contracts_ca(settings)
    app.json.ensure_ascii = False
    app.extensions["settings"] = settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    from web import db, extensions
    from web.accounts.auth import same_site_referrer
    from web.i18n import label, render_reasons, select_locale
    from web.messages import localized

    db.init_app(app)
    extensions.init_app(app, select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["same_site_referrer"] = same_site_referrer
    app.jinja_env.filters["lbl"] = label
    app.jinja_env.filters["reasons"] = render_reasons
    app.jinja_env.filters["localized"] = localized  # a service message in the reader's language

    from web import main
    from web.accounts import account, admin, api_tokens, auth, notifications
    from web.contracts import api as api_contracts
    from web.contracts import pages as contracts
    from web.demands import api, organizer, suggestions
    from web.demands import pages as demands
    from web.enterprise import firms
    from web.events import api as api_events
    from web.events import meeting_pages  # noqa: F401  (its views join the events blueprint before it is registered)
    from web.events import pages as events

    blueprints = (main, auth, account, admin, demands, firms, suggestions, organizer, notifications, events)
    for module in (*blueprints, contracts, api, api_tokens, api_events, api_contracts):
        app.register_blueprint(module.bp)
    app.register_blueprint(contracts.tsa_bp)
    from web.enterprise import api_consortia, api_policies, api_tiers, consortia, policies, tiers

    for module in (tiers, policies, consortia, api_tiers, api_policies, api_consortia):
        app.register_blueprint(module.bp)
    _register_errors(app)
    from web.params import refuse_bodies_not_sent_as_json, refuse_unknown_api_parameters
    from web.request_input import refuse_unreadable_input

    app.before_request(refuse_unreadable_input)
    app.before_request(refuse_unknown_api_parameters)
    app.before_request(refuse_bodies_not_sent_as_json)
    app.after_request(_security_headers)
    app.spec_processor(_document_error_responses)

    from marketplace.cli import cli

    app.cli.add_command(cli, "marketplace")
    return app


def _check_secret_key(app: Flask) -> None:
    key = app.config.get("SECRET_KEY") or ""
    if app.debug or app.testing:
        return
    if key == DEV_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH:
        raise InsecureConfigError(
            "MARKETPLACE_SECRET_KEY is the development default or shorter than "
            f"{MIN_SECRET_KEY_LENGTH} characters: anyone could forge session cookies. Set it to a long random "
            'value (python -c "import secrets; print(secrets.token_hex(32))"), or start the app with '
            "`python -m marketplace serve`, which keeps a random key in the instance directory."
        )


ERROR_RESPONSES = {
    "400": "Bad request: a parameter or field is wrong (the message names it)",
    "403": "Forbidden: the caller may not do this",
    "404": "Not found, or not visible to the caller",
    "405": "Method not allowed: a path parameter that does not form this operation's URL",
    "409": "Conflict: changed meanwhile, already done, or a duplicate",
    "429": "Too many requests: rate limit reached",
    "503": "Busy: matching capacity is in use, or the matching engine is still loading (Retry-After); retry shortly",
}


RETRY_AFTER_HEADER = {
    "description": "seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _document_error_responses(spec: dict[str, Any]) -> dict[str, Any]:
    """Every API operation documents the error answers it can give (same JSON error body)."""
    for path, operations in spec.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _state_the_input(spec, operation)
            for code, description in ERROR_RESPONSES.items():
                if method == "get" and code == "409":
                    continue  # a read conflicts with nothing; the one GET that can say 409 documents it itself
                answer = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
                }
                if code == "429":
                    answer["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
                operation["responses"].setdefault(code, answer)
    return spec


# A string with a NUL character is refused (web/request_input.py): said in the document, for the
# strings an operation reads that have no pattern or format of their own
NO_NUL_PATTERN = "^[^\\u0000]*$"


def _state_the_input(spec: dict[str, Any], operation: dict[str, Any]) -> None:
    """What every operation refuses of its input, said in its document: a body with required
    fields is required (sent without one, the answer is a 422 naming them); no text carries a NUL."""
    from web.api_fields import SCHEMA_RULES

    schemas = spec.get("components", {}).get("schemas", {})
    for name, keywords in SCHEMA_RULES.items():
        if name in schemas:
            _merge(schemas[name], keywords)

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return schemas.get(ref.rsplit("/", 1)[-1], schema) if ref.startswith("#/components/schemas/") else schema

    seen: set[int] = set()

    def no_nul(schema: dict[str, Any]) -> None:
        schema = resolve(schema)
        if id(schema) in seen:
            return
        seen.add(id(schema))
        if schema.get("type") == "string" and not ({"pattern", "format", "enum"} & set(schema)):
            schema["pattern"] = NO_NUL_PATTERN
        for child in (schema.get("properties") or {}).values():
            no_nul(child)
        if isinstance(schema.get("items"), dict):
            no_nul(schema["items"])

    body = operation.get("requestBody")
    if body:
        for media in body.get("content", {}).values():
            schema = media.get("schema", {})
            no_nul(schema)
            if resolve(schema).get("required"):
                body["required"] = True
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and "schema" in parameter:
            no_nul(parameter["schema"])


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """``extra`` written into ``target``, objects merged key by key."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _security_headers(response):  # noqa: ANN001, ANN202 - Flask after_request hook
    """Every response: no framing (clickjacking), no inline scripts or styles, no MIME sniffing,
    no full URLs in Referer headers to other sites. Nothing personal is kept by a browser or proxy
    cache (``Cache-Control: no-store``): no answer to a signed-in user (session or API token), no
    download (PDF, ICS, CSV, XLSX), no page reached by a secret link; public static assets keep
    their caching."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if _personal(response):
        response.headers["Cache-Control"] = "no-store"
    return response


def _personal(response) -> bool:  # noqa: ANN001
    """Whether the answer may carry personal data, so that no cache may keep it."""
    from flask import g

    if request.endpoint == "static":
        return False
    login = g.get("_login_user")
    return bool(
        (login is not None and login.is_authenticated)
        or "_user_id" in session
        or request.authorization is not None
        or (request.view_args or {}).get("token")
        or response.headers.get("Content-Disposition", "").startswith("attachment")
    )


def _register_errors(app: Flask) -> None:
    from flask import render_template
    from flask_wtf.csrf import CSRFError
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    from marketplace.errors import MarketplaceError, msg
    from web.db import get_db
    from web.errors import api_error, error_detail, error_status, http_error_name, http_error_title
    from web.messages import localized

    def answer(code: int, reason: str, headers: dict[str, str] | None = None):  # noqa: ANN202
        """The API's JSON (English) or the error page: its title and ``reason`` (a service message)
        in the reader's language."""
        if request.path.startswith("/api/"):
            return api_error(code, http_error_name(code), {"error": str(reason)}, headers)
        title = http_error_title(code, http_error_name(code))
        page = render_template("errors/error.html", code=code, name=title, description=localized(reason))
        return page, code, headers or {}

    @app.errorhandler(IntegrityError)
    def duplicate(exc: IntegrityError):  # noqa: ANN202
        get_db().rollback()
        app.logger.info("integrity conflict on %s: %s", request.path, exc.orig)
        return answer(409, msg("this already exists or was changed at the same time; reload the page and try again"))

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def too_large(_exc: Exception):  # noqa: ANN202
        """A number beyond what the database stores (e.g. an id of 2**70: OverflowError on SQLite, DataError
        on PostgreSQL) is bad input, not a crash."""
        get_db().rollback()
        return answer(400, msg("a number in the request is too large"))

    @app.errorhandler(OperationalError)
    def busy(exc: OperationalError):  # noqa: ANN202
        get_db().rollback()
        if "locked" in str(exc.orig).lower():
            return answer(503, msg("the database is busy; try again in a moment"), {"Retry-After": "1"})
        app.logger.exception("database error on %s", request.path)
        return answer(500, "")

    @app.errorhandler(APIFlaskHTTPError)
    def api_abort(exc: APIFlaskHTTPError):  # noqa: ANN202
        """The API's own aborts and request validation (422): the same body as every other error."""
        return api_error(exc.status_code, exc.message, exc.detail, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # 405 keeps its Allow
        if exc.code == 429:  # a rate limit: when to try again
            from web.extensions import retry_after

            headers.setdefault("Retry-After", retry_after())
        if request.path.startswith("/api/"):
            return api_error(exc.code or 500, exc.name, {"error": exc.description}, headers)
        # Pages speak the reader's language: Werkzeug's English name ("Not Found") and its stock
        # description give way to localized text (the page's sentence per status); a description
        # given to abort() is the app's own and is kept.
        generic = exc.description == getattr(type(exc), "description", None)
        description = "" if generic else exc.description
        if isinstance(exc, CSRFError):  # Flask-WTF's reason is English ("The CSRF token is missing.")
            from flask_babel import gettext as _

            description = _("表单已过期或缺少安全令牌：请返回刷新页面后重新提交。")
        return (
            render_template(
                "errors/error.html", code=exc.code, name=http_error_title(exc.code, exc.name), description=description
            ),
            exc.code,
            headers,
        )

    @app.errorhandler(MarketplaceError)
    def marketplace_error(exc: MarketplaceError):  # noqa: ANN202
        """A service error no view caught: the status web.errors maps it to, on pages and the API."""
        code = error_status(exc)
        if request.path.startswith("/api/"):
            return api_error(code, str(exc), error_detail(exc))
        return render_template("errors/error.html", code=code, name=localized(exc), description=""), code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # noqa: ANN202
        app.logger.exception("unhandled error on %s", request.path)
        if request.path.startswith("/api/"):
            return api_error(500, "Internal Server Error")
        try:
            return render_template(
                "errors/error.html", code=500, name=http_error_title(500, "Internal Server Error"), description=""
            ), 500
        except Exception:  # noqa: BLE001 - the error page itself failed: answer in plain text
            return "服务器出错 / Internal Server Error", 500  # no template, no locale: both languages
