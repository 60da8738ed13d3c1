"""Validated query parameters for pages: a bad value answers 400 naming the parameter and what
it accepts, never a 500 (``?page=<huge>`` used to overflow the database's integer)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, request

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
        abort(400, description=f"{name}: give a whole number from {low} to {high} (got {raw[:40]!r})")
    return value


def choice_arg(name: str, choices: Iterable[str]) -> str:
    """The parameter when it is one of ``choices`` or empty; otherwise 400."""
    raw = request.args.get(name) or ""
    allowed = list(choices)
    if raw and raw not in allowed:
        abort(400, description=f"{name}: unknown value {raw[:40]!r}; use one of {', '.join(allowed)}")
    return raw
