"""Request text every endpoint can trust: one check before any view runs.

Refused with 400 naming the field, before anything is stored:
- a NUL character in a form field, query parameter or JSON string (PostgreSQL cannot store it in
  text, and no user types one);
- a lone UTF-16 surrogate in a JSON string (``"\\ud800"`` is valid JSON but not text: stored, it
  makes every page and API list that shows it fail to encode);
- NaN, Infinity or a number too large for a float (``1e400``) in a JSON body: Python reads them,
  strict JSON clients cannot read them back;
- a JSON body nested too deeply to parse;
- a body sent as JSON that is not JSON (named with its line and column) or not UTF-8.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import abort, request

from marketplace.errors import Message, msg
from web.errors import api_error
from web.messages import localized

_MAX_DEPTH = 32


class _NotFinite:
    """Stands for a number JSON should not carry, so that the walk can say where it was."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def _text_problem(value: str) -> Message | None:
    if "\x00" in value:
        return msg("contains a NUL character; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return msg("contains a lone surrogate (an invalid \\u escape); send text encoded as UTF-8")
    return None


def _walk(data: Any) -> tuple[str, Message] | None:
    """The first bad value in a parsed JSON body: (its path, what is wrong)."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return path or "body", msg("nested more than %(n)s levels deep", n=_MAX_DEPTH)
        if isinstance(value, _NotFinite):
            return path or "body", msg(
                "%(value)s is not a finite number; send a number within the field's range", value=value.text[:20]
            )
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return path or "body", problem
        elif isinstance(value, dict):
            for key, item in value.items():
                key_problem = _text_problem(key)
                if key_problem:  # a bad key is named by the object that holds it
                    return path or "body", key_problem
                stack.append((f"{path}.{key}" if path else key, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return None


def _refuse(field: str, problem: Message, location: str = "json"):  # noqa: ANN202
    message = msg("%(field)s: %(problem)s", field=field[:80], problem=problem)
    if request.path.startswith("/api/"):
        return api_error(400, str(message), {location: {field[:80]: [str(problem)]}})
    abort(400, description=localized(message))


def refuse_unreadable_input():  # noqa: ANN201 - a Flask before_request hook
    """400 naming the field for a NUL, a lone surrogate, a non-finite number or a too deeply
    nested body (see the module docstring); None lets the request through."""
    fields = [("query", name, value) for name, value in request.args.items(multi=True)]
    if request.method not in ("GET", "HEAD"):
        fields += [("form", name, value) for name, value in request.form.items(multi=True)]
    for location, name, value in fields:
        problem = _text_problem(value)
        if problem:
            return _refuse(name, problem, location)
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        data = json.loads(raw, parse_constant=_NotFinite, parse_float=_float)
    except RecursionError:
        return _refuse("body", msg("nested too deeply to read; send a flatter JSON document"))
    except json.JSONDecodeError as exc:
        return _refuse(
            "body",
            msg(
                "not valid JSON (%(error)s at line %(line)s, column %(column)s); send one JSON document",
                error=exc.msg,
                line=exc.lineno,
                column=exc.colno,
            ),
        )
    except UnicodeDecodeError:
        return _refuse("body", msg("is not UTF-8 text; send the JSON document encoded as UTF-8"))
    found = _walk(data)
    return _refuse(*found) if found else None
