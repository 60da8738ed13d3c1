"""Tune the fusion weights per demand row on the evaluation tasks, with two-fold cross-validation.

Each query of the evaluation tasks is run once through every channel (`MatchEngine.channel_hits`,
the same candidate pools `match` fuses); then a grid of weights is fused offline with the engine's
own CombSUM (`embeddings.fusion.combsum`), so hundreds of weightings cost seconds. Rows and what
they are scored on:

- supply_chain      product→producer, product→producer filtered and paraphrase (R@10 pooled over
                    their queries, then MRR)
- supply_chain_own  upstream supplier ("我们生产P，需要上游原材料"): P@10 with R@10 kept at least
                    at the shipped weights' value
- rd                patent→holder (R@10, then MRR)

The queries are split in two halves (by a seeded shuffle): weights chosen on one half are scored on
the other, so the "held-out" numbers are not tuned on their own queries; the weights printed at
the end are chosen on all queries. Re-run it after a model change and copy the rows into
`CHANNEL_WEIGHTS` (marketplace/matching/engine.py).

Usage (after `python -m marketplace evaluate ...` built the evaluation database, or with --build):
  python bench/fusion_tune.py [--limit 1000] [--hidden 500] [--seed 13] [--no-dense] [--build]
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np
from _common import machine

from marketplace.config import Settings
from marketplace.db import session_scope
from marketplace.matching import engine as matching
from marketplace.matching.engine import CHANNEL_WEIGHTS, CHANNELS, POOL, MatchEngine, Retrieved, fuse
from marketplace.matching.evaluation import K, Query, build_base, build_tasks, metrics

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
COMPETITOR_FACTORS = (1.0, 0.5, 0.2, 0.0)  # tried on the supply_chain_own row


class Lists:
    """One query's channel hits as a matrix of max-normalised scores (candidates × channels), so
    that a weighting is one matrix-vector product; ranks exactly as `fuse` does (checked on the
    shipped weights at start-up)."""

    def __init__(self, retrieved: Retrieved, ignore: set[int]) -> None:
        self.retrieved = retrieved
        ids = sorted({h.doc_id for hits in retrieved.lists.values() for h in hits} - ignore)
        index = {fid: i for i, fid in enumerate(ids)}
        self.ids = np.array(ids, dtype=np.int64)
        self.matrix = np.zeros((len(ids), len(CHANNELS)))
        for c, channel in enumerate(CHANNELS):
            hits = retrieved.lists.get(channel, [])
            top = max((h.score for h in hits), default=0.0)
            if top <= 0:
                continue
            for h in hits:
                if h.score > 0 and h.doc_id in index:
                    self.matrix[index[h.doc_id], c] = h.score / top
        self.competitor = np.array([fid in retrieved.competitors for fid in ids], dtype=bool)


def rank(lists: Lists, weights: dict[str, float]) -> list[int]:
    vector = np.array([max(0.0, weights.get(c, 0.0)) for c in CHANNELS])
    scores = lists.matrix @ vector
    factor = weights.get("competitor", matching.COMPETITOR_FACTOR)
    if lists.competitor.any():
        scores = np.where(lists.competitor, scores * factor, scores)
    keep = scores > 0
    ids, scores = lists.ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:K]
    return ids[order].tolist()


def rank_by_fuse(lists: Lists, weights: dict[str, float], ignore: set[int]) -> list[int]:
    """The engine's own fusion, to check :func:`rank` against."""
    factor = weights.get("competitor", matching.COMPETITOR_FACTOR)
    matching.COMPETITOR_FACTOR, saved = factor, matching.COMPETITOR_FACTOR
    try:
        fused = fuse(lists.retrieved, {c: w for c, w in weights.items() if c != "competitor"})
    finally:
        matching.COMPETITOR_FACTOR = saved
    return [fid for fid, s in fused if fid not in ignore and s > 0][:K]


def score(row: str, per_task: dict[str, list[tuple[Query, Lists]]], weights: dict[str, float]) -> dict[str, dict]:
    out = {}
    for task, items in per_task.items():
        ranked = [rank(lists, weights) for _, lists in items]
        out[task] = metrics(ranked, [q.gold for q, _ in items])
    return out


sizes: dict[str, int] = {}  # queries per task (set in main)


def objective(row: str, result: dict[str, dict], floor: float | None) -> tuple:
    if row == "supply_chain_own":
        m = result["upstream supplier"]
        ok = floor is None or m["R@10"] >= floor - 1e-9
        return (ok, m["P@10"], m["R@10"], m["MRR"])
    # pooled over the row's queries: a 71-query task does not weigh as much as a 500-query one
    n = {task: sizes.get(task, 1) for task in result}
    total = sum(n.values()) or 1
    r10 = sum(m["R@10"] * n[t] for t, m in result.items()) / total
    mrr = sum(m["MRR"] * n[t] for t, m in result.items()) / total
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


def collect(base: Settings, tasks: dict, use_dense: bool, started: float) -> dict[str, list[tuple[Query, Lists]]]:
    """Every query through every channel once."""
    with session_scope(base) as session:
        engine = MatchEngine(base, use_dense=use_dense, progress=sys.stderr.isatty()).build(session)
    print(f"engine built in {time.perf_counter() - started:.1f} s ({len(engine.profiles)} profiles)", file=sys.stderr)
    collected: dict[str, list[tuple[Query, Lists]]] = {}
    for task, queries in tasks.items():
        if task.startswith("_"):
            continue
        t0 = time.perf_counter()
        collected[task] = []
        for q in queries:
            retrieved = engine.channel_hits(q.text, q.type, POOL, CHANNELS)
            retrieved.latent = None  # it holds the whole channel and is not needed to fuse
            collected[task].append((q, Lists(retrieved, q.ignore)))
        print(
            f"{task}: {len(queries)} queries through every channel in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
    return collected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-dense", action="store_true", help="leave the dense channel out")
    ap.add_argument("--build", action="store_true", help="rebuild the evaluation database")
    ap.add_argument("--rows", default=",".join(ROWS), help="rows to tune: " + ", ".join(ROWS))
    ap.add_argument("--cache", type=Path, help="keep the channel hits in this pickle; reuse it when it exists")
    ap.add_argument(
        "--candidates", help="JSON {row: [weights, ...]}: also score these (all queries and held-out halves)"
    )
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
    if args.cache and args.cache.is_file():
        collected = pickle.loads(args.cache.read_bytes())
    else:
        collected = collect(base, tasks, not args.no_dense, started)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(collected))
    checked, same = 0, 0
    for row, row_tasks in ROWS.items():
        for task in row_tasks:
            for q, lists in collected.get(task, [])[:50]:
                weights = {**CHANNEL_WEIGHTS[row], "competitor": matching.COMPETITOR_FACTOR}
                same += rank(lists, weights)[:10] == rank_by_fuse(lists, weights, q.ignore)[:10]
                checked += 1
    # float sums in another order can swap exact ties; anything more would be a bug
    print(f"matrix fusion: top 10 identical to the engine's fuse on {same} of {checked} queries", file=sys.stderr)
    sizes.update({task: len(items) for task, items in collected.items()})
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
        alone = {c: score(row, per_task, {c: 1.0, "competitor": 1.0}) for c in CHANNELS}
        for channel, res in alone.items():
            for task in per_task:
                print(f"  {channel} alone, {task}: {res[task]}", file=sys.stderr)
        for cand in json.loads(args.candidates).get(row, []) if args.candidates else []:
            cand = {**shipped, **cand}
            folds = [score(row, {t: h[1 - f] for t, h in halves.items()}, cand) for f in (0, 1)]
            print(f"  candidate {cand}: all {score(row, per_task, cand)}; held-out halves {folds}", file=sys.stderr)
        weights, result = best(row, per_task, row_combos, floor)
        report["rows"][row] = {
            "shipped_weights": shipped,
            "shipped": shipped_result,
            "tuned_weights": weights,
            "tuned": result,
            "cross_validation": held_out,
            "channels_alone": alone,
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
