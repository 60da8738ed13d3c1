"""PostgreSQL as a production database: the test-server launcher, migrations from empty on a real
server, and behaviour that differs between SQLite and PostgreSQL unless the code takes care."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from marketplace import postgres
from marketplace.config import Settings
from marketplace.db import get_engine, init_db, schema_is_current, session_scope
from marketplace.enterprise.firms import create_firm, search_firms
from marketplace.errors import MarketplaceError
from marketplace.models import Base, Firm, FirmKind
from marketplace.serve_cli import DEFAULT_THREADS
from tests.conftest import PostgresDatabases, make_settings, postgres_required


def test_server_binaries_are_found_whatever_the_major_version(tmp_path):
    for version in ("13", "16", "9.6"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "pg_ctl").touch()
    (tmp_path / "17").mkdir()  # a version without a server is ignored
    assert postgres.find_bin_dir(tmp_path) == tmp_path / "16" / "bin"


def test_missing_server_binaries_say_how_to_install_them(tmp_path):
    with pytest.raises(MarketplaceError, match="apt-get install postgresql"):
        postgres.find_bin_dir(tmp_path / "none")


def test_launcher_starts_a_server_that_answers_and_stops_it_without_a_trace(tmp_path):
    try:
        postgres.find_bin_dir()
    except MarketplaceError as exc:
        if postgres_required():
            raise
        pytest.skip(str(exc))
    s = Settings(instance_dir=tmp_path)
    started = postgres.start(s, fast=True)
    try:
        assert started.running and postgres.server_url(s) == started.url
        assert postgres.start(s).message == "already running"
        with get_engine(started.url).connect() as conn:
            assert conn.exec_driver_sql("SELECT current_setting('port')").scalar() == str(started.port)
        get_engine(started.url).dispose()
    finally:
        stopped = postgres.stop(s)
    assert not stopped.running
    assert postgres.server_url(s) is None
    assert not Path(started.data_dir).exists()
    assert not postgres.state_file(s).exists()


def test_upgrade_from_empty_on_postgresql_creates_the_models_schema(postgres_databases: PostgresDatabases, tmp_path):
    name = postgres_databases.create()
    try:
        s = make_settings(tmp_path, postgres_databases.url(name))
        assert not schema_is_current(s)
        init_db(s)
        init_db(s)  # a second upgrade is harmless
        assert schema_is_current(s)
        with get_engine(s.database_url).connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        postgres_databases.drop(name)


def test_every_server_thread_gets_a_database_connection_at_once(postgres_databases: PostgresDatabases):
    """`serve`'s threads (and the engine's refresh worker) each hold a connection while they work:
    the pool must hand them all out together, not make the last ones wait for the first."""
    threads = DEFAULT_THREADS
    engine = get_engine(postgres_databases.url(postgres_databases.empty))
    try:
        with ExitStack() as stack:
            connections = [stack.enter_context(engine.connect()) for _ in range(threads + 1)]
            assert [c.exec_driver_sql("SELECT 1").scalar() for c in connections] == [1] * (threads + 1)
    finally:
        engine.dispose()


def test_firm_search_ignores_latin_case_on_every_database(loaded):
    with session_scope(loaded) as s:
        upper = [f.id for f in search_firms(s, "BMS", limit=50)]
        lower = [f.id for f in search_firms(s, "bms", limit=50)]
    assert upper and upper == lower


def test_firm_search_finds_chinese_text_with_and_without_latin_letters_in_any_case(settings):
    with session_scope(settings) as s:
        create_firm(s, name="上海Abc芯片有限公司", kind=FirmKind.SME)
        create_firm(s, name="其他测试有限公司", kind=FirmKind.SME)
    with session_scope(settings) as s:
        for text in ("芯片", "abc芯片", "ABC芯片", "Abc芯片"):
            assert [f.name for f in search_firms(s, text)] == ["上海Abc芯片有限公司"], text
        assert search_firms(s, "芯片厂") == []


def test_firm_search_treats_percent_and_underscore_as_plain_text(settings):
    with session_scope(settings) as s:
        create_firm(s, name="百分百_测试有限公司", kind=FirmKind.SME)
        create_firm(s, name="其他测试有限公司", kind=FirmKind.SME)
    with session_scope(settings) as s:
        assert [f.name for f in search_firms(s, "百_")] == ["百分百_测试有限公司"]
        assert search_firms(s, "%") == []


def test_new_rows_get_fresh_ids_after_an_import_with_explicit_ids(loaded):
    with session_scope(loaded) as s:
        highest = s.scalar(select(Firm.id).order_by(Firm.id.desc()).limit(1))
        firm = create_firm(s, name="新注册测试企业有限公司", kind=FirmKind.SME)
        assert firm.id > highest
