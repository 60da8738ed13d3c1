"""The schema comes from Alembic migrations and matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from marketplace.config import Settings
from marketplace.db import get_engine, init_db, schema_is_current, session_scope
from marketplace.models import Base


def test_upgrade_from_empty_creates_every_table(tmp_path):
    s = Settings(instance_dir=tmp_path)
    assert not schema_is_current(s)
    init_db(s)
    tables = set(inspect(get_engine(s.database_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert schema_is_current(s)


def test_upgrade_twice_is_harmless(tmp_path):
    s = Settings(instance_dir=tmp_path)
    init_db(s)
    init_db(s)
    assert schema_is_current(s)


def test_migrations_match_the_models(settings):
    with get_engine(settings.database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrading_a_database_that_holds_firms_keeps_them(settings):
    """Every later migration runs on databases full of firms, products and users (on SQLite with
    foreign keys on): copying and dropping a referenced table would fail, and leave the database
    half-migrated."""
    from alembic import command
    from sqlalchemy import text

    from marketplace.db import alembic_config

    cfg = alembic_config(settings)
    command.downgrade(cfg, "0007")
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO firms (name, kind, source, fact_sources, created_at, updated_at) "
                "VALUES ('迁移测试有限公司', 'sme', 'test', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        firm_id = conn.execute(text("SELECT id FROM firms WHERE name = '迁移测试有限公司'")).scalar_one()
        conn.execute(text("INSERT INTO products (name, source) VALUES ('迁移隔膜', 'test')"))
        product_id = conn.execute(text("SELECT id FROM products WHERE name = '迁移隔膜'")).scalar_one()
        conn.execute(
            text("INSERT INTO firm_products (firm_id, product_id, source) VALUES (:f, :p, 'test')"),
            {"f": firm_id, "p": product_id},
        )
    init_db(settings)
    assert schema_is_current(settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM firm_products WHERE firm_id = :f"), {"f": firm_id}).scalar() == 1
        assert not inspect(conn).has_table("_alembic_tmp_firms")


def test_the_firm_name_keys_are_filled_for_firms_that_were_there_before(settings):
    from alembic import command
    from sqlalchemy import text

    from marketplace.db import alembic_config

    cfg = alembic_config(settings)
    command.downgrade(cfg, "0012")
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO firms (name, short_name, kind, source, fact_sources, created_at, updated_at) VALUES "
                "('键测试（上海）有限公司', 'ＫＥＹ 测试', 'sme', 'test', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        firm_id = conn.execute(text("SELECT id FROM firms WHERE short_name = 'ＫＥＹ 测试'")).scalar_one()
        conn.execute(
            text("INSERT INTO firm_names (firm_id, name, kind, source) VALUES (:f, 'Key\u200bAlias', 'alias', 'test')"),
            {"f": firm_id},
        )
    init_db(settings)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT name_key, short_name_key FROM firms WHERE id = :f"), {"f": firm_id}).one()
        alias = conn.execute(text("SELECT name_key FROM firm_names WHERE firm_id = :f"), {"f": firm_id}).scalar_one()
    assert tuple(keys) == ("键测试(上海)有限公司", "key测试") and alias == "keyalias"


def test_0014_recomputes_the_name_keys_to_fold_traditional_characters_and_look_alike_letters(settings):
    """Keys stored by 0013 (NFKC and case only) are recomputed: a Traditional or Cyrillic spelling of
    a firm's name then finds it; downgrading puts the 0013 keys back."""
    from alembic import command
    from sqlalchemy import text

    from marketplace.db import alembic_config
    from marketplace.enterprise.firms import firms_named

    cfg = alembic_config(settings)
    command.downgrade(cfg, "0013")
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO firms (name, short_name, name_key, short_name_key, kind, source, fact_sources, "
                "created_at, updated_at) VALUES ('比亞迪股份有限公司', 'ТСL', '比亞迪股份有限公司', 'тсl', 'sme', "
                "'test', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        firm_id = conn.execute(text("SELECT id FROM firms WHERE short_name = 'ТСL'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO firm_names (firm_id, name, name_key, kind, source) "
                "VALUES (:f, '寧德時代', '寧德時代', 'alias', 'test')"
            ),
            {"f": firm_id},
        )
    init_db(settings)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT name_key, short_name_key FROM firms WHERE id = :f"), {"f": firm_id}).one()
        alias = conn.execute(text("SELECT name_key FROM firm_names WHERE firm_id = :f"), {"f": firm_id}).scalar_one()
    assert tuple(keys) == ("比亚迪股份有限公司", "tcl") and alias == "宁德时代"
    with session_scope(settings) as s:
        assert firms_named(s, "比亚迪股份有限公司") == firms_named(s, "TCL") == firms_named(s, "宁德时代") == {firm_id}
    command.downgrade(cfg, "0013")
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT name_key, short_name_key FROM firms WHERE id = :f"), {"f": firm_id}).one()
    assert tuple(keys) == ("比亞迪股份有限公司", "тсl")


def test_migration_files_are_numbered_in_chain_order(tmp_path):
    """``NN_REV_name.py``: NN is the file's place in the upgrade chain, REV its revision id."""
    from alembic.script import ScriptDirectory

    from marketplace.db import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config(Settings(instance_dir=tmp_path)))
    chain = list(reversed(list(scripts.walk_revisions())))
    names = [Path(s.path).name for s in chain]
    assert names == sorted(names)
    assert [n.split("_")[:2] for n in names] == [[f"{i:02d}", s.revision] for i, s in enumerate(chain, 1)]
