"""`serve`, `index build` and `demo accounts` commands."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from marketplace.cli import AppContext, _json_opt, cli, demo_group, emit, pass_app

if TYPE_CHECKING:
    from flask import Flask

    from marketplace.config import Settings

DEMO_PASSWORD = "chainmatch-demo"
# Page work is CPU-bound Python (about one core per process); threads beyond one keep that core busy
# while others wait on the database's round trips. 16 and 8 measured alike within the machine's
# run-to-run spread on both databases (docs/benchmarks.md, "Load"); the pool covers 16.
DEFAULT_THREADS = 16


def serving_app(settings: Settings) -> Flask:
    """The web app exactly as ``serve`` runs it: the persisted secret key (unless one is
    configured) and the checks that stop it before it listens (a weak secret key, platform CA keys
    that cannot be opened: a CAKeyError naming MARKETPLACE_CONTRACTS_CA_KEY or its file)."""
    from web import create_app

    return create_app(settings.with_persisted_secret_key())


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--threads",
    default=DEFAULT_THREADS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads (they also wait out the database's round trips; docs/deployment.md).",
)
@click.option(
    "--connection-limit",
    default=500,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Open connections at most (browsers keep theirs alive; past the limit new ones wait).",
)
@pass_app
def serve_command(app: AppContext, host: str, port: int, threads: int, connection_limit: int) -> None:
    """Serve the web app with waitress (production WSGI server). It answers at once; the matching
    engine loads in the background meanwhile (pages that need it say it is warming up, /readyz
    answers 200 once it is ready; docs/deployment.md)."""
    from waitress import serve

    from web.matching_engine import load_and_freeze, start_engine_loading

    flask_app = serving_app(app.settings)
    start_engine_loading(flask_app, load_and_freeze)
    click.echo("匹配引擎正在后台加载 / the matching engine is loading in the background (GET /healthz: its state)")
    click.echo(f"请打开 / open http://{host}:{port}/")
    serve(flask_app, host=host, port=port, threads=threads, connection_limit=connection_limit)


@cli.group("index")
def index_group() -> None:
    """The matching indexes (embeddings are cached by content in MARKETPLACE_INSTANCE_DIR/index)."""


@index_group.command("build")
@_json_opt
@pass_app
def index_build(app: AppContext, as_json: bool) -> None:
    """Build or update the profile embeddings and vector index (only changed profiles are encoded)."""
    from marketplace.matching.cli import build_engine

    started = time.perf_counter()
    engine = build_engine(app, progress=not as_json, use_graph=False)
    data = {"profiles": len(engine.profiles), **engine.build_info, "seconds": round(time.perf_counter() - started, 1)}
    emit(data, as_json, lambda d: click.echo(f"索引就绪 / index ready: {d}"))


@demo_group.command("accounts")
@_json_opt
@pass_app
def demo_accounts(app: AppContext, as_json: bool) -> None:
    """Create the demo accounts (idempotent) and print how to sign in, who approves and who signs
    contracts, and the demo signing password (--json: one object per account, with its
    contract_role and signing_password)."""
    from marketplace.accounts.demo import ensure_demo_accounts
    from marketplace.contracts.demo import contract_roles

    with app.session() as session:
        rows = contract_roles(session, app.settings, ensure_demo_accounts(session, DEMO_PASSWORD), DEMO_PASSWORD)

    def human(items: list[dict]) -> None:
        roles = {"signer": "签署人 / signer", "approver": "审批人 / approver"}
        click.echo(f"演示账号 / demo accounts (登录密码 / password: {DEMO_PASSWORD})")
        for r in items:
            role = roles.get(r["contract_role"], "")
            click.echo(f"  {r['role']:<10} {r['email']:<32} {r['belongs_to']}  {role}".rstrip())
        signers = [r for r in items if r["contract_role"] == "signer"]
        passwords = sorted({r["signing_password"] for r in signers if r["signing_password"]})
        for password in passwords:
            who = ", ".join(r["email"] for r in signers if r["signing_password"] == password)
            click.echo(f"签署密码 / signing password: {password} ({who})")
        for r in signers:
            if not r["signing_password"]:
                click.echo(f"  {r['email']}: 已自行设置签署密码 / chose their own signing password")
        if signers:
            click.echo("合同 / contracts: /contracts (审批人审批，签署人签署 / approvers approve, signers sign)")

    emit(rows, as_json, human)
