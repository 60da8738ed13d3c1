"""Renders a service message in Simplified Chinese from the "errors" catalogue, as the pages do
(for tests that check a message's Chinese without a request)."""

from __future__ import annotations

from pathlib import Path

from babel.support import Translations

from marketplace.errors import render

CATALOGUE = Path(__file__).resolve().parent.parent / "web" / "translations_errors"


def zh(message: str) -> str:
    translations = Translations.load(str(CATALOGUE), ["zh"], domain="errors")
    return render(message, "zh", translations.gettext)
