"""`postgres start|stop|status`: a throw-away PostgreSQL server for tests and load runs."""

from __future__ import annotations

from typing import Any

import click

from marketplace.cli_common import AppContext, emit, json_option, pass_app


@click.group("postgres")
def postgres_group() -> None:
    """Run a local PostgreSQL server (Debian's binaries) in a temporary directory on a free port."""


def _print_status(s: dict[str, Any]) -> None:
    state = "运行中 / running" if s["running"] else "未运行 / not running"
    where = f" at {s['url']} (data {s['data_dir']})" if s["url"] else ""
    click.echo(f"PostgreSQL {state}{where} {s['message']}".rstrip())


@postgres_group.command("start")
@click.option("--fast", is_flag=True, help="fsync off: for tests only, data may be lost on a crash.")
@json_option
@pass_app
def postgres_start(app: AppContext, fast: bool, as_json: bool) -> None:
    """Initialise a cluster and start it; prints the URL to use as MARKETPLACE_DATABASE_URL."""
    from marketplace import postgres

    emit(postgres.start(app.settings, fast=fast).as_dict(), as_json, _print_status)


@postgres_group.command("stop")
@json_option
@pass_app
def postgres_stop(app: AppContext, as_json: bool) -> None:
    """Stop the server started by `postgres start` and delete its files."""
    from marketplace import postgres

    emit(postgres.stop(app.settings).as_dict(), as_json, _print_status)


@postgres_group.command("status")
@json_option
@pass_app
def postgres_status(app: AppContext, as_json: bool) -> None:
    """Whether the server answers, and its URL (exit 1 when it does not answer)."""
    from marketplace import postgres

    current = postgres.status(app.settings)
    emit(current.as_dict(), as_json, _print_status)
    if not current.running:
        raise SystemExit(1)


@postgres_group.command("url")
@click.argument("database", default="postgres")
@pass_app
def postgres_url(app: AppContext, database: str) -> None:
    """Print the SQLAlchemy URL of DATABASE on the running server (for shell scripts)."""
    from marketplace import postgres

    url = postgres.server_url(app.settings)
    if url is None:
        raise SystemExit("PostgreSQL is not running; start it with `python -m marketplace postgres start`")
    click.echo(url.rsplit("/", 1)[0] + "/" + database)
