"""kill -9 of an import half-way: the database is exactly as before, and a re-run completes.

The import runs as a real ``python -m marketplace import chainkg`` process. The test watches the
database until the importer's transaction has written (and, on PostgreSQL, has got past the firms
and products into the link tables), freezes the process with SIGSTOP, checks once more that the
transaction is still open, and kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from marketplace.config import REPO_ROOT, Settings
from marketplace.db import session_scope
from marketplace.importers.ickg import import_ickg
from marketplace.models import Base
from tests.conftest import FIXTURES

TIMEOUT = 120.0
# the tables ChainKG's import writes after industries, firms and products: past half-way
LATE_TABLES = ("firm_products", "firm_industries", "product_relations")


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for name, table in sorted(Base.metadata.tables.items())
            }
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: conn.scalar(select(func.count()).select_from(table))
                for name, table in Base.metadata.tables.items()
            }
    finally:
        engine.dispose()


def _start_import(settings: Settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "MARKETPLACE_INSTANCE_DIR": str(settings.instance_dir),
        "MARKETPLACE_DATABASE_URL": settings.database_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace", "import", "chainkg", str(FIXTURES / "chainkg"), "--json"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _sqlite_write_lock_held(path: Path) -> bool:
    """True when another connection holds the database's write lock (an open writing transaction)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return True
        raise
    finally:
        conn.close()


def _sqlite_probe(settings: Settings) -> Callable[[], tuple[bool, bool]]:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    first_seen: list[float] = []

    def probe() -> tuple[bool, bool]:
        held = _sqlite_write_lock_held(path)
        if held and not first_seen:
            first_seen.append(time.monotonic())
        # half-way: the writing transaction has been open for a while (the whole import takes ~1 s)
        return held, held and time.monotonic() - first_seen[0] > 0.25

    return probe


def _postgres_probe(settings: Settings) -> Callable[[], tuple[bool, bool]]:
    engine = create_engine(settings.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    sql = text(
        "SELECT backend_xid IS NOT NULL AS wrote, query FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )

    def probe() -> tuple[bool, bool]:
        with engine.connect() as conn:
            rows = conn.execute(sql).all()
        wrote = any(r.wrote for r in rows)
        late = any(r.wrote and any(t in (r.query or "") for t in LATE_TABLES) for r in rows)
        return wrote, late

    return probe


def _kill_half_way(proc: subprocess.Popen, probe: Callable[[], tuple[bool, bool]]) -> None:
    """SIGKILL the importer while its transaction is open and past half-way."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the import ended (rc {proc.returncode}) before it could be killed:\n{out}\n{err}")
        _, half_way = probe()
        if half_way:
            proc.send_signal(signal.SIGSTOP)  # frozen: it cannot commit between the check and the kill
            still_writing, _ = probe()
            if still_writing:
                proc.kill()
                proc.communicate()
                assert proc.returncode == -signal.SIGKILL
                return
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    proc.kill()
    pytest.fail("the import never reached half-way")


def _wait_for_postgres_backends_to_go(settings: Settings) -> None:
    engine = create_engine(settings.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    sql = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while conn.scalar(sql) and time.monotonic() < deadline:
            time.sleep(0.05)


def test_import_killed_half_way_leaves_the_database_as_before_and_a_rerun_completes(settings):
    with session_scope(settings) as s:  # something already there that must survive untouched
        import_ickg(s, FIXTURES / "ickg25", progress=False)
    before = _snapshot(settings.database_url)
    assert sum(map(len, before.values())) > 0
    is_sqlite = settings.database_url.startswith("sqlite")

    proc = _start_import(settings)
    _kill_half_way(proc, _sqlite_probe(settings) if is_sqlite else _postgres_probe(settings))
    if not is_sqlite:
        _wait_for_postgres_backends_to_go(settings)
    assert _snapshot(settings.database_url) == before

    rerun = _start_import(settings)
    out, err = rerun.communicate(timeout=TIMEOUT)
    assert rerun.returncode == 0, err
    added = json.loads(out)["added"]
    counts_before = {name: len(rows) for name, rows in before.items()}
    after = _counts(settings.database_url)
    assert added["firm_products"] > 0 and added["product_relations"] > 0
    assert after == {name: counts_before[name] + added.get(name, 0) for name in after}
