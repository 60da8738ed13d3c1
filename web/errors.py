"""How a service error answers over HTTP: the one mapping from the marketplace's errors
(:mod:`marketplace.errors`) to a status, used by the pages and the JSON API alike, and the API's one
error body ``{"status", "message", "detail"}``.

=================================  ======
error                              status
=================================  ======
NotFoundError                      404
PermissionDeniedError              403
TransitionError (ConflictError)    409
InputError (any other)             400
ServiceUnavailableError            503
any other MarketplaceError         503
=================================  ======

The last row is what the platform answers when something it needs cannot be used: the matching
engine without data to match, a signing provider or time-stamp authority that fails, a missing
font. No refusal of a request (not found, denied, conflict, bad input) answers 503.

Pages show the message in the reader's language (:func:`web.messages.refuse`,
:func:`web.messages.localized`) under the status :func:`error_status` gives; the API answers
English through :func:`api_fail` (a view's refusal) or the app-wide handler (an error no view
caught), with the same status and body.
"""

from __future__ import annotations

from typing import Any, NoReturn

from apiflask import abort
from flask import jsonify
from flask_babel import gettext as _
from werkzeug.http import HTTP_STATUS_CODES

from marketplace.errors import (
    InputError,
    MarketplaceError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    TransitionError,
)

# the first class an error is an instance of gives its status (subclasses before their bases)
STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (TransitionError, 409),  # ConflictError is a TransitionError
    (InputError, 400),
    (ServiceUnavailableError, 503),
)
UNAVAILABLE = 503  # any other MarketplaceError: something the platform needs cannot be used

# The API's error body, one shape for every error (documented as the OpenAPI ``HTTPError``).
API_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "integer", "description": "the HTTP status code"},
        "message": {"type": "string", "description": "what went wrong, in English"},
        "detail": {
            "type": "object",
            "description": "the fields at fault: {field: reason}; errors in the request's form are nested by "
            "where the field was, {json|query: {field: [reasons]}}",
        },
    },
    "required": ["status", "message", "detail"],
}


def error_status(exc: BaseException) -> int:
    """The HTTP status a service error answers (the table in this module's docstring)."""
    for cls, code in STATUSES:
        if isinstance(exc, cls):
            return code
    return UNAVAILABLE


def error_detail(exc: BaseException) -> dict[str, str]:
    """The ``detail`` of an error answer: {field: reason}, the reason being the message without its
    "field: " prefix when it starts with the field the error names, else the whole message (a
    message such as "suggestion … cannot go from accepted to declined; allowed next: contacted" has
    no field prefix to split off). Bad input that names no field is keyed ``input``; a denial or
    any other error that names none has no detail."""
    text = str(exc)
    field = getattr(exc, "field", None)
    if isinstance(exc, PermissionDeniedError) and not field:
        return {}
    if field and text.startswith(f"{field}: "):
        return {field: text[len(field) + 2 :]}
    if field or isinstance(exc, InputError):
        return {field or "input": text}
    return {}


def contract_detail(exc: BaseException) -> dict[str, str]:
    """The ``detail`` the contracts API has always answered: as :func:`error_detail`, except that a
    denial names no field and a conflict that names none is keyed ``status``."""
    if isinstance(exc, PermissionDeniedError):
        return {}
    if isinstance(exc, TransitionError) and not exc.field:
        return {"status": str(exc)}
    return error_detail(exc)


def api_fail(exc: MarketplaceError, detail: dict[str, Any] | None = None) -> NoReturn:
    """Answer an API request with a service error: its status (:func:`error_status`), its English
    message, and ``detail`` (by default :func:`error_detail`)."""
    abort(error_status(exc), message=str(exc), detail=error_detail(exc) if detail is None else detail)


def api_error(code: int, message: str, detail: dict[str, Any] | None = None, headers: Any = None):  # noqa: ANN201
    """A JSON error answer of the API in its one shape: ``{"status", "message", "detail"}``."""
    return jsonify({"status": code, "message": str(message), "detail": detail or {}}), code, dict(headers or {})


def http_error_name(code: int) -> str:
    """The standard English name of an HTTP status ("Conflict"), as the API answers it."""
    return HTTP_STATUS_CODES.get(code, "Error")


def http_error_title(code: int | None, fallback: str) -> str:
    """The short title of an HTTP error status in the current language (``fallback`` for others)."""
    titles = {
        400: _("请求有误"),
        401: _("请先登录"),
        403: _("无权访问"),
        404: _("未找到"),
        405: _("不支持的请求方式"),
        409: _("操作冲突"),
        413: _("提交的内容过大"),
        415: _("不支持的内容类型"),
        429: _("请求过于频繁"),
        500: _("服务器出错"),
        503: _("服务繁忙"),
    }
    return titles.get(code, fallback)
