"""`policies` commands: list, add, publish, search, and match a firm (or every firm)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from marketplace.cli import AppContext, _json_opt, _load_file, cli, emit, pass_app
from marketplace.errors import InputError


@cli.group("policies")
def policies_group() -> None:
    """Support policies (惠企政策) and which firms they apply to."""


def _print_policy(p: dict[str, Any]) -> None:
    number = f" {p['document_number']}" if p.get("document_number") else ""
    click.echo(f"#{p['policy_id']} [{p['status']}] {p['title']} — {p['issuer']}{number} ({p['region'] or '全国'})")
    for r in p["rules_text"]:
        click.echo(f"     · {r['zh']}")


@policies_group.command("list")
@click.option("--all", "include_drafts", is_flag=True, help="Include drafts and withdrawn policies.")
@_json_opt
@pass_app
def list_command(app: AppContext, include_drafts: bool, as_json: bool) -> None:
    """Published policies, newest first."""
    from marketplace.enterprise.policies import list_policies, policy_dict
    from marketplace.models import Policy

    with app.session() as session:
        if include_drafts:
            from sqlalchemy import select

            rows = list(session.scalars(select(Policy).order_by(Policy.id.desc())))
        else:
            rows = list_policies(session)
        data = [policy_dict(p) for p in rows]
    emit(data, as_json, lambda ps: [_print_policy(p) for p in ps] or click.echo("没有政策 / no policies"))


@policies_group.command("add")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON or YAML: title, issuer, region, valid_from, valid_to, benefit, rules, original_text, ...",
)
@click.option("--publish", is_flag=True, help="Publish at once (matches firms and notifies them).")
@_json_opt
@pass_app
def add_command(app: AppContext, file: Path, publish: bool, as_json: bool) -> None:
    """Add a policy from a file; bad rules are refused with the field named."""
    from marketplace.enterprise.policies import create_policy, policy_dict

    data = _load_file(file)
    with app.session() as session:
        result = policy_dict(create_policy(session, data, organization_id=None, publish=publish))
    emit(result, as_json, lambda p: click.echo(f"已添加政策 / added policy #{p['policy_id']} ({p['status']})"))


@policies_group.command("publish")
@click.argument("policy_id", type=int)
@_json_opt
@pass_app
def publish_command(app: AppContext, policy_id: int, as_json: bool) -> None:
    """Publish a policy: match every firm and notify those it newly applies to."""
    from marketplace.enterprise.policies import get_policy, publish_policy

    with app.session() as session:
        data = publish_policy(session, get_policy(session, policy_id))
    emit(data, as_json, lambda d: click.echo(f"已发布 / published: {d}"))


def _print_matches(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("没有适用的政策 / no matching policies")
    for r in rows:
        label = {"qualifies": "符合 qualifies", "nearly": "接近 nearly", "no": "不符合 no"}[r["status"]]
        click.echo(f"[{label}] #{r['policy_id']} {r['title']} — {r['issuer']}")
        for m in r["missing"]:
            click.echo(f"     缺少 missing: {m['zh']}")


@policies_group.command("match")
@click.option("--firm", "firm_id", type=int, help="Match one firm.")
@click.option("--all-firms", is_flag=True, help="Batch: count qualifying / nearly qualifying firms per policy.")
@_json_opt
@pass_app
def match_command(app: AppContext, firm_id: int | None, all_firms: bool, as_json: bool) -> None:
    """Policies firm FIRM qualifies for (and nearly qualifies for), each rule explained."""
    from marketplace.enterprise.policies import in_force, list_policies, match_batch, match_firm
    from marketplace.enterprise.policy_rules import load_facts

    if (firm_id is None) == (not all_firms):
        raise InputError("give --firm ID or --all-firms", field="firm")
    with app.session() as session:
        if firm_id is not None:
            emit(match_firm(session, firm_id), as_json, _print_matches)
            return
        policies = [p for p in list_policies(session) if in_force(p)]
        started = time.perf_counter()
        facts = load_facts(session)
        loaded = time.perf_counter()
        batch = match_batch(policies, facts)
        done = time.perf_counter()
        data = {
            "firms": len(facts),
            "policies": len(policies),
            "load_seconds": round(loaded - started, 3),
            "match_seconds": round(done - loaded, 3),
            "per_policy": [
                {"policy_id": pid, "qualifies": int(len(batch.qualifying(i))), "nearly": int(len(batch.nearly(i)))}
                for i, pid in enumerate(batch.policy_ids)
            ],
        }
    emit(data, as_json, lambda d: click.echo(json.dumps(d, ensure_ascii=False, indent=1)))


@policies_group.command("search")
@click.argument("text")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@_json_opt
@pass_app
def search_command(app: AppContext, text: str, limit: int, as_json: bool) -> None:
    """Free-text search over published policies (Chinese BM25 + the dense model)."""
    from embeddings.dense import encoder_from_settings
    from marketplace.enterprise.policies import search_policies

    with app.session() as session:
        rows = search_policies(session, text, limit=limit, encoder=encoder_from_settings(app.settings))
    emit(rows, as_json, lambda ps: [_print_policy(p) for p in ps] or click.echo("没有找到 / nothing found"))
