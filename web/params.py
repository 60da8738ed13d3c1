"""Validated query parameters for pages: a bad value answers 400 naming the parameter and what
it accepts, never a 500 (``?page=<huge>`` used to overflow the database's integer)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, request

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
