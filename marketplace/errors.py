"""Errors the marketplace raises on purpose, and their messages. The CLI maps them to exit codes,
the web app to 4xx.

A message a user can see is written with :func:`msg`: English text in the code (what the CLI, the
API and the logs print), a gettext template that ``pybabel`` extracts (keyword ``msg``) into the
Simplified Chinese catalogue ``web/translations_errors``, and the values that fill it. The web pages
render it in the reader's language with :func:`render`; a plain string stays as written.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any


class Message(str):
    """The English text of a message, keeping its ``template`` (a gettext msgid with ``%(name)s``
    placeholders) and ``params`` (plain values, Messages, or labelled enums) to render it again in
    another language."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, params: dict[str, Any]) -> Message:
        text = template % {k: _english(v) for k, v in params.items()}
        obj = super().__new__(cls, text)
        obj.template = template
        obj.params = params
        return obj

    def __reduce__(self) -> tuple[Any, ...]:  # keeps template and params through pickling
        return (Message, (self.template, self.params))


class Term:
    """A name known in Chinese and English (a figure's name, a unit), as a message parameter: the
    English text reads ``en``, a Chinese page ``zh``."""

    def __init__(self, zh: str, en: str) -> None:
        self.label_zh, self.label_en, self.value = zh, en, en

    def label(self, locale: str = "zh") -> str:
        return self.label_en if locale.startswith("en") else self.label_zh

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and (self.label_zh, self.label_en) == (other.label_zh, other.label_en)

    def __hash__(self) -> int:
        return hash((self.label_zh, self.label_en))


def msg(template: str, /, **params: Any) -> Message:
    """A user-facing message: ``template`` is English with ``%(name)s`` placeholders (``%%`` for a
    percent sign), and must be a literal so that pybabel extracts it for translation."""
    return Message(template, params)


def join(parts: Iterable[str], sep: str = "; ") -> Message:
    """Several messages as one, each rendered in the reader's language."""
    items = list(parts)
    template = sep.replace("%", "%%").join(f"%(p{i})s" for i in range(len(items)))
    return Message(template, {f"p{i}": part for i, part in enumerate(items)})


def to_data(message: str) -> Any:
    """A message as JSON-safe data, to store it and render it later in the reader's language:
    a plain string stays a string; a :class:`Message` becomes its template and parameters
    (nested messages kept, enums by their value, other values as JSON allows)."""
    if not isinstance(message, Message):
        return str(message)
    return {"template": message.template, "params": {k: _param_data(v) for k, v in message.params.items()}}


def from_data(data: Any) -> str:
    """The message :func:`to_data` stored (a plain string as it is)."""
    if not isinstance(data, dict):
        return str(data)
    params = {
        k: from_data(v["message"]) if isinstance(v, dict) and "message" in v else v
        for k, v in (data.get("params") or {}).items()
    }
    return Message(str(data.get("template", "")), params)


def _param_data(value: Any) -> Any:
    if isinstance(value, Message):
        return {"message": to_data(value)}
    if isinstance(value, enum.Enum | Term):
        return value.value
    if isinstance(value, list | tuple):
        return [_param_data(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def message_of(exc: BaseException) -> str:
    """The message an exception was raised with (a :class:`Message` when it was made with msg)."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) else str(exc)


def render(message: str, locale: str, translate: Callable[[str], str]) -> str:
    """``message`` in ``locale``: English as written; otherwise its template through ``translate``
    (a gettext lookup that returns the template itself when it has no translation), filled with
    its parameters rendered the same way (labelled enums by their label)."""
    if not isinstance(message, Message) or locale.startswith("en"):
        return str(message)
    params = {k: _localised(v, locale, translate) for k, v in message.params.items()}
    text = translate(message.template)
    try:
        return text % params
    except (KeyError, TypeError, ValueError):  # a catalogue entry whose placeholders do not fit
        return str(message)


def _english(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum | Term) else value


def _localised(value: Any, locale: str, translate: Callable[[str], str]) -> Any:
    if _is_labelled(value):
        return value.label(locale)
    if isinstance(value, Message):
        return render(value, locale, translate)
    return _english(value)


def _is_labelled(value: Any) -> bool:
    return hasattr(value, "label_zh") and hasattr(value, "label") and hasattr(value, "value")


class MarketplaceError(Exception):
    """A failure with a message fit for a user (exit code 1)."""

    exit_code = 1


class InputError(MarketplaceError):
    """Bad input from the user: the message says what is wrong and how to fix it (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(InputError):
    """A referenced record does not exist."""


class TransitionError(InputError):
    """A status change that the workflow does not allow."""


class PermissionDeniedError(InputError):
    """The user may not do or see this (web and API answer 403)."""


class ConflictError(TransitionError):
    """Someone else changed the record first, or it already exists (web and API answer 409)."""


class DataFileError(InputError):
    """A malformed data file or row; names the file and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class ServiceUnavailableError(MarketplaceError):
    """An external service (Neo4j) cannot be reached."""
