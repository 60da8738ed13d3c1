"""The reader's language on pages: which one a request gets (the session's choice, else the
browser's), and domain values (labelled enums, stored match reasons) rendered in it."""

from __future__ import annotations

from typing import Any

from flask import request, session

from marketplace.matching.reasons import render_all
from web.messages import page_locale

LANGUAGES = ("zh", "en")


def select_locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    return request.accept_languages.best_match(LANGUAGES) or "zh" if request else "zh"


def label(member: Any) -> str:
    """A domain enum's label in the current language (Chinese unless English was chosen)."""
    return member.label(page_locale())


def render_reasons(reasons: Any) -> list[str]:
    """A suggestion's stored reasons as sentences in the current language."""
    return render_all(reasons, page_locale())
