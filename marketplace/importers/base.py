"""Shared machinery for the data importers: streaming readers with line numbers and a progress
bar, bad-row handling, natural-key caches for idempotent bulk inserts, and the import report.

Every importer runs inside one transaction: a malformed row raises :class:`DataFileError`
(naming file and line) and nothing is written, unless ``skip_bad`` is set, in which case the row
is skipped and listed in the report.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from marketplace.errors import DataFileError, InputError

BATCH = 5000


@dataclass
class BadRow:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did: rows added per table, rows skipped and why, and how long it took."""

    dataset: str
    added: Counter[str] = field(default_factory=Counter)
    skipped: list[BadRow] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "added": dict(self.added),
            "skipped": [str(b) for b in self.skipped],
            "notes": dict(self.notes),
            "seconds": round(self.seconds, 2),
        }


class RowErrors:
    """Either raises on a bad row (default) or records it for the report (``--skip-bad``)."""

    def __init__(self, report: ImportReport, skip_bad: bool) -> None:
        self.report = report
        self.skip_bad = skip_bad

    def bad(self, path: Path, line: int, reason: str) -> None:
        if not self.skip_bad:
            raise DataFileError(str(path), line, reason)
        self.report.skipped.append(BadRow(str(path), line, reason))


def require_file(directory: Path, name: str) -> Path:
    path = Path(directory) / name
    if not path.is_file():
        raise InputError(f"{path}: file not found; the directory must contain {name}", field="DIR")
    return path


def _lines(path: Path, progress: bool) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) and advance a byte-based progress bar."""
    size = path.stat().st_size
    with (
        path.open("rb") as fh,
        tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not progress, leave=False) as bar,
    ):
        for lineno, raw in enumerate(fh, start=1):
            bar.update(len(raw))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, _DecodeFailure(str(exc))
                continue
            text = text.rstrip("\r\n")
            if text.strip():
                yield lineno, text


class _DecodeFailure(str):
    """Marker for a line that is not valid UTF-8."""


def iter_jsonl(
    path: Path, errors: RowErrors, required: dict[str, type | tuple[type, ...]], progress: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream JSON objects, checking that required fields exist with the right types."""
    for lineno, text in _lines(path, progress):
        if isinstance(text, _DecodeFailure):
            errors.bad(path, lineno, f"not UTF-8 text ({text})")
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.bad(path, lineno, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(row, dict):
            errors.bad(path, lineno, "expected a JSON object")
            continue
        problem = _check_fields(row, required)
        if problem:
            errors.bad(path, lineno, problem)
            continue
        yield lineno, row


def _check_fields(row: dict[str, Any], required: dict[str, type | tuple[type, ...]]) -> str | None:
    for name, kind in required.items():
        if name not in row or row[name] is None:
            return f"missing field {name!r}"
        value = row[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"field {name!r} has the wrong type ({type(value).__name__})"
        if isinstance(value, str) and not value.strip():
            return f"field {name!r} is empty"
    return None


def iter_tsv(path: Path, errors: RowErrors, columns: int, progress: bool) -> Iterator[tuple[int, list[str]]]:
    """Stream tab-separated rows with exactly ``columns`` fields."""
    for lineno, text in _lines(path, progress):
        if isinstance(text, _DecodeFailure):
            errors.bad(path, lineno, f"not UTF-8 text ({text})")
            continue
        parts = text.split("\t")
        if len(parts) != columns:
            errors.bad(path, lineno, f"expected {columns} tab-separated fields, found {len(parts)}")
            continue
        yield lineno, parts


class KeyCache:
    """Natural key -> id for one table; inserts only the keys it has not seen (idempotent)."""

    def __init__(self, session: Session, table: Table, key_column: str) -> None:
        self.session = session
        self.table = table
        self.key_column = key_column
        key = table.c[key_column]
        self.ids: dict[str, int] = dict(session.execute(select(key, table.c.id)).tuples().all())

    def __contains__(self, key: str) -> bool:
        return key in self.ids

    def get(self, key: str) -> int | None:
        return self.ids.get(key)

    def ensure(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert rows whose key is new; return how many were inserted."""
        new: dict[str, dict[str, Any]] = {}
        for row in rows:
            k = row[self.key_column]
            if k not in self.ids and k not in new:
                new[k] = row
        if not new:
            return 0
        values = list(new.values())
        for start in range(0, len(values), BATCH):
            self.session.execute(insert(self.table), values[start : start + BATCH])
        key = self.table.c[self.key_column]
        keys = list(new)
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            self.ids.update(self.session.execute(select(key, self.table.c.id).where(key.in_(chunk))).tuples().all())
        return len(new)


def _plain(value: Any) -> Any:
    """Enum members hash by name, not value: compare link keys by their stored value."""
    return value.value if isinstance(value, Enum) else value


class LinkSet:
    """Existing rows of a link table by their unique columns; inserts only new combinations."""

    def __init__(self, session: Session, table: Table, columns: tuple[str, ...]) -> None:
        self.session = session
        self.table = table
        self.columns = columns
        cols = [table.c[c] for c in columns]
        self.seen: set[tuple[Any, ...]] = {
            tuple(_plain(v) for v in key) for key in session.execute(select(*cols)).tuples()
        }
        self.pending: list[dict[str, Any]] = []
        self.added = 0

    def add(self, row: dict[str, Any]) -> bool:
        key = tuple(_plain(row[c]) for c in self.columns)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.pending.append(row)
        if len(self.pending) >= BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        if self.pending:
            self.session.execute(insert(self.table), self.pending)
            self.added += len(self.pending)
            self.pending = []


class FirmDirectory:
    """Finds a firm by any of its names or its stock code, so that both data sets share firms."""

    def __init__(self, session: Session) -> None:
        from marketplace.models import Firm, FirmName

        self.session = session
        self.by_name: dict[str, int] = {}
        for firm_id, name in session.execute(select(FirmName.firm_id, FirmName.name)).tuples():
            self.by_name.setdefault(name, firm_id)
        for firm_id, name in session.execute(select(Firm.id, Firm.name)).tuples():
            self.by_name[name] = firm_id
        self.by_code: dict[str, int] = {
            code: fid for fid, code in session.execute(select(Firm.id, Firm.stock_code)).tuples() if code
        }

    def find(self, names: Iterable[str], stock_code: str | None = None) -> int | None:
        """The firm with this stock code, else the first firm known by one of ``names``; a firm
        that is listed under another stock code is never taken for a different listing."""
        if stock_code and stock_code in self.by_code:
            return self.by_code[stock_code]
        listed = set(self.by_code.values())
        for name in names:
            firm_id = self.by_name.get(name) if name else None
            if firm_id is not None and not (stock_code and firm_id in listed):
                return firm_id
        return None

    def remember(self, firm_id: int, names: Iterable[str], stock_code: str | None = None) -> None:
        for name in names:
            if name:
                self.by_name.setdefault(name, firm_id)
        if stock_code:
            self.by_code[stock_code] = firm_id
