"""`demands` commands: create, list, show, publish, close and withdraw demands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from marketplace.cli_common import AppContext, emit, json_option, load_file, pass_app
from marketplace.models import DemandStatus, DemandType


@click.group("demands")
def demands_group() -> None:
    """Create, list, show and close demands."""


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
@json_option
@pass_app
def demands_create_command(app: AppContext, file: Path | None, as_json: bool, **flags: Any) -> None:
    """Create a demand from flags or from a JSON/YAML file (flags override the file)."""
    from marketplace.demands.workflow import create_demand, demand_dict

    data: dict[str, Any] = load_file(file) if file else {}
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
@json_option
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
@json_option
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
    @json_option
    @pass_app
    def command(app: AppContext, demand_id: int, as_json: bool) -> None:
        from marketplace.demands.workflow import demand_dict, get_demand, set_status

        with app.session() as session:
            data = demand_dict(set_status(session, get_demand(session, demand_id), status))
        emit(data, as_json, lambda d: click.echo(f"需求 #{d['demand_id']} → {d['status']}"))


_status_command("publish", DemandStatus.OPEN, "Open a draft demand for matching.")
_status_command("close", DemandStatus.CLOSED, "Close a demand.")
_status_command("withdraw", DemandStatus.WITHDRAWN, "Withdraw a demand.")
