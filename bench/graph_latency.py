"""Benchmark: 2-hop expansion latency (p50/p95) on each graph backend over the full data.

Usage: python bench/graph_latency.py [--samples 300] [--backends networkx,neo4j]
Needs the database imported (`python -m marketplace demo load`) and, for Neo4j, a running server
with the data synced (`python -m marketplace neo4j start && python -m marketplace graph sync --backend neo4j`).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from _common import machine, percentiles, timed

from graph import make_graph
from graph.policies import policy_for
from graph.protocol import Label
from graph.sync import sync_all
from marketplace.config import Settings
from marketplace.db import session_scope


def parity(a, b, seeds: list[str], policy) -> dict:  # noqa: ANN001
    """Same firms, scores (1e-9) and paths from every seed on both backends?"""
    same = 0
    firms = 0
    for key in seeds:
        ra, rb = a.expand({key: 1.0}, policy, limit=100), b.expand({key: 1.0}, policy, limit=100)
        firms += len(ra)
        keys_equal = [r.firm_key for r in ra] == [r.firm_key for r in rb]
        scores_equal = all(
            abs(x.score - y.score) <= 1e-9 * max(1.0, abs(x.score)) for x, y in zip(ra, rb, strict=False)
        )
        paths_equal = [[p.key for p in r.path] for r in ra] == [[p.key for p in r.path] for r in rb]
        same += keys_equal and scores_equal and paths_equal
    return {"seeds": len(seeds), "identical": same, "firms_compared": firms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--backends", default="networkx,neo4j")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    nx_graph = make_graph(settings, "networkx")
    with session_scope(settings) as s:
        started = time.perf_counter()
        sync_all(s, nx_graph, progress=False)
        build = time.perf_counter() - started
    # products some firm makes, so that every seed reaches firms
    made = {v for _, v, k in nx_graph.g.edges(keys=True) if k == "PRODUCES"}
    products = sorted(k for k in made if nx_graph.g.nodes[k]["label"] == Label.PRODUCT)
    sample = random.Random(args.seed).sample(products, min(args.samples, len(products)))
    policy = policy_for("supply_chain")
    out = {
        "machine": machine(),
        "nodes": nx_graph.g.number_of_nodes(),
        "edges": nx_graph.g.number_of_edges(),
        "networkx_build_s": round(build, 1),
        "seeds": len(sample),
        "hops": policy.hops,
        "results": {},
    }
    for backend in args.backends.split(","):
        graph = nx_graph if backend == "networkx" else make_graph(settings, backend)
        for key in sample[:20]:  # warm-up
            graph.expand({key: 1.0}, policy, limit=100)
        times = [timed(lambda k=key, g=graph: g.expand({k: 1.0}, policy, limit=100)) for key in sample]
        out["results"][backend] = percentiles(times)
        if backend != "networkx":
            out["results"][backend]["parity_with_networkx"] = parity(nx_graph, graph, sample[:200], policy)
            graph.close()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
