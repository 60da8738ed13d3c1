"""Database access: engine per settings, a transactional session scope, and schema upgrades.

The schema is created and changed only by Alembic (``marketplace/migrations``); :func:`init_db`
runs ``upgrade head`` programmatically so the CLI, the web app and tests share one path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from marketplace.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI hook signature
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


POOL_SIZE, POOL_OVERFLOW = 20, 20  # connections kept open, and borrowed beyond them, per process


@lru_cache(maxsize=8)
def get_engine(database_url: str) -> Engine:
    """One engine per URL for the process (engines pool connections and are thread-safe)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # a connection per waitress thread (`serve --threads`, 16 by default) plus the engine's refresh
    # worker, without waiting on the pool; more threads borrow overflow connections
    return create_engine(database_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(settings.database_url), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back everything on any error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def init_db(settings: Settings) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    get_engine(settings.database_url)  # creates the SQLite file's directory
    command.upgrade(alembic_config(settings), "head")


def schema_is_current(settings: Settings) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = get_engine(settings.database_url)
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = MigrationContext.configure(conn).get_current_heads()
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    return set(current) == set(heads)
