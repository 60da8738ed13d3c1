"""Would the industries of similar patents' holders find the patent holders the engine misses?

A quality experiment for patent→holder (docs/benchmarks.md, "The industries of similar patents'
holders"): the k patent titles most similar to the query (BM25 over the evaluation database's
patents) vote for their holders' industries; a firm scores its industries' votes over
industry size ** p. The score is max-normalised and added to the shipped rd fusion of the channel
hits `bench/fusion_tune.py --cache` stored, so the baseline (weight 0) is the shipped engine in
the same run. Also prints how often the vote picks one of the holder's industries first, and the
R@10 of filling the top 10 with the voted industries' members in vote order (random within one),
for the holders with no other patent.

Usage (after `python bench/fusion_tune.py --rows rd --cache FILE` wrote FILE):
  python bench/industry_vote.py --cache FILE
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sqlite3
from collections import defaultdict
from pathlib import Path

import fusion_tune
import numpy as np
from _common import machine

from embeddings.lexical import LexicalChannel
from marketplace.config import Settings
from marketplace.matching.engine import CHANNEL_WEIGHTS, CHANNELS, DENSE_WEIGHTS_BY_MODEL
from marketplace.matching.evaluation import K, metrics

SETTINGS = ({"k": 30, "p": 1.0}, {"k": 30, "p": 0.5}, {"k": 30, "p": 0.0}, {"k": 100, "p": 0.5}, {"k": 10, "p": 0.5})
WEIGHTS = (0.0, 0.4, 0.8, 1.5)


class Facts:
    """Patents, their holders and the firms' industries of the evaluation database."""

    def __init__(self, db: Path) -> None:
        con = sqlite3.connect(db)
        titles = dict(con.execute("select id, title from patents"))
        self.holders: dict[int, set[int]] = defaultdict(set)
        self.patents_of: dict[int, set[int]] = defaultdict(set)
        for fid, pid in con.execute("select firm_id, patent_id from firm_patents"):
            self.holders[pid].add(fid)
            self.patents_of[fid].add(pid)
        self.industries: dict[int, set[int]] = defaultdict(set)
        self.members: dict[int, set[int]] = defaultdict(set)
        for fid, iid in con.execute("select firm_id, industry_id from firm_industries"):
            self.industries[fid].add(iid)
            self.members[iid].add(fid)
        ids = sorted(titles)
        self.index = LexicalChannel(ids, {"title": (1.0, [titles[i] for i in ids])})

    def industry_votes(self, text: str, k: int) -> dict[int, float]:
        hits = self.index.search(text, k)
        votes: dict[int, float] = defaultdict(float)
        for h in hits:
            for fid in self.holders[h.doc_id]:
                for iid in self.industries[fid]:
                    votes[iid] += h.score / hits[0].score / len(self.industries[fid])
        return votes

    def firm_scores(self, text: str, k: int, p: float) -> dict[int, float]:
        scores: dict[int, float] = defaultdict(float)
        for iid, vote in self.industry_votes(text, k).items():
            for fid in self.members[iid]:
                scores[fid] += vote / len(self.members[iid]) ** p
        return scores


def fused(items: list, votes: list[dict[int, float]], weight: float) -> list[list[int]]:
    shipped = {**CHANNEL_WEIGHTS["rd"], "dense": DENSE_WEIGHTS_BY_MODEL["chainmatch-zh-static"]["rd"]}
    vector = np.array([shipped.get(c, 0.0) for c in CHANNELS])
    ranked = []
    for (q, lists), vote in zip(items, votes, strict=True):
        top = sorted(vote.items(), key=lambda t: -t[1])[:100]
        ids = list(lists.ids) + [f for f, _ in top if f not in set(lists.ids) and f not in q.ignore]
        score = np.zeros(len(ids))
        score[: len(lists.ids)] = lists.matrix @ vector
        if top and weight:
            where = {f: i for i, f in enumerate(ids)}
            for fid, value in top:
                if fid in where:
                    score[where[fid]] += weight * value / top[0][1]
        order = np.argsort(-score, kind="stable")
        ranked.append([ids[i] for i in order if score[i] > 0][:K])
    return ranked


def pick_quality(facts: Facts, items: list) -> dict[str, float]:
    """For holders with no other patent: the vote's first industry right, one of the first three,
    and the expected R@10 of filling the top 10 by vote order (random within an industry)."""
    first = three = 0
    expected = 0.0
    n = 0
    for q, _ in items:
        holder = next(iter(q.gold))
        if facts.patents_of[holder] or not facts.industries[holder]:
            continue
        n += 1
        votes = facts.industry_votes(q.text, 30)
        order = sorted(votes, key=lambda i: -votes[i] / len(facts.members[i]) ** 0.5)
        first += bool(order and order[0] in facts.industries[holder])
        three += bool(set(order[:3]) & facts.industries[holder])
        slots, seen = 10, set()
        for iid in order:
            new = facts.members[iid] - seen
            if holder in new:
                expected += min(1.0, slots / len(new))
                break
            slots -= len(new)
            seen |= new
            if slots <= 0:
                break
    return {"queries": n, "first industry right": first / n, "one of three": three / n, "fill R@10": expected / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True, help="channel hits written by bench/fusion_tune.py --cache")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    collected = pickle.loads(args.cache.read_bytes())
    items = collected["patent→holder"]
    facts = Facts(Path(Settings.from_env().instance_dir) / "eval" / "base" / "marketplace.db")
    has_patents = [bool(facts.patents_of[next(iter(q.gold))]) for q, _ in items]
    order = list(range(len(items)))
    random.Random(args.seed).shuffle(order)
    halves = (set(order[: len(order) // 2]), set(order[len(order) // 2 :]))
    rows = []
    for setting in SETTINGS:
        votes = [facts.firm_scores(q.text, setting["k"], setting["p"]) for q, _ in items]
        alone = [[f for f, _ in sorted(v.items(), key=lambda t: -t[1])[:K]] for v in votes]
        row = {**setting, "alone R@10": metrics(alone, [q.gold for q, _ in items])["R@10"]}
        for weight in WEIGHTS:
            ranked = fused(items, votes, weight)

            def r10(keep: list[bool], ranked: list[list[int]] = ranked) -> float:
                kept = [i for i, k in enumerate(keep) if k]
                return metrics([ranked[i] for i in kept], [items[i][0].gold for i in kept])["R@10"]

            row[f"w{weight}"] = {
                "R@10": r10([True] * len(items)),
                "MRR": metrics(ranked, [q.gold for q, _ in items])["MRR"],
                "has other patents": r10(has_patents),
                "has none": r10([not h for h in has_patents]),
                "halves": [r10([i in half for i in range(len(items))]) for half in halves],
            }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    print(json.dumps({"machine": machine(), "pick": pick_quality(facts, items), "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    fusion_tune.Lists.__module__ = "__main__"  # the cache was pickled by fusion_tune run as a script
    import __main__

    __main__.Lists = fusion_tune.Lists
    main()
