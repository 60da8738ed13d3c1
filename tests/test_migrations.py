"""The schema comes from Alembic migrations and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from marketplace.config import Settings
from marketplace.db import get_engine, init_db, schema_is_current
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
