"""Tune the fusion weights per demand row on the evaluation tasks, with two-fold cross-validation.

Each query of the evaluation tasks is run once through every channel (`MatchEngine.channel_hits`,
the same candidate pools `match` fuses); then a grid of weights is fused offline with the engine's
own CombSUM (`embeddings.fusion.combsum`), so hundreds of weightings cost seconds. Rows and what
they are scored on:

- supply_chain      product→producer, product→producer filtered and paraphrase (mean R@10, then MRR)
- supply_chain_own  upstream supplier ("我们生产P，需要上游原材料"): P@10 with R@10 kept at least
                    at the shipped weights' value
- rd                patent→holder (R@10, then MRR)

The queries are split in two halves (by a seeded shuffle): weights chosen on one half are scored on
the other, so the "held-out" numbers are not tuned on their own queries; the weights printed at
the end are chosen on all queries. Re-run it after a model change and copy the rows into
`CHANNEL_WEIGHTS` (marketplace/matching.py).

Usage (after `python -m marketplace evaluate ...` built the evaluation database, or with --build):
  python bench/fusion_tune.py [--limit 1000] [--hidden 500] [--seed 13] [--no-dense] [--build]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

from _common import machine

from marketplace import matching
from marketplace.config import Settings
from marketplace.db import session_scope
from marketplace.evaluation import K, Query, build_base, build_tasks, metrics
from marketplace.matching import CHANNEL_WEIGHTS, CHANNELS, POOL, MatchEngine, Retrieved, fuse

ROWS = {
    "supply_chain": ("product→producer", "product→producer filtered", "paraphrase"),
    "supply_chain_own": ("upstream supplier",),
    "rd": ("patent→holder",),
}
GRID = {
    "lexical": (0.0, 1.0),
    "graph": (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
    "dense": (0.0, 0.1, 0.3, 0.6, 1.0),
    "cooccur": (0.0, 0.1, 0.2, 0.4, 0.8),
}
Lists = Retrieved
COMPETITOR_FACTORS = (1.0, 0.5, 0.2, 0.0)  # tried on the supply_chain_own row


def rank(retrieved: Retrieved, weights: dict[str, float], ignore: set[int]) -> list[int]:
    factor = weights.get("competitor", matching.COMPETITOR_FACTOR)
    matching.COMPETITOR_FACTOR, saved = factor, matching.COMPETITOR_FACTOR
    try:
        fused = fuse(retrieved, {c: w for c, w in weights.items() if c != "competitor"})
    finally:
        matching.COMPETITOR_FACTOR = saved
    return [fid for fid, _ in fused if fid not in ignore][:K]


def score(row: str, per_task: dict[str, list[tuple[Query, Lists]]], weights: dict[str, float]) -> dict[str, dict]:
    out = {}
    for task, items in per_task.items():
        ranked = [rank(lists, weights, q.ignore) for q, lists in items]
        out[task] = metrics(ranked, [q.gold for q, _ in items])
    return out


def objective(row: str, result: dict[str, dict], floor: float | None) -> tuple:
    if row == "supply_chain_own":
        m = result["upstream supplier"]
        ok = floor is None or m["R@10"] >= floor - 1e-9
        return (ok, m["P@10"], m["R@10"], m["MRR"])
    r10 = sum(m["R@10"] for m in result.values()) / len(result)
    mrr = sum(m["MRR"] for m in result.values()) / len(result)
    return (True, r10, mrr)


def grid(use_dense: bool) -> list[dict[str, float]]:
    keys = list(GRID)
    combos = []
    for values in itertools.product(*(GRID[k] for k in keys)):
        w = dict(zip(keys, values, strict=True))
        if not use_dense and w["dense"]:
            continue
        if sum(w.values()) > 0:
            combos.append(w)
    return combos


def best(
    row: str, per_task: dict[str, list[tuple[Query, Lists]]], combos: list[dict[str, float]], floor: float | None
) -> tuple[dict[str, float], dict]:
    scored = [(objective(row, r := score(row, per_task, w), floor), i, w, r) for i, w in enumerate(combos)]
    top = max(scored, key=lambda t: (t[0], -t[1]))
    return top[2], top[3]


def split(items: list, seed: int) -> tuple[list, list]:
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return [items[i] for i in order[:half]], [items[i] for i in order[half:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-dense", action="store_true", help="leave the dense channel out")
    ap.add_argument("--build", action="store_true", help="rebuild the evaluation database")
    ap.add_argument("--rows", default=",".join(ROWS), help="rows to tune: " + ", ".join(ROWS))
    args = ap.parse_args()
    settings = Settings.from_env()
    started = time.perf_counter()
    base, hidden_rows = build_base(
        settings, Path(settings.data_dir), args.hidden, args.seed, True, reuse=not args.build
    )
    rows = [r for r in args.rows.split(",") if r]
    tasks = build_tasks(
        base, Path(settings.data_dir), hidden_rows, args.limit, args.seed, [t for r in rows for t in ROWS[r]]
    )
    with session_scope(base) as session:
        engine = MatchEngine(base, use_dense=not args.no_dense, progress=sys.stderr.isatty()).build(session)
    print(f"engine built in {time.perf_counter() - started:.1f} s ({len(engine.profiles)} profiles)", file=sys.stderr)
    collected: dict[str, list[tuple[Query, Lists]]] = {}
    for task, queries in tasks.items():
        if task.startswith("_"):
            continue
        t0 = time.perf_counter()
        collected[task] = [(q, engine.channel_hits(q.text, q.type, POOL, CHANNELS)) for q in queries]
        print(
            f"{task}: {len(queries)} queries through every channel in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
    combos = grid(not args.no_dense)
    report: dict = {"machine": machine(), "combos": len(combos), "rows": {}}
    for row in rows:
        per_task = {t: collected[t] for t in ROWS[row]}
        shipped = dict(CHANNEL_WEIGHTS[row])
        row_combos = combos
        if row == "supply_chain_own":
            shipped["competitor"] = matching.COMPETITOR_FACTOR
            row_combos = [{**w, "competitor": f} for w in combos for f in COMPETITOR_FACTORS]
        shipped_result = score(row, per_task, shipped)
        floor = shipped_result["upstream supplier"]["R@10"] if row == "supply_chain_own" else None
        halves = {t: split(items, args.seed) for t, items in per_task.items()}
        held_out = {}
        for fold in (0, 1):
            train = {t: h[fold] for t, h in halves.items()}
            test = {t: h[1 - fold] for t, h in halves.items()}
            w, _ = best(row, train, row_combos, floor)
            held_out[f"fold{fold}"] = {
                "weights": w,
                "held_out": score(row, test, w),
                "shipped": score(row, test, shipped),
            }
        weights, result = best(row, per_task, row_combos, floor)
        report["rows"][row] = {
            "shipped_weights": shipped,
            "shipped": shipped_result,
            "tuned_weights": weights,
            "tuned": result,
            "cross_validation": held_out,
        }
        print(f"\n## {row}", file=sys.stderr)
        print(f"shipped {shipped}", file=sys.stderr)
        print(f"tuned   {weights}", file=sys.stderr)
        for task in per_task:
            print(f"  {task}: shipped {shipped_result[task]} -> tuned {result[task]}", file=sys.stderr)
        for fold, r in held_out.items():
            for task in per_task:
                print(
                    f"  {fold} held-out {task}: tuned {r['held_out'][task]} / shipped {r['shipped'][task]}",
                    file=sys.stderr,
                )
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
