"""One SQLAlchemy session per request, closed at teardown; views commit what they change."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from marketplace.db import init_db, session_factory


def get_db() -> Session:
    if "db" not in g:
        g.db = session_factory(current_app.extensions["settings"])()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        if _exc is not None:
            db.rollback()
        db.close()


def init_app(app: Flask) -> None:
    init_db(app.extensions["settings"])
    app.teardown_appcontext(close_db)
