"""Service messages in the reader's language: every page shows a service error through
:func:`localized`, which renders a :func:`marketplace.errors.msg` message from the Simplified
Chinese catalogue in ``web/translations_errors`` (gettext domain ``errors``; English is the text in
the code). The JSON API answers in English, the text the code raises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from flask import abort, flash, request
from flask_babel import Domain, get_locale

from marketplace.errors import message_of, render

ERRORS_DIR = Path(__file__).parent / "translations_errors"
errors_domain = Domain(translation_directories=[str(ERRORS_DIR)], domain="errors")


def page_locale() -> str:
    """The current request's language code (``zh`` unless the reader chose English)."""
    return str(get_locale() or "zh")


def localized(error: BaseException | str) -> str:
    """An error (or its message) in the current request's language."""
    message = message_of(error) if isinstance(error, BaseException) else error
    translations = errors_domain.get_translations()
    return render(message, page_locale(), translations.gettext)


def for_reader(message: str) -> str:
    """A message as the caller reads it: English for the JSON API, the reader's language on pages."""
    return str(message) if request.path.startswith("/api/") else localized(message)


def refuse(error: BaseException) -> NoReturn:
    """A refused action: the HTTP status the service error means (``web.error_status``: 404, 403,
    409 or 400) with its message in the reader's language."""
    from web import error_status

    abort(error_status(error), description=localized(error))


def flash_outcome(error: Exception | None, done: str | Callable[[], str]) -> None:
    """Flash the service error in the reader's language, or ``done`` when the action succeeded
    (a callable when the text needs the action's result, which is None after an error)."""
    if error:
        flash(localized(error), "error")
    else:
        flash(done() if callable(done) else done, "success")
