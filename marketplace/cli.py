"""The command line: ``python -m marketplace ...`` (also registered as ``flask marketplace``).

Exit codes: 0 success, 2 bad usage or input, 1 any other failure. Commands that print data take
``--json`` for machine-readable output. Commands are thin: they parse arguments, call a service
function and print.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from marketplace.config import Settings
from marketplace.db import init_db, session_scope
from marketplace.errors import InputError, MarketplaceError, msg
from marketplace.models import DemandStatus, DemandType, FirmKind
from marketplace.models.base import INT_MAX, INT_MIN


class AppContext:
    """Settings plus a lazily upgraded database, shared by every command of one invocation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ready = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        if not self._ready:
            init_db(self.settings)
            self._ready = True
        with session_scope(self.settings) as session:
            yield session


pass_app = click.make_pass_decorator(AppContext)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        human(data)


def fail(message: str, code: int) -> None:
    click.echo(f"错误 / Error: {message}", err=True)
    sys.exit(code)


class BoundedInt(click.types.IntParamType):
    """A whole number the databases can store (32 bits, as PostgreSQL's INTEGER columns): a larger
    id is a usage error (exit 2) naming the argument, not an overflow from the database driver."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, int) and not INT_MIN <= number <= INT_MAX:
            self.fail(
                msg(
                    "%(value)s is out of range: expected a whole number from %(min)s to %(max)s",
                    value=number,
                    min=INT_MIN,
                    max=INT_MAX,
                ),
                param,
                ctx,
            )
        return number


BOUNDED_INT = BoundedInt()


def bound_int_parameters(command: click.Command) -> None:
    """Give every plain ``type=int`` argument and option of ``command`` and its subcommands the
    database's integer bound (ids reach the database); done once, when the command is about to run."""
    for param in command.params:
        if param.type is click.INT:
            param.type = BOUNDED_INT
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            bound_int_parameters(sub)


class MarketplaceGroup(click.Group):
    """Turns the marketplace's own errors into a clear message and the right exit code."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            bound_int_parameters(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MarketplaceError as exc:
            fail(str(exc), exc.exit_code)
        except OverflowError as exc:
            if "too large to convert" not in str(exc):  # not a number on its way to the database
                raise
            # the last guard for a number read without BoundedInt (e.g. an id inside a text argument)
            fail(msg("a number is too large for the database: ids go up to %(max)s", max=INT_MAX), 2)
        except DataError as exc:  # PostgreSQL: "integer out of range", "value too long" …
            if "out of range" in str(exc.orig):
                fail(msg("a number is too large for the database: ids go up to %(max)s", max=INT_MAX), 2)
            fail(f"the database refused a value: {exc.orig}", 2)
        except OperationalError as exc:
            fail(f"database error: {exc.orig}; check MARKETPLACE_DATABASE_URL", 1)
        except SQLAlchemyError as exc:
            fail(f"database error: {exc.__class__.__name__}: {exc}", 1)


@click.group(cls=MarketplaceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ChainMatch 产业链供需对接平台 — marketplace commands.

    Settings come from MARKETPLACE_* environment variables (see docs/configuration in README).
    """
    if ctx.obj is None:
        # the random secret key `serve` keeps in the instance directory, unless one is configured:
        # every command of one instance reads the same settings the same way
        ctx.obj = AppContext(Settings.from_env().with_persisted_secret_key())


@cli.command("init-db")
@pass_app
def init_db_command(app: AppContext) -> None:
    """Create or upgrade the database schema (Alembic upgrade head)."""
    init_db(app.settings)
    click.echo(f"数据库已就绪 / database ready: {app.settings.database_url}")


# --- import ---------------------------------------------------------------------------------


@cli.group("import")
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
_json_opt = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


@import_group.command("chainkg")
@_dir_arg
@_skip_opt
@_json_opt
@pass_app
def import_chainkg_command(app: AppContext, directory: Path, skip_bad: bool, as_json: bool) -> None:
    """Import ChainKG from DIRECTORY (companies.jsonl, products.jsonl, ...)."""
    from marketplace.importers.chainkg import import_chainkg

    _run_import(app, import_chainkg, directory, skip_bad, as_json)


@import_group.command("ickg")
@_dir_arg
@_skip_opt
@_json_opt
@click.option("--splits", default="train.txt,valid.txt", show_default=True, help="Quad files to import.")
@pass_app
def import_ickg_command(app: AppContext, directory: Path, skip_bad: bool, as_json: bool, splits: str) -> None:
    """Import ICKG from DIRECTORY (entity2id.txt, relation2id.txt, train.txt, ...)."""
    from marketplace.importers.ickg import import_ickg

    names = tuple(s.strip() for s in splits.split(",") if s.strip())
    _run_import(app, import_ickg, directory, skip_bad, as_json, splits=names)


# --- stats and firms ------------------------------------------------------------------------


@cli.command("stats")
@_json_opt
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Counts of firms, products, industries, patents, demands and suggestions."""
    from marketplace.stats import counts

    with app.session() as session:
        data = counts(session)
    emit(data, as_json, lambda d: [click.echo(f"{k:>18}: {v}") for k, v in d.items()])


@cli.group("firms")
def firms_group() -> None:
    """Find and show firms."""


def _print_firms(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("没有找到企业 / no firms found")
    for r in rows:
        code = f" [{r['stock_code']}]" if r["stock_code"] else ""
        click.echo(
            f"{r['firm_id']:>7}  {r['short_name'] or r['name']}{code}  {r['name']}  {r['kind']}  {r['region'] or ''}"
        )


@firms_group.command("search")
@click.argument("text")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--kind", type=click.Choice([k.value for k in FirmKind]))
@_json_opt
@pass_app
def firms_search_command(app: AppContext, text: str, limit: int, kind: str | None, as_json: bool) -> None:
    """Firms whose names or products contain TEXT."""
    from marketplace.enterprise.firms import firm_summary, search_firms

    with app.session() as session:
        rows = [
            firm_summary(f) for f in search_firms(session, text, limit=limit, kind=FirmKind(kind) if kind else None)
        ]
    emit(rows, as_json, _print_firms)


@firms_group.command("show")
@click.argument("firm_id", type=int)
@_json_opt
@pass_app
def firms_show_command(app: AppContext, firm_id: int, as_json: bool) -> None:
    """Everything known about firm FIRM_ID, with the source of each fact."""
    from marketplace.enterprise.firms import firm_detail

    with app.session() as session:
        data = firm_detail(session, firm_id)

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{d['name']}  (#{d['firm_id']}, {d['kind']}, {d['region'] or '地区未知'})")
        if d["stock_code"]:
            click.echo(f"  股票代码 stock code: {d['stock_code']} {d['exchange'] or ''} {d['listed_on'] or ''}")
        click.echo(f"  名称 names: {', '.join(n['name'] for n in d['names'])}")
        click.echo(f"  行业 industries: {', '.join(i['name'] for i in d['industries']) or '-'}")
        prods = [f"{p['name']}({p['weight']:.0%})" if p["weight"] else p["name"] for p in d["products"][:20]]
        click.echo(f"  产品 products: {', '.join(prods) or '-'}")
        click.echo(f"  专利 patents: {len(d['patents'])}")
        for p in d["patents"][:5]:
            click.echo(f"    - {p['title']}")
        click.echo(f"  来源 sources: {d['source']} {json.dumps(d['fact_sources'], ensure_ascii=False)}")

    emit(data, as_json, human)


# --- demands --------------------------------------------------------------------------------


@cli.group("demands")
def demands_group() -> None:
    """Create, list, show and close demands."""


def _load_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read file ({exc})", field="file") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid JSON/YAML ({exc})", field="file") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected one object with demand fields", field="file")
    return data


def _print_demand(d: dict[str, Any]) -> None:
    click.echo(f"#{d['demand_id']} [{d['status']}] {d['type']} — {d['title']}  ({d['owner']})")


@demands_group.command("create")
@click.option(
    "--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="JSON or YAML file with the demand fields."
)
@click.option("--owner", "owner_firm_id", type=int, help="Owner firm id.")
@click.option("--type", "type_", help="rd | supply_chain | investment | incubation | service (or the Chinese label).")
@click.option("--title")
@click.option("--description")
@click.option("--products", help="Wanted products, comma separated.")
@click.option("--industries", help="Wanted industries, comma separated.")
@click.option("--technologies", help="Wanted technologies, comma separated.")
@click.option("--region", "region_preference")
@click.option("--budget-min", type=float, help="万元 (10,000 CNY).")
@click.option("--budget-max", type=float, help="万元 (10,000 CNY).")
@click.option("--deadline", help="YYYY-MM-DD")
@click.option("--visibility", help="public | invited | private")
@click.option("--publish", is_flag=True, help="Open the demand at once instead of saving a draft.")
@_json_opt
@pass_app
def demands_create_command(app: AppContext, file: Path | None, as_json: bool, **flags: Any) -> None:
    """Create a demand from flags or from a JSON/YAML file (flags override the file)."""
    from marketplace.demands.workflow import create_demand, demand_dict

    data: dict[str, Any] = _load_file(file) if file else {}
    renames = {
        "type_": "type",
        "products": "wanted_products",
        "industries": "wanted_industries",
        "technologies": "wanted_technologies",
    }
    for key, value in flags.items():
        if value is not None and value is not False:
            data[renames.get(key, key)] = value
    with app.session() as session:
        result = demand_dict(create_demand(session, data))
    emit(result, as_json, lambda d: click.echo(f"已创建需求 / created demand #{d['demand_id']} ({d['status']})"))


@demands_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in DemandStatus]))
@click.option("--type", "type_", type=click.Choice([t.value for t in DemandType]))
@click.option("--owner", type=int)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@_json_opt
@pass_app
def demands_list_command(
    app: AppContext, status: str | None, type_: str | None, owner: int | None, limit: int, as_json: bool
) -> None:
    """List demands, newest first."""
    from marketplace.demands.workflow import demand_dict, list_demands

    with app.session() as session:
        rows = [
            demand_dict(d)
            for d in list_demands(
                session,
                status=DemandStatus(status) if status else None,
                type=DemandType(type_) if type_ else None,
                owner_firm_id=owner,
                limit=limit,
            )
        ]
    emit(rows, as_json, lambda rs: [_print_demand(r) for r in rs] or click.echo("没有需求 / no demands"))


@demands_group.command("show")
@click.argument("demand_id", type=int)
@_json_opt
@pass_app
def demands_show_command(app: AppContext, demand_id: int, as_json: bool) -> None:
    """Show one demand with its suggestions."""
    from marketplace.demands.suggestions import suggestion_dict, suggestions_for_demand
    from marketplace.demands.workflow import demand_dict, get_demand

    with app.session() as session:
        data = demand_dict(get_demand(session, demand_id))
        data["suggestions"] = [suggestion_dict(s) for s in suggestions_for_demand(session, demand_id)]

    def human(d: dict[str, Any]) -> None:
        _print_demand(d)
        click.echo(f"  {d['description']}")
        for key in ("wanted_products", "wanted_industries", "wanted_technologies"):
            if d[key]:
                click.echo(f"  {key}: {', '.join(d[key])}")
        for s in d["suggestions"]:
            click.echo(f"  → {s['firm']} {s['score']:.3f} [{s['status']}] {'; '.join(s['reasons'][:3])}")

    emit(data, as_json, human)


def _status_command(name: str, status: DemandStatus, help_text: str) -> None:
    @demands_group.command(name, help=help_text)
    @click.argument("demand_id", type=int)
    @_json_opt
    @pass_app
    def command(app: AppContext, demand_id: int, as_json: bool) -> None:
        from marketplace.demands.workflow import demand_dict, get_demand, set_status

        with app.session() as session:
            data = demand_dict(set_status(session, get_demand(session, demand_id), status))
        emit(data, as_json, lambda d: click.echo(f"需求 #{d['demand_id']} → {d['status']}"))


_status_command("publish", DemandStatus.OPEN, "Open a draft demand for matching.")
_status_command("close", DemandStatus.CLOSED, "Close a demand.")
_status_command("withdraw", DemandStatus.WITHDRAWN, "Withdraw a demand.")


# --- demo -----------------------------------------------------------------------------------


@cli.group("demo")
def demo_group() -> None:
    """Demo data for `make run`."""


@demo_group.command("load")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Defaults to MARKETPLACE_DATA_DIR or ../shared/data.")
@_json_opt
@pass_app
def demo_load_command(app: AppContext, data_dir: Path | None, as_json: bool) -> None:
    """Import the real data (or the bundled slice when it is absent) and add demo demands."""
    from marketplace.demo import load_demo

    with app.session() as session:
        summary = load_demo(session, data_dir or app.settings.data_dir, progress=not as_json, settings=app.settings)
    emit(
        summary, as_json, lambda s: click.echo(f"演示数据已就绪 / demo data ready: {json.dumps(s, ensure_ascii=False)}")
    )


def main() -> None:
    import marketplace.commands  # noqa: F401  (registers matching, graph and Neo4j commands)

    cli(prog_name="python -m marketplace")
