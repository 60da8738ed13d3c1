"""Matching from the command line: `match`, `suggest` and `evaluate` (the matching engine's CLI
contract), `embeddings train` (ChainMatch's own sentence-embedding model), `graph ...` (the
industry-chain graph) and `neo4j ...` (the bundled Neo4j server)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from graph import BACKENDS
from graph.protocol import Label
from marketplace.cli_common import AppContext, build_engine, emit, json_option, pass_app
from marketplace.errors import InputError
from marketplace.models import DemandType, FirmKind, Tier


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


@click.command("match")
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
@json_option
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


@click.command("suggest")
@click.option("--firm", "firm_id", required=True, type=int, help="Firm whose inbox to rank.")
@click.option("--top", "top_k", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option("--save", is_flag=True, help="Store the suggestions in the firm's inbox.")
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of the reasons."
)
@json_option
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


@click.command("evaluate")
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
@json_option
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


# --- embeddings ------------------------------------------------------------------------------


@click.group("embeddings")
def embeddings_group() -> None:
    """ChainMatch's own sentence-embedding model (docs/matching.md)."""


def _print_model_card(card: dict) -> None:
    held = card["heldout_facts"]
    click.echo(f"模型已保存 / model saved: {card['out']}")
    kinds = ", ".join(f"{k} {v}" for k, v in card["pairs"].items() if k not in ("total", "sha256"))
    click.echo(f"  pairs: {card['pairs']['total']} ({kinds})")
    click.echo(
        f"  held-out facts R@10: trained {held['trained'].get('R@10')}, untrained {held['untrained'].get('R@10')}, "
        f"chance {held['chance_R@10']}"
    )
    click.echo(f"  {card['seconds']} s; use it: MARKETPLACE_EMBEDDING_MODEL={card['out']}")


@embeddings_group.command("train")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Model directory to write (default: MARKETPLACE_INSTANCE_DIR/models/chainmatch-zh-static).",
)
@click.option(
    "--source",
    type=click.Choice(["auto", "database", "evaluation-split"]),
    default="auto",
    show_default=True,
    help="evaluation-split: a database built like the evaluation's (its hidden edges and ICKG valid.txt left "
    "out); database: the instance's own database; auto: evaluation-split when the data directory has the files.",
)
@click.option("--seed", default=13, show_default=True, type=int)
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1, 100))
@click.option("--batch-size", default=1024, show_default=True, type=click.IntRange(2, 65536))
@click.option("--lr", "learning_rate", default=0.2, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--dim", default=256, show_default=True, type=click.IntRange(8, 4096))
@click.option("--vocab-size", default=20000, show_default=True, type=click.IntRange(100, 1_000_000))
@click.option("--loss", type=click.Choice(["mnrl", "cached-mnrl"]), default="mnrl", show_default=True)
@click.option("--max-pairs", "max_pairs_per_kind", default=40000, show_default=True, type=click.IntRange(10))
@click.option(
    "--heldout", default=500, show_default=True, type=click.IntRange(0), help="Firm facts held out and scored."
)
@click.option(
    "--teacher",
    type=click.Choice(["none", "use-multilingual-v3"]),
    default="none",
    show_default=True,
    help="Distil the token table from this model's vectors of industry, product and patent names first "
    "(docs/matching.md); its vectors are cached under the instance directory.",
)
@click.option(
    "--hard-negatives",
    type=click.Choice(["none", "bm25"]),
    default="none",
    show_default=True,
    help="bm25: each fact pair also gets the profile of another firm that BM25 ranks highest for its anchor.",
)
@click.option(
    "--teacher-texts", default=40000, show_default=True, type=click.IntRange(10), help="Texts the teacher encodes."
)
@click.option("--float32", "float32", is_flag=True, help="Store the table as float32 (default float16).")
@json_option
@pass_app
def embeddings_train_command(
    app: AppContext,
    out: Path | None,
    source: str,
    as_json: bool,
    float32: bool,
    **hyper: object,
) -> None:
    """Train a StaticEmbedding model on pairs mined from the data (deterministic for a seed)."""
    from embeddings.training import TrainConfig, file_hashes, train_model
    from marketplace.matching.training_data import (
        EVAL_HIDDEN,
        EVAL_SEED,
        build_evaluation_split,
        evaluation_split_files,
        has_evaluation_data,
        load_training_inputs,
    )

    config = TrainConfig(float16=not float32, **hyper)  # type: ignore[arg-type]
    out = out or Path(app.settings.instance_dir) / "models" / "chainmatch-zh-static"
    progress = not as_json and sys.stderr.isatty()

    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    data_dir = Path(app.settings.data_dir)
    if source == "auto":
        source = "evaluation-split" if has_evaluation_data(data_dir) else "database"
    if source == "evaluation-split":
        if not has_evaluation_data(data_dir):
            from marketplace.errors import InputError

            raise InputError(
                f"{data_dir} lacks chainkg/ and ickg25/train.txt; set MARKETPLACE_DATA_DIR or use --source database",
                field="source",
            )
        say(f"building the evaluation split of {data_dir} (hidden edges: {EVAL_HIDDEN}, seed {EVAL_SEED}) ...")
        hashes = file_hashes(evaluation_split_files(data_dir))
        split = build_evaluation_split(app.settings, data_dir, progress, hashes)
        info = {
            "source": "evaluation-split",
            "evaluation_hidden_edges": EVAL_HIDDEN,
            "evaluation_seed": EVAL_SEED,
            "files_sha256": hashes,
        }
        from marketplace.db import session_scope

        with session_scope(split) as session:
            profiles, relations = load_training_inputs(session)
    else:
        info = {"source": "database", "database": app.settings.database_url}
        with app.session() as session:
            profiles, relations = load_training_inputs(session)
    cache = Path(app.settings.instance_dir) / "models" / ".teacher-cache"
    card = train_model(profiles, relations, out, config, source=info, progress=progress, say=say, teacher_cache=cache)
    card["out"] = str(out)
    emit(card, as_json, _print_model_card)


# --- graph and neo4j -------------------------------------------------------------------------

_backend_opt = click.option("--backend", type=click.Choice(BACKENDS), help="Defaults to MARKETPLACE_GRAPH_BACKEND.")


@click.group("neo4j")
def neo4j_group() -> None:
    """Run the bundled Neo4j server (real Neo4j Community, Bolt on MARKETPLACE_NEO4J_URI)."""


def _print_status(s: dict[str, Any]) -> None:
    state = "运行中 / running" if s["running"] else "未运行 / not running"
    nodes = f", {s['nodes']} nodes" if s["nodes"] is not None else ""
    click.echo(f"Neo4j {state} at {s['uri']} (pid {s['pid']}, data {s['data_dir']}{nodes}) {s['message']}")


@neo4j_group.command("start")
@json_option
@pass_app
def neo4j_start(app: AppContext, as_json: bool) -> None:
    """Start the server and wait until Bolt answers."""
    from graph import server

    emit(server.start(app.settings).as_dict(), as_json, _print_status)


@neo4j_group.command("stop")
@json_option
@pass_app
def neo4j_stop(app: AppContext, as_json: bool) -> None:
    """Stop the server started by `neo4j start`."""
    from graph import server

    emit(server.stop(app.settings).as_dict(), as_json, _print_status)


@neo4j_group.command("status")
@json_option
@pass_app
def neo4j_status(app: AppContext, as_json: bool) -> None:
    """Where the server runs and how many nodes it holds (exit 1 when it does not answer)."""
    from graph import server

    st = server.status(app.settings)
    emit(st.as_dict(), as_json, _print_status)
    if not st.running:
        raise SystemExit(1)


@click.group("graph")
def graph_group() -> None:
    """The industry-chain graph: sync, expand, path, stats."""


@graph_group.command("sync")
@_backend_opt
@json_option
@pass_app
def graph_sync(app: AppContext, backend: str | None, as_json: bool) -> None:
    """Load everything in the database into the graph backend (idempotent)."""
    from graph import make_graph
    from graph.sync import sync_all

    start = time.perf_counter()
    graph = make_graph(app.settings, backend)
    try:
        with app.session() as session:
            written = sync_all(session, graph, progress=not as_json)
        result = {
            "backend": graph.backend,
            **written,
            "seconds": round(time.perf_counter() - start, 2),
            "counts": graph.counts(),
        }
    finally:
        graph.close()
    emit(
        result,
        as_json,
        lambda r: click.echo(
            f"同步完成 / synced {r['nodes']} nodes, {r['edges']} edges to {r['backend']} in {r['seconds']} s"
        ),
    )


def _open(app: AppContext, backend: str | None):  # noqa: ANN202
    from graph import load_graph

    with app.session() as session:
        return load_graph(app.settings, session, backend)


@graph_group.command("stats")
@_backend_opt
@json_option
@pass_app
def graph_stats(app: AppContext, backend: str | None, as_json: bool) -> None:
    """Node and edge counts by label and type."""
    graph = _open(app, backend)
    try:
        data = {"backend": graph.backend, **graph.counts()}
    finally:
        graph.close()
    emit(data, as_json, lambda d: [click.echo(f"{k:>22}: {v}") for k, v in d.items()])


@graph_group.command("expand")
@click.option("--product", required=True, help="Product name to start from.")
@click.option("--hops", default=2, show_default=True, type=click.IntRange(0, 3))
@click.option(
    "--direction", type=click.Choice(["upstream", "downstream", "both"]), default="upstream", show_default=True
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@_backend_opt
@json_option
@pass_app
def graph_expand(
    app: AppContext, product: str, hops: int, direction: str, limit: int, backend: str | None, as_json: bool
) -> None:
    """Firms reached from a product along the chain, with score and path."""
    from graph.policies import chain_policy
    from marketplace.matching.reasons import describe_path

    graph = _open(app, backend)
    try:
        seeds = graph.find_nodes(Label.PRODUCT, product.strip())
        if not seeds:
            raise InputError(f"no product named {product!r}; find names with `firms search`", field="product")
        reached = graph.expand({n.key: 1.0 for n in seeds}, chain_policy(direction, hops), limit=limit)
    finally:
        graph.close()
    rows = [
        {
            "firm_key": r.firm_key,
            "name": r.name,
            "score": round(r.score, 6),
            "path": [p.name for p in r.path],
            "reason": describe_path(r.path),
        }
        for r in reached
    ]
    emit(
        rows,
        as_json,
        lambda rs: (
            [click.echo(f"{r['score']:.4f}  {r['name']}  — {r['reason']}") for r in rs]
            or click.echo("没有结果 / nothing reached")
        ),
    )


@graph_group.command("path")
@click.option("--from", "src", required=True, help="Firm id or name.")
@click.option("--to", "dst", required=True, help="Firm id or name.")
@click.option("--max-hops", default=6, show_default=True, type=click.IntRange(1, 10))
@_backend_opt
@json_option
@pass_app
def graph_path(app: AppContext, src: str, dst: str, max_hops: int, backend: str | None, as_json: bool) -> None:
    """Shortest chain path between two firms."""
    from graph.sync import firm_key
    from marketplace.enterprise.firms import resolve_firm

    with app.session() as session:
        a, b = resolve_firm(session, src, "from"), resolve_firm(session, dst, "to")
    graph = _open(app, backend)
    try:
        nodes = graph.shortest_path(firm_key(a.id), firm_key(b.id), max_hops)
    finally:
        graph.close()
    data = {
        "from": a.name,
        "to": b.name,
        "path": [{"key": n.key, "label": n.label.value, "name": n.name} for n in nodes or []],
    }
    emit(
        data,
        as_json,
        lambda d: click.echo(
            " → ".join(f"{p['name']}({p['label']})" for p in d["path"]) or f"没有路径 / no path within {max_hops} hops"
        ),
    )
    if not nodes:
        raise SystemExit(1)
