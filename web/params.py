"""Validated query parameters: on pages a bad value answers 400 naming the parameter and what it
accepts, never a 500 (``?page=<huge>`` used to overflow the database's integer); in the API a
parameter the endpoint does not take answers 400 naming it."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, current_app, jsonify, request

from marketplace.errors import msg
from web.messages import localized

MAX_PAGE = 10_000


def int_arg(name: str, default: int, *, low: int = 1, high: int = MAX_PAGE) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        message = msg(
            "%(name)s: give a whole number from %(low)s to %(high)s (got %(raw)r)",
            name=name,
            low=low,
            high=high,
            raw=raw[:40],
        )
        abort(400, description=localized(message))
    return value


def choice_arg(name: str, choices: Iterable[str]) -> str:
    """The parameter when it is one of ``choices`` or empty; otherwise 400."""
    raw = request.args.get(name) or ""
    allowed = list(choices)
    if raw and raw not in allowed:
        message = msg(
            "%(field)s: unknown value %(raw)r; use one of %(allowed)s",
            field=name,
            raw=raw[:40],
            allowed=", ".join(allowed),
        )
        abort(400, description=localized(message))
    return raw


def refuse_unknown_api_parameters():  # noqa: ANN201 - a Flask before_request hook
    """An API call with a query parameter its endpoint does not take answers 400 naming it: a
    misspelt filter (``?stauts=open``) must not silently return the unfiltered list."""
    if not request.path.startswith("/api/") or not request.args:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # 404/405 answer on their own
    known: set[str] = set()
    for schema, location in getattr(view, "_spec", {}).get("args", []):
        if location == "query":
            known |= {field.data_key or name for name, field in schema.fields.items()}
    unknown = sorted(set(request.args) - known)
    if not unknown:
        return None
    takes = ", ".join(sorted(known)) or "none"
    message = f"{unknown[0]}: unknown query parameter; this endpoint takes: {takes}"
    return jsonify({"status": 400, "message": message, "detail": {"query": {name: "unknown" for name in unknown}}}), 400
