"""`graph ...` and `neo4j ...` commands."""

from __future__ import annotations

import time
from typing import Any

import click

from graph import BACKENDS
from graph.protocol import Label
from marketplace.cli import AppContext, _json_opt, cli, emit, pass_app
from marketplace.errors import InputError

_backend_opt = click.option("--backend", type=click.Choice(BACKENDS), help="Defaults to MARKETPLACE_GRAPH_BACKEND.")


@cli.group("neo4j")
def neo4j_group() -> None:
    """Run the bundled Neo4j server (real Neo4j Community, Bolt on MARKETPLACE_NEO4J_URI)."""


def _print_status(s: dict[str, Any]) -> None:
    state = "运行中 / running" if s["running"] else "未运行 / not running"
    nodes = f", {s['nodes']} nodes" if s["nodes"] is not None else ""
    click.echo(f"Neo4j {state} at {s['uri']} (pid {s['pid']}, data {s['data_dir']}{nodes}) {s['message']}")


@neo4j_group.command("start")
@_json_opt
@pass_app
def neo4j_start(app: AppContext, as_json: bool) -> None:
    """Start the server and wait until Bolt answers."""
    from graph import server

    emit(server.start(app.settings).as_dict(), as_json, _print_status)


@neo4j_group.command("stop")
@_json_opt
@pass_app
def neo4j_stop(app: AppContext, as_json: bool) -> None:
    """Stop the server started by `neo4j start`."""
    from graph import server

    emit(server.stop(app.settings).as_dict(), as_json, _print_status)


@neo4j_group.command("status")
@_json_opt
@pass_app
def neo4j_status(app: AppContext, as_json: bool) -> None:
    """Where the server runs and how many nodes it holds (exit 1 when it does not answer)."""
    from graph import server

    st = server.status(app.settings)
    emit(st.as_dict(), as_json, _print_status)
    if not st.running:
        raise SystemExit(1)


@cli.group("graph")
def graph_group() -> None:
    """The industry-chain graph: sync, expand, path, stats."""


@graph_group.command("sync")
@_backend_opt
@_json_opt
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
@_json_opt
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
@_json_opt
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
@_json_opt
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
