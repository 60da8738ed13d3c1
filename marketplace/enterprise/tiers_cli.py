"""`tiers` commands: the criteria, a firm's figures and assessment, the organizers' pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from marketplace.cli import AppContext, _json_opt, cli, emit, pass_app
from marketplace.errors import InputError


@cli.group("tiers")
def tiers_group() -> None:
    """Tier readiness (梯度培育): criteria, figures, assessment, pipeline."""


_year_opt = click.option("--year", type=int, help="Edition of the criteria (default: the newest).")


@tiers_group.command("criteria")
@_year_opt
@_json_opt
def criteria_command(year: int | None, as_json: bool) -> None:
    """The criteria of each tier, with their sources."""
    from dataclasses import asdict

    from marketplace.enterprise.tiers import load_criteria

    data = asdict(load_criteria(year))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{d['title_zh']} / {d['title_en']}")
        for s in d["sources"]:
            click.echo(f"  来源 source: {s['title']} ({s['date']})")
        for t in d["tiers"]:
            click.echo(f"  - {t['zh']} / {t['en']}: {t.get('basis', '')}")

    emit(data, as_json, human)


def _parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--set: give FIGURE=VALUE, not {pair!r}", field="set")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


@tiers_group.command("set")
@click.option("--firm", "firm_id", type=int, required=True)
@click.option("--set", "pairs", multiple=True, help="FIGURE=VALUE, repeatable (e.g. --set rd_share=6.5).")
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="JSON object of figures.")
@_year_opt
@_json_opt
@pass_app
def set_command(
    app: AppContext, firm_id: int, pairs: tuple[str, ...], file: Path | None, year: int | None, as_json: bool
) -> None:
    """Record a firm's figures (an empty VALUE removes one)."""
    from marketplace.enterprise.firms import get_firm
    from marketplace.enterprise.tiers import save_figures

    raw: dict[str, Any] = {}
    if file is not None:
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{file}: not a readable JSON object ({exc})", field="file") from None
        if not isinstance(raw, dict):
            raise InputError(f"{file}: expected one JSON object of figures", field="file")
    raw.update(_parse_pairs(pairs))
    if not raw:
        raise InputError("give figures with --set FIGURE=VALUE or --file", field="set")
    with app.session() as session:
        row = save_figures(session, get_firm(session, firm_id), raw, by="cli", year=year)
        data = {"firm_id": firm_id, "criteria_year": row.criteria_year, "figures": row.figures}
    emit(data, as_json, lambda d: click.echo(f"已保存 / saved {len(d['figures'])} figures for firm #{firm_id}"))


def print_assessment(d: dict[str, Any]) -> None:
    click.echo(f"{d['firm']} (#{d['firm_id']})  criteria {d['criteria_year']}")
    top = next((t for t in d["tiers"] if t["key"] == d["highest"]), None)
    click.echo(f"  达到 meets: {top['zh'] + ' / ' + top['en'] if top else '尚未达到任何梯度 / none yet'}")
    for t in d["tiers"]:
        mark = "✓" if t["met"] else ("≈" if t["nearly"] else "✗")
        score = f"  score {t['score']['total']}/{t['score']['max']} (≥{t['score']['min']})" if t["score"] else ""
        click.echo(f"  {mark} {t['zh']}{score}")
        for m in t["missing"]:
            gap = (
                f"  (差 gap {m['gap']})"
                if m.get("gap") is not None
                else ("  (未填写 missing)" if m["met"] is None else "")
            )
            click.echo(f"      - {m['text_zh']}{gap}")
    if d["next"]:
        click.echo(f"  下一梯度 next: {d['next']['zh']}: " + "; ".join(n["text_zh"] for n in d["next"]["needs"]))


@tiers_group.command("assess")
@click.option("--firm", "firm_id", type=int, required=True)
@_year_opt
@_json_opt
@pass_app
def assess_command(app: AppContext, firm_id: int, year: int | None, as_json: bool) -> None:
    """Which tiers firm FIRM meets, its scores, missing conditions and what the next tier needs."""
    from marketplace.enterprise.firms import get_firm
    from marketplace.enterprise.tiers import assess_firm

    with app.session() as session:
        data = assess_firm(session, get_firm(session, firm_id), year)
    emit(data, as_json, print_assessment)


@tiers_group.command("pipeline")
@click.option("--region", help="Only firms of this province.")
@click.option("--chain", help="Only firms in an industry whose name contains this.")
@_year_opt
@_json_opt
@pass_app
def pipeline_command(app: AppContext, region: str | None, chain: str | None, year: int | None, as_json: bool) -> None:
    """How many firms meet or nearly meet each tier, by region and chain."""
    from marketplace.enterprise.tiers import pipeline

    with app.session() as session:
        data = pipeline(session, region=region, chain=chain, year=year)

    def human(d: dict[str, Any]) -> None:
        for t in d["tiers"]:
            click.echo(f"{t['zh']:<16} 达到 met {t['met']:>5}   接近 nearly {t['nearly']:>5}")
        for g in d["groups"]:
            cells = "  ".join(f"{k}:{v['met']}/{v['nearly']}" for k, v in g["tiers"].items())
            click.echo(f"  {g['region']} · {g['chain']}: {cells}")

    emit(data, as_json, human)


@tiers_group.command("claims")
@click.option("--region", help="Only firms of this province.")
@_json_opt
@pass_app
def claims_command(app: AppContext, region: str | None, as_json: bool) -> None:
    """Firms whose claimed tier waits to be recognised."""
    from marketplace.enterprise.tiers import pending_tier_claims

    with app.session() as session:
        data = [
            {
                "firm_id": f.id,
                "name": f.name,
                "region": f.region,
                "claim": f.tier_claim.value,
                "recognised": f.tier.value if f.tier else None,
            }
            for f in pending_tier_claims(session, region)
        ]

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            click.echo(
                f"{r['firm_id']:>7}  {r['claim']:<16} (now {r['recognised'] or '—'})  {r['name']}  {r['region'] or ''}"
            )
        if not rows:
            click.echo("no tier claims waiting / 暂无待认定的申报")

    emit(data, as_json, human)


@tiers_group.command("recognise")
@click.option("--firm", "firm_id", type=int, required=True)
@click.option("--reject", is_flag=True, help="Turn the claim down instead.")
@_json_opt
@pass_app
def recognise_command(app: AppContext, firm_id: int, reject: bool, as_json: bool) -> None:
    """Recognise (or --reject) a firm's claimed tier, as the platform's operator (admin)."""
    from types import SimpleNamespace

    from marketplace.enterprise.firms import get_firm
    from marketplace.enterprise.tiers import decide_tier_claim
    from marketplace.models import Role

    operator = SimpleNamespace(role=Role.ADMIN, email="operator", is_authenticated=True)
    with app.session() as session:
        firm = get_firm(session, firm_id)
        claim = firm.tier_claim
        decide_tier_claim(session, operator, firm, accept=not reject)
        data = {
            "firm_id": firm.id,
            "claim": claim.value if claim else None,
            "recognised": firm.tier.value if firm.tier else None,
        }
    emit(data, as_json, lambda d: click.echo(f"firm {d['firm_id']}: tier now {d['recognised'] or '—'}"))
