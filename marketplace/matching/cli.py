"""`match`, `suggest` and `evaluate` commands (the matching engine's CLI contract)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from marketplace.cli import AppContext, _json_opt, cli, emit, pass_app
from marketplace.errors import InputError
from marketplace.models import DemandType, FirmKind, Tier


def build_engine(app: AppContext, *, progress: bool = True, **kw: Any):  # noqa: ANN201
    from marketplace.matching.engine import MatchEngine

    with app.session() as session:
        return MatchEngine(app.settings, progress=progress and sys.stderr.isatty(), **kw).build(session)


def read_queries(path: Path) -> list[dict[str, Any]]:
    """Validate the whole JSONL file first, so a bad line fails fast with its line number."""
    from marketplace.matching.engine import clean_query, parse_type

    if not path.is_file():
        raise InputError(f"{path}: file not found", field="queries")
    queries = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})", field="queries"
                ) from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object with id, text, type", field="queries")
            if "id" not in obj:
                raise InputError(f"{path}:{lineno}: missing field 'id'", field="queries")
            try:
                text, warning = clean_query(obj.get("text") if isinstance(obj.get("text"), str) else "")
                dtype = parse_type(str(obj.get("type") or "supply_chain"))
            except InputError as exc:
                raise InputError(f"{path}:{lineno}: {exc}", field="queries") from None
            if warning:
                click.echo(f"警告 / warning: {path}:{lineno}: {warning}", err=True)
            queries.append({"id": obj["id"], "text": text, "type": dtype.value})
    return queries


def _filters(kind: str | None, min_tier: str | None, region: str | None, industry: str | None):  # noqa: ANN202
    from marketplace.matching.engine import Filters
    from marketplace.regions import parse_region

    return Filters(
        kind=FirmKind(kind) if kind else None,
        min_tier=Tier(min_tier) if min_tier else None,
        region=parse_region(region, "--region"),  # a region that names no province: exit 2, not "no firms"
        industry=(industry or "").strip() or None,
    )


def _print_results(results: list[dict[str, Any]]) -> None:
    if not results:
        click.echo("没有匹配的企业 / no matching firms")
    for i, r in enumerate(results, start=1):
        code = f" [{r['stock_code']}]" if r["stock_code"] else ""
        click.echo(f"{i:>3}. {r['short_name'] or r['name']}{code}  score {r['score']:.3f}  (#{r['firm_id']})")
        for reason in r["reasons"]:
            click.echo(f"       - {reason}")


@cli.command("match")
@click.option("--text", help="Demand text to match.")
@click.option("--type", "type_", help="Demand type: " + ", ".join(t.value for t in DemandType))
@click.option("--queries", type=click.Path(path_type=Path), help="JSONL file: one {id, text, type} a line.")
@click.option("--demand", "demand_id", type=int, help="Match a stored demand and save suggestions.")
@click.option("--top", "top_k", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option("--kind", type=click.Choice([k.value for k in FirmKind]), help="Only firms of this kind.")
@click.option("--min-tier", type=click.Choice([t.value for t in Tier]), help="Only firms of at least this tier.")
@click.option("--region", help="Only firms in this province (上海, 江苏 ...).")
@click.option("--industry", help="Only firms in an industry whose name contains this.")
@click.option("--channels", help="Comma-separated subset of lexical,dense,graph,cooccur (default: all).")
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of the reasons."
)
@_json_opt
@pass_app
def match_command(
    app: AppContext,
    text: str | None,
    type_: str | None,
    queries: Path | None,
    demand_id: int | None,
    top_k: int,
    kind: str | None,
    min_tier: str | None,
    region: str | None,
    industry: str | None,
    channels: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """Rank firms for a demand text, a file of queries, or a stored demand."""
    from marketplace.matching.engine import clean_query, parse_type

    modes = sum(x is not None for x in (text, queries, demand_id))
    if modes != 1:
        raise InputError("give exactly one of --text, --queries or --demand", field="text")
    filters = _filters(kind, min_tier, region, industry)
    chosen = _channels(channels)
    if queries is not None:
        batch = read_queries(queries)
        engine = build_engine(app, **_engine_kw(chosen))
        for q in batch:
            results = engine.match(q["text"], q["type"], top_k=top_k, filters=filters, channels=chosen)
            click.echo(
                json.dumps(
                    {"id": q["id"], "results": [r.as_dict(channels=False, locale=lang) for r in results]},
                    ensure_ascii=False,
                )
            )
        return
    if demand_id is not None:
        _match_demand(app, demand_id, top_k, filters, chosen, as_json, lang)
        return
    if not type_:
        raise InputError(
            "--type is required with --text (" + ", ".join(t.value for t in DemandType) + ")", field="type"
        )
    dtype = parse_type(type_)
    cleaned, warning = clean_query(text or "")
    if warning:
        click.echo(f"警告 / warning: {warning}", err=True)
    engine = build_engine(app, **_engine_kw(chosen))
    matched = engine.match(cleaned, dtype, top_k=top_k, filters=filters, channels=chosen)
    results = [r.as_dict(locale=lang) for r in matched]
    emit(results, as_json, _print_results)


def _channels(raw: str | None) -> list[str] | None:
    from marketplace.matching.engine import CHANNELS

    if not raw:
        return None
    chosen = [c.strip() for c in raw.split(",") if c.strip()]
    bad = [c for c in chosen if c not in CHANNELS]
    if bad or not chosen:
        raise InputError(
            f"--channels: unknown channel(s) {bad}; use a subset of {', '.join(CHANNELS)}", field="channels"
        )
    return chosen


def _engine_kw(chosen: list[str] | None) -> dict[str, bool]:
    if chosen is None:
        return {}
    return {"use_dense": "dense" in chosen, "use_graph": "graph" in chosen}


def _match_demand(
    app: AppContext,
    demand_id: int,
    top_k: int,
    filters: Any,
    chosen: list[str] | None,
    as_json: bool,
    lang: str = "zh",
) -> None:
    from marketplace.demands.workflow import get_demand
    from marketplace.matching.refresh import match_demand

    engine = build_engine(app, **_engine_kw(chosen))
    with app.session() as session:
        demand = get_demand(session, demand_id)
        results = match_demand(session, engine, demand, top_k=top_k, filters=filters, channels=chosen)
        rows = [r.as_dict(locale=lang) for r in results]
    emit(rows, as_json, _print_results)


@cli.command("suggest")
@click.option("--firm", "firm_id", required=True, type=int, help="Firm whose inbox to rank.")
@click.option("--top", "top_k", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option("--save", is_flag=True, help="Store the suggestions in the firm's inbox.")
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of the reasons."
)
@_json_opt
@pass_app
def suggest_command(app: AppContext, firm_id: int, top_k: int, save: bool, lang: str, as_json: bool) -> None:
    """Rank open demands that firm FIRM could answer."""
    from marketplace.enterprise.firms import get_firm
    from marketplace.matching.refresh import suggest_demands

    with app.session() as session:
        get_firm(session, firm_id)
    engine = build_engine(app)
    with app.session() as session:
        rows = suggest_demands(session, engine, firm_id, top_k=top_k, save=save, locale=lang)

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            click.echo("暂无匹配的需求 / no open demands match this firm")
        for i, r in enumerate(items, start=1):
            click.echo(f"{i:>3}. #{r['demand_id']} {r['title']} ({r['type']}, {r['owner']})  score {r['score']:.3f}")
            for reason in r["reasons"]:
                click.echo(f"       - {reason}")

    emit(rows, as_json, human)


@cli.command("evaluate")
@click.option(
    "--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Defaults to ../shared/data."
)
@click.option(
    "--limit", default=1000, show_default=True, type=click.IntRange(10, 100000), help="Queries per task at most."
)
@click.option(
    "--hidden", default=500, show_default=True, type=click.IntRange(10, 5000), help="Company→product edges to hide."
)
@click.option("--seed", default=13, show_default=True, type=int)
@click.option("--model", help="Embedding model (default: MARKETPLACE_EMBEDDING_MODEL); `use-multilingual-v3` for USE.")
@click.option(
    "--tasks",
    "task_list",
    help="Comma-separated tasks (default: all): patent→holder, product→producer, product→producer filtered, "
    "upstream supplier, paraphrase.",
)
@click.option(
    "--configs",
    "config_list",
    help="Comma-separated channel configurations (default: all): bm25, dense, graph, latent, fused.",
)
@click.option("--no-dense", is_flag=True, help="Leave the dense channel out (no profile encoding).")
@click.option(
    "--reuse", is_flag=True, help="Reuse the evaluation database of an earlier run with the same --hidden/--seed."
)
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@_json_opt
@pass_app
def evaluate_command(
    app: AppContext,
    data_dir: Path | None,
    limit: int,
    hidden: int,
    seed: int,
    model: str | None,
    task_list: str | None,
    config_list: str | None,
    no_dense: bool,
    reuse: bool,
    markdown: bool,
    as_json: bool,
) -> None:
    """Measure matching quality (R@1/R@10/R@50/MRR) per channel and fused, on tasks built from the data."""
    from marketplace.matching.evaluation import CONFIGS, TASKS, evaluate, markdown_table

    tasks = _pick(task_list, TASKS, "tasks")
    configs = {c: CONFIGS[c] for c in _pick(config_list, tuple(CONFIGS), "configs")}
    settings = app.settings.with_overrides(embedding_model=model) if model else app.settings
    report = evaluate(
        settings,
        data_dir=data_dir,
        limit=limit,
        hidden=hidden,
        seed=seed,
        progress=not as_json,
        configs=configs,
        task_names=tasks,
        use_dense=not no_dense,
        reuse=reuse,
    )
    if markdown:
        click.echo(markdown_table(report))
    emit(report, as_json, lambda r: click.echo(markdown_table(r)) if not markdown else None)


def _pick(raw: str | None, allowed: tuple[str, ...], field: str) -> list[str]:
    """A comma-separated subset of ``allowed`` (all of it when not given)."""
    if not raw:
        return list(allowed)
    chosen = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in allowed]
    if unknown or not chosen:
        raise InputError(
            f"{field}: unknown {', '.join(unknown) or '(none)'}; use some of {', '.join(allowed)}", field=field
        )
    return chosen
