"""`consortia` commands: procurement projects, proposed consortium line-ups, SME share report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from marketplace.cli import AppContext, _json_opt, _load_file, cli, emit, pass_app


@cli.group("consortia")
def consortia_group() -> None:
    """Procurement consortia (联合体) and subcontracting."""


def _print_project(p: dict[str, Any]) -> None:
    click.echo(
        f"#{p['project_id']} [{p['status']}] {p['title']} — {p['owner']}  "
        f"{len(p['lots'])} lots, {p['budget']:g} 万元, SME ≥ {p['sme_share']:.0%}"
    )


@consortia_group.command("list")
@_json_opt
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """Procurement projects, newest first."""
    from marketplace.enterprise.consortia import list_projects, project_dict

    with app.session() as session:
        data = [project_dict(p) for p in list_projects(session)]
    emit(data, as_json, lambda ps: [_print_project(p) for p in ps] or click.echo("没有项目 / no projects"))


@consortia_group.command("create")
@click.option("--owner", "owner_firm_id", type=int, required=True, help="The leading (large) firm's id.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON or YAML: title, description, region, sme_share, deadline, lots[{title, products, budget}].",
)
@_json_opt
@pass_app
def create_command(app: AppContext, owner_firm_id: int, file: Path, as_json: bool) -> None:
    """Post a procurement project."""
    from marketplace.enterprise.consortia import create_project, project_dict

    data = _load_file(file)
    with app.session() as session:
        result = project_dict(create_project(session, owner_firm_id, data))
    emit(result, as_json, lambda p: click.echo(f"已创建项目 / created project #{p['project_id']}"))


def _print_proposal(d: dict[str, Any]) -> None:
    click.echo(f"状态 status: {d['status']}  {d.get('message', '')}")
    for n, lineup in enumerate(d["lineups"], start=1):
        click.echo(f"方案 line-up {n}: {lineup['member_count']} members, SME share {lineup['sme_share']:.0%}")
        for a in lineup["assignments"]:
            member = next(m for m in lineup["members"] if m["firm_id"] == a["firm_id"])
            sme = "SME" if member["is_sme"] else "   "
            click.echo(f"   lot {a['position']}: {sme} {member['name']} (#{a['firm_id']}) {member['tier'] or ''}")
            for reason in a["reasons"][:3]:
                click.echo(f"        - {reason}")
    for lot in d["lots"]:
        alts = ", ".join(f"{c['name']}({c['score']:.2f})" for c in lot["alternatives"][:4])
        click.echo(f"  lot {lot['position']} {lot['title']} alternatives: {alts or '-'}")


@consortia_group.command("propose")
@click.option("--project", "project_id", type=int, required=True)
@click.option("--lineups", default=3, show_default=True, type=click.IntRange(1, 10))
@click.option("--per-lot", default=8, show_default=True, type=click.IntRange(1, 50), help="Candidates per lot.")
@click.option("--no-dense", is_flag=True, help="Skip the dense channel (no model loading).")
@_json_opt
@pass_app
def propose_command(
    app: AppContext, project_id: int, lineups: int, per_lot: int, no_dense: bool, as_json: bool
) -> None:
    """Propose consortium line-ups covering every lot (OR-Tools CP-SAT over matched candidates)."""
    from marketplace.enterprise.consortia import get_project, propose
    from marketplace.matching.cli import build_engine

    with app.session() as session:
        get_project(session, project_id)  # fail fast on a wrong id, before loading the engine
    engine = build_engine(app, progress=not as_json, use_dense=not no_dense)
    with app.session() as session:
        data = propose(engine, get_project(session, project_id), count=lineups, per_lot=per_lot)
    emit(data, as_json, _print_proposal)
    if data["status"] in ("infeasible", "no_candidates"):
        raise SystemExit(1)


@consortia_group.command("report")
@click.option("--region", help="Only projects in this province.")
@_json_opt
@pass_app
def report_command(app: AppContext, region: str | None, as_json: bool) -> None:
    """SME share reserved and achieved, per project and overall."""
    from marketplace.enterprise.consortia import sme_share_report

    with app.session() as session:
        data = sme_share_report(session, region=region)

    def human(d: dict[str, Any]) -> None:
        for p in d["projects"]:
            click.echo(f"#{p['project_id']} {p['title']}: SME {p['sme_share']:.0%} (≥{p['sme_share_required']:.0%})")
        click.echo(f"合计 overall: SME {d['sme_budget']:g} / {d['total_budget']:g} 万元 = {d['sme_share']:.0%}")

    emit(data, as_json, human)
