"""Validated query parameters: on pages a bad value answers 400 naming the parameter and what it
accepts, never a 500 (``?page=<huge>`` used to overflow the database's integer); in the API a
parameter the endpoint does not take answers 400 naming it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from flask import abort, current_app, request

from marketplace.errors import msg
from marketplace.models.base import INT_MAX
from web.errors import api_error
from web.messages import localized

MAX_PAGE = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One page of a list: ``?page=N`` (1 by default; a bad value answers 400) of ``size`` rows.
    A query reads :attr:`fetch` rows from :attr:`offset` (one more than shown tells whether a next
    page exists); :meth:`window` cuts what it read, or a whole list kept in memory."""

    number: int
    size: int

    @classmethod
    def from_request(cls, size: int) -> Page:
        return cls(int_arg("page", 1), size)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def fetch(self) -> int:
        return self.size + 1

    def window(self, rows: Sequence[T], *, from_start: bool = False) -> tuple[list[T], bool]:
        """The rows shown and whether a next page exists; ``from_start``: ``rows`` is the whole list
        (not what was read from :attr:`offset`)."""
        start = self.offset if from_start else 0
        return list(rows[start : start + self.size]), len(rows) > start + self.size


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


_ID = re.compile(r"[0-9]{1,10}")


def _posted_id(name: str, raw: str) -> int:
    """``raw`` as an id (ASCII digits: ``"²".isdigit()`` is true but ``int("²")`` fails; at most
    the largest INTEGER the databases store, as the CLI and the API), else 400 naming the field."""
    if not _ID.fullmatch(raw) or int(raw) > INT_MAX:
        message = msg("%(name)s: %(raw)r is not an id; choose from the list", name=name, raw=raw[:40])
        abort(400, description=localized(message))
    return int(raw)


def form_ids(name: str) -> list[int]:
    """The ids a form posts under ``name`` (checkboxes, selects); empty values are skipped."""
    return [_posted_id(name, raw) for raw in (v.strip() for v in request.form.getlist(name)) if raw]


def form_id(name: str, raw: str | None = None) -> int | None:
    """One optional id a form posts under ``name`` (or ``raw``, a form field's data): None when
    empty."""
    text = ((request.form.get(name) if raw is None else raw) or "").strip()
    return _posted_id(name, text) if text else None


def _check_choice(name: str, raw: str, allowed: list[str]) -> str:
    if raw not in allowed:
        message = msg(
            "%(field)s: unknown value %(raw)r; use one of %(allowed)s",
            field=name,
            raw=raw[:40],
            allowed=", ".join(allowed),
        )
        abort(400, description=localized(message))
    return raw


def choice_arg(name: str, choices: Iterable[str]) -> str:
    """The parameter when it is one of ``choices`` or empty; otherwise 400."""
    raw = request.args.get(name) or ""
    return _check_choice(name, raw, list(choices)) if raw else raw


def form_choice(name: str, default: str, choices: Iterable[str]) -> str:
    """A posted choice (buttons, selects): one of ``choices`` (``default`` when not posted), else
    400 naming the field."""
    return _check_choice(name, request.form.get(name) or default, list(choices))


def refuse_unknown_api_parameters():  # noqa: ANN201 - a Flask before_request hook
    """An API call with a query parameter its endpoint does not take answers 400 naming it: a
    misspelt filter (``?stauts=open``) must not silently return the unfiltered list."""
    if not request.path.startswith("/api/") or not request.args:
        return None
    if current_app.view_functions.get(request.endpoint or "") is None:
        return None  # 404/405 answer on their own
    known: set[str] = set()
    for schema, location in _view_spec().get("args", []):
        if location == "query":
            known |= {field.data_key or name for name, field in schema.fields.items()}
    unknown = sorted(set(request.args) - known)
    if not unknown:
        return None
    takes = ", ".join(sorted(known)) or "none"
    message = f"{unknown[0]}: unknown query parameter; this endpoint takes: {takes}"
    return api_error(400, message, {"query": {name: ["unknown parameter"] for name in unknown}})


def _view_spec() -> dict:
    """What APIFlask's decorators recorded of the current endpoint (its inputs, outputs)."""
    return getattr(current_app.view_functions.get(request.endpoint or ""), "_spec", {})


def _reads_a_json_body() -> bool:
    """Whether the current API endpoint declares a JSON body (an APIFlask ``@bp.input``)."""
    spec = _view_spec()
    return "body" in spec and spec.get("content_type", "application/json") == "application/json"


def refuse_bodies_not_sent_as_json():  # noqa: ANN201 - a Flask before_request hook
    """An API call that sends a body to an endpoint reading JSON, but as a form or plain text,
    answers 415 naming the Content-Type: read as JSON it would be empty, and the answer would blame
    every required field ("title: missing") although they were sent."""
    if not request.path.startswith("/api/") or request.is_json or not (request.content_length or request.form):
        return None
    if not _reads_a_json_body():
        return None
    sent = (request.content_type or "none")[:60]
    message = f"Content-Type: this endpoint reads a JSON body; send it with Content-Type: application/json (got {sent})"
    return api_error(415, message, {"headers": {"Content-Type": ["send application/json"]}})
