"""CSV export that spreadsheet programs cannot be tricked by: a text cell starting with = + - @
(or a tab / carriage return) would be read as a formula (CSV/formula injection), so it gets a
leading apostrophe. Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write: text that a spreadsheet would evaluate is prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(header: list[str], rows: Iterable[Iterable[Any]], *, bom: bool = True) -> str:
    """The CSV document (with a UTF-8 BOM so spreadsheet programs read Chinese correctly)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" if bom else "") + out.getvalue()
