"""One SQLAlchemy session per request, closed at teardown; views commit what they change."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from marketplace.db import init_db, session_factory
from marketplace.errors import InputError

T = TypeVar("T")


def get_db() -> Session:
    if "db" not in g:
        g.db = session_factory(current_app.extensions["settings"])()
    return g.db


def commit(action: Callable[[], T]) -> tuple[T | None, InputError | None]:
    """Run a service call and commit; on bad input roll back (nothing half-saved) and return the
    error for the view to show: (result, None) or (None, error)."""
    db = get_db()
    try:
        result = action()
        db.commit()
    except InputError as exc:
        db.rollback()
        return None, exc
    return result, None


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        if _exc is not None:
            db.rollback()
        db.close()


def init_app(app: Flask) -> None:
    init_db(app.extensions["settings"])
    app.teardown_appcontext(close_db)
