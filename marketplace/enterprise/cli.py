"""Enterprise services from the command line: ``firms`` (find and show), ``consortia`` (procurement
projects and line-ups), ``policies`` (support policies and the firms they apply to) and ``tiers``
(tier criteria, figures, assessment, pipeline and claims)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from marketplace.cli_common import AppContext, build_engine, emit, json_option, load_file, pass_app
from marketplace.errors import InputError
from marketplace.models import FirmKind

# --- firms -----------------------------------------------------------------------------------


@click.group("firms")
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
@json_option
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
@json_option
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


# --- consortia -------------------------------------------------------------------------------


@click.group("consortia")
def consortia_group() -> None:
    """Procurement consortia (联合体) and subcontracting."""


def _print_project(p: dict[str, Any]) -> None:
    click.echo(
        f"#{p['project_id']} [{p['status']}] {p['title']} — {p['owner']}  "
        f"{len(p['lots'])} lots, {p['budget']:g} 万元, SME ≥ {p['sme_share']:.0%}"
    )


@consortia_group.command("list")
@json_option
@pass_app
def consortia_list_command(app: AppContext, as_json: bool) -> None:
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
@json_option
@pass_app
def consortia_create_command(app: AppContext, owner_firm_id: int, file: Path, as_json: bool) -> None:
    """Post a procurement project."""
    from marketplace.enterprise.consortia import create_project, project_dict

    data = load_file(file)
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
@json_option
@pass_app
def consortia_propose_command(
    app: AppContext, project_id: int, lineups: int, per_lot: int, no_dense: bool, as_json: bool
) -> None:
    """Propose consortium line-ups covering every lot (OR-Tools CP-SAT over matched candidates)."""
    from marketplace.enterprise.consortia import get_project, propose

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
@json_option
@pass_app
def consortia_report_command(app: AppContext, region: str | None, as_json: bool) -> None:
    """SME share reserved and achieved, per project and overall."""
    from marketplace.enterprise.consortia import sme_share_report

    with app.session() as session:
        data = sme_share_report(session, region=region)

    def human(d: dict[str, Any]) -> None:
        for p in d["projects"]:
            click.echo(f"#{p['project_id']} {p['title']}: SME {p['sme_share']:.0%} (≥{p['sme_share_required']:.0%})")
        click.echo(f"合计 overall: SME {d['sme_budget']:g} / {d['total_budget']:g} 万元 = {d['sme_share']:.0%}")

    emit(data, as_json, human)


# --- policies --------------------------------------------------------------------------------


@click.group("policies")
def policies_group() -> None:
    """Support policies (惠企政策) and which firms they apply to."""


def _print_policy(p: dict[str, Any]) -> None:
    number = f" {p['document_number']}" if p.get("document_number") else ""
    click.echo(f"#{p['policy_id']} [{p['status']}] {p['title']} — {p['issuer']}{number} ({p['region'] or '全国'})")
    for r in p["rules_text"]:
        click.echo(f"     · {r['zh']}")


@policies_group.command("list")
@click.option("--all", "include_drafts", is_flag=True, help="Include drafts and withdrawn policies.")
@json_option
@pass_app
def policies_list_command(app: AppContext, include_drafts: bool, as_json: bool) -> None:
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
@json_option
@pass_app
def policies_add_command(app: AppContext, file: Path, publish: bool, as_json: bool) -> None:
    """Add a policy from a file; bad rules are refused with the field named."""
    from marketplace.enterprise.policies import create_policy, policy_dict

    data = load_file(file)
    with app.session() as session:
        result = policy_dict(create_policy(session, data, organization_id=None, publish=publish))
    emit(result, as_json, lambda p: click.echo(f"已添加政策 / added policy #{p['policy_id']} ({p['status']})"))


@policies_group.command("publish")
@click.argument("policy_id", type=int)
@json_option
@pass_app
def policies_publish_command(app: AppContext, policy_id: int, as_json: bool) -> None:
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
@json_option
@pass_app
def policies_match_command(app: AppContext, firm_id: int | None, all_firms: bool, as_json: bool) -> None:
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
@json_option
@pass_app
def policies_search_command(app: AppContext, text: str, limit: int, as_json: bool) -> None:
    """Free-text search over published policies (Chinese BM25 + the dense model)."""
    from embeddings.dense import encoder_from_settings
    from marketplace.enterprise.policies import search_policies

    with app.session() as session:
        rows = search_policies(session, text, limit=limit, encoder=encoder_from_settings(app.settings))
    emit(rows, as_json, lambda ps: [_print_policy(p) for p in ps] or click.echo("没有找到 / nothing found"))


# --- tiers -----------------------------------------------------------------------------------


@click.group("tiers")
def tiers_group() -> None:
    """Tier readiness (梯度培育): criteria, figures, assessment, pipeline."""


_year_opt = click.option("--year", type=int, help="Edition of the criteria (default: the newest).")


@tiers_group.command("criteria")
@_year_opt
@json_option
def tiers_criteria_command(year: int | None, as_json: bool) -> None:
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
@json_option
@pass_app
def tiers_set_command(
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


def _print_assessment(d: dict[str, Any]) -> None:
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
@json_option
@pass_app
def tiers_assess_command(app: AppContext, firm_id: int, year: int | None, as_json: bool) -> None:
    """Which tiers firm FIRM meets, its scores, missing conditions and what the next tier needs."""
    from marketplace.enterprise.firms import get_firm
    from marketplace.enterprise.tiers import assess_firm

    with app.session() as session:
        data = assess_firm(session, get_firm(session, firm_id), year)
    emit(data, as_json, _print_assessment)


@tiers_group.command("pipeline")
@click.option("--region", help="Only firms of this province.")
@click.option("--chain", help="Only firms in an industry whose name contains this.")
@_year_opt
@json_option
@pass_app
def tiers_pipeline_command(
    app: AppContext, region: str | None, chain: str | None, year: int | None, as_json: bool
) -> None:
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
@json_option
@pass_app
def tiers_claims_command(app: AppContext, region: str | None, as_json: bool) -> None:
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
@json_option
@pass_app
def tiers_recognise_command(app: AppContext, firm_id: int, reject: bool, as_json: bool) -> None:
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
