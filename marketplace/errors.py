"""Errors the marketplace raises on purpose, and their messages. One hierarchy for every area:
services raise these, the CLI turns them into an exit code (``exit_code``, stated once per class)
and the web app and API into an HTTP status.

=============================  ====  ======  ================================================
class                          exit  HTTP    meaning
=============================  ====  ======  ================================================
MarketplaceError               1     5xx     a failure with a message fit for a user, none of
                                             the kinds below (a server-side failure)
├─ InputError(message, field)  2     400     invalid input; ``field`` names the field, option
│  │                                         or argument to fix (None when no single one)
│  ├─ NotFoundError            2     404     a referenced record does not exist, or the user
│  │                                         may not see that it exists (the very same answer)
│  ├─ PermissionDeniedError    2     403     the user may see the record but not do this
│  ├─ TransitionError          2     409     the record's current state does not allow this
│  │  └─ ConflictError         2     409     already done, raced with another request, or
│  │                                         already exists
│  └─ DataFileError            2     400     a malformed data file or row (names file, line)
├─ ServiceUnavailableError     1     503     a dependency is down or failed (Neo4j,
│  │                                         PostgreSQL tools, the time-stamp authority)
│  └─ contracts.pades.SigningFailed          signing could not complete; nothing was stored
├─ SettingsError               2     —       a setting the platform cannot use; the web app
│  │                                         refuses to start
│  ├─ config.ConfigError                     a ``MARKETPLACE_*`` variable's value
│  └─ contracts.keys.CAKeyError              the contract CA keys do not open
└─ contracts.keys.RekeyError   1     5xx     a CA key none of the known passphrases opens
=============================  ====  ======  ================================================

Catch the most specific class that means what you handle; test ``isinstance(exc, InputError)``
for "the request was at fault" (the web pages flash those and show the form again).

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
    """A failure with a message fit for a user (exit code 1). The root of every error below."""

    exit_code = 1


class InputError(MarketplaceError):
    """Bad input from the user: the message says what is wrong and how to fix it, ``field`` names
    the field, option or argument at fault (exit code 2; web and API answer 400)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(InputError):
    """A referenced record does not exist (web and API answer 404). A record the user may not see
    answers with this very error, message and field, so nobody can tell it from a missing one."""


class TransitionError(InputError):
    """A status change that the workflow does not allow in the record's current state (web and
    API answer 409)."""


class PermissionDeniedError(InputError):
    """The user may see the record but may not do this (web and API answer 403)."""


class ConflictError(TransitionError):
    """Already done, raced with another request, or already exists (web and API answer 409)."""


class DataFileError(InputError):
    """A malformed data file or row; names the file and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class ServiceUnavailableError(MarketplaceError):
    """A service the platform depends on (Neo4j, PostgreSQL's tools, the time-stamp authority)
    cannot be reached or failed (exit code 1; web and API answer 503)."""


class SettingsError(MarketplaceError):
    """A setting the platform cannot use (a ``MARKETPLACE_*`` variable, or a key or file it
    names): the message names it and what to do (exit code 2; the web app refuses to start)."""

    exit_code = 2
