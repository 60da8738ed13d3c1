"""The instance's data from the command line: ``init-db``, ``import chainkg|ickg``, ``stats`` and
``demo load|accounts``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from marketplace.cli_common import AppContext, emit, json_option, pass_app
from marketplace.db import init_db

DEMO_PASSWORD = "chainmatch-demo"


@click.command("init-db")
@pass_app
def init_db_command(app: AppContext) -> None:
    """Create or upgrade the database schema (Alembic upgrade head)."""
    init_db(app.settings)
    click.echo(f"数据库已就绪 / database ready: {app.settings.database_url}")


# --- import ----------------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Import real industry-chain data sets (transactional and idempotent)."""


def _run_import(
    app: AppContext, fn: Callable[..., Any], directory: Path, skip_bad: bool, as_json: bool, **kw: Any
) -> None:
    start = time.perf_counter()
    with app.session() as session:
        report = fn(session, directory, skip_bad=skip_bad, progress=not as_json and sys.stderr.isatty(), **kw)
    report.seconds = time.perf_counter() - start

    def human(r: dict[str, Any]) -> None:
        click.echo(f"导入完成 / imported {r['dataset']} in {r['seconds']} s")
        for table, n in r["added"].items():
            click.echo(f"  + {n:>8} {table}")
        for note, n in r["notes"].items():
            click.echo(f"  ({n}) {note}")
        if r["skipped"]:
            click.echo(f"跳过的行 / skipped rows: {len(r['skipped'])}")
            for line in r["skipped"]:
                click.echo(f"  {line}")

    emit(report.as_dict(), as_json, human)


_dir_arg = click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
_skip_opt = click.option("--skip-bad", is_flag=True, help="Skip malformed rows and list them at the end.")


@import_group.command("chainkg")
@_dir_arg
@_skip_opt
@json_option
@pass_app
def import_chainkg_command(app: AppContext, directory: Path, skip_bad: bool, as_json: bool) -> None:
    """Import ChainKG from DIRECTORY (companies.jsonl, products.jsonl, ...)."""
    from marketplace.importers.chainkg import import_chainkg

    _run_import(app, import_chainkg, directory, skip_bad, as_json)


@import_group.command("ickg")
@_dir_arg
@_skip_opt
@json_option
@click.option("--splits", default="train.txt,valid.txt", show_default=True, help="Quad files to import.")
@pass_app
def import_ickg_command(app: AppContext, directory: Path, skip_bad: bool, as_json: bool, splits: str) -> None:
    """Import ICKG from DIRECTORY (entity2id.txt, relation2id.txt, train.txt, ...)."""
    from marketplace.importers.ickg import import_ickg

    names = tuple(s.strip() for s in splits.split(",") if s.strip())
    _run_import(app, import_ickg, directory, skip_bad, as_json, splits=names)


# --- stats -----------------------------------------------------------------------------------


@click.command("stats")
@json_option
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Counts of firms, products, industries, patents, demands and suggestions."""
    from marketplace.stats import counts

    with app.session() as session:
        data = counts(session)
    emit(data, as_json, lambda d: [click.echo(f"{k:>18}: {v}") for k, v in d.items()])


# --- demo ------------------------------------------------------------------------------------


@click.group("demo")
def demo_group() -> None:
    """Demo data for `make run`."""


@demo_group.command("load")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Defaults to MARKETPLACE_DATA_DIR or ../shared/data.")
@json_option
@pass_app
def demo_load_command(app: AppContext, data_dir: Path | None, as_json: bool) -> None:
    """Import the real data (or the bundled slice when it is absent) and add demo demands."""
    from marketplace.demo import load_demo

    with app.session() as session:
        summary = load_demo(session, data_dir or app.settings.data_dir, progress=not as_json, settings=app.settings)
    emit(
        summary, as_json, lambda s: click.echo(f"演示数据已就绪 / demo data ready: {json.dumps(s, ensure_ascii=False)}")
    )


@demo_group.command("accounts")
@json_option
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
