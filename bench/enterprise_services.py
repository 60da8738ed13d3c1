"""Benchmark of the enterprise services (docs/benchmarks.md, section "Enterprise services").

1. Policy matching: every firm of the database (30,717 on the full data) against 500 generated
   policies in batch (numpy masks), one firm against the same 500 (read from the database and
   explained rule by rule), and as baseline the per-pair Python evaluation on a sample, extrapolated.
2. Consortium: a 20-lot procurement project over the full data: candidates from the matching
   engine (two ranked lists per lot), then CP-SAT for three line-ups; a greedy pick of the best
   candidate per lot is the baseline (time and objective).

The firms' own figures (revenue, R&D share ...) are private data the public sets do not hold, so
the benchmark draws them at random in memory (nothing is written). Run it on an instance with the
full data imported:

    MARKETPLACE_INSTANCE_DIR=instance/full .venv/bin/python -m marketplace demo load
    MARKETPLACE_INSTANCE_DIR=instance/full .venv/bin/python -m marketplace index build
    MARKETPLACE_INSTANCE_DIR=instance/full .venv/bin/python bench/enterprise_services.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from marketplace.config import Settings  # noqa: E402
from marketplace.db import init_db, session_scope  # noqa: E402
from marketplace.enterprise import (  # noqa: E402
    consortia,
    policies,
    policy_rules,
)
from marketplace.models import Firm, Industry, Policy, PolicyStatus, ProcurementProject, Product, Tier  # noqa: E402

REGIONS = ["上海", "江苏", "浙江", "广东", "北京", "山东", "安徽", "福建"]
LOT_PRODUCTS = [
    "锂电池隔膜",
    "电解液",
    "正极材料",
    "负极材料",
    "光伏玻璃",
    "逆变器",
    "光伏组件",
    "硅片",
    "储能变流器",
    "电池管理系统",
    "铜箔",
    "铝箔",
    "连接器",
    "功率半导体",
    "传感器",
    "线束",
    "液冷板",
    "电机",
    "减速器",
    "工业机器人",
]


def random_policies(rng: random.Random, n: int, industries: list[str], products: list[str]) -> list[Policy]:
    out = []
    for i in range(n):
        rules: list[dict] = []
        if rng.random() < 0.6:
            rules.append({"field": "tier", "min": rng.choice([t.value for t in Tier])})
        if rng.random() < 0.5:
            rules.append({"field": "kind", "in": ["sme"]})
        if rng.random() < 0.4:
            rules.append({"field": "industry", "any": rng.sample(industries, 2)})
        if rng.random() < 0.3:
            rules.append({"field": "chain", "any": rng.sample(products, 3)})
        if rng.random() < 0.5:
            rules.append({"field": "rd_share", "min": rng.choice([3, 5, 8])})
        if rng.random() < 0.4:
            rules.append({"field": "revenue", "max": rng.choice([5000, 20000, 40000])})
        if rng.random() < 0.3:
            rules.append({"field": "employees", "max": rng.choice([100, 300, 1000])})
        if rng.random() < 0.2:
            rules.append({"field": "age_years", "min": rng.choice([2, 3, 5])})
        region = rng.choice(REGIONS) if rng.random() < 0.6 else None
        out.append(
            Policy(
                id=i + 1,
                title=f"bench policy {i}",
                issuer="bench",
                region=region,
                rules=policy_rules.validate_rules(rules),
                status=PolicyStatus.PUBLISHED,
            )
        )
    return out


def add_random_figures(rng: random.Random, facts: list[policy_rules.FirmFacts]) -> None:
    for f in facts:
        if rng.random() < 0.7:
            f.figures = {
                **f.figures,
                "revenue": rng.uniform(300, 60000),
                "rd_share": rng.uniform(0, 15),
                "employees": rng.randint(5, 2000),
                "years_in_business": rng.randint(0, 30),
            }


def bench_policies(settings: Settings, n_policies: int, rng: random.Random) -> None:
    with session_scope(settings) as s:
        t0 = time.perf_counter()
        facts = policy_rules.load_facts(s)
        load_s = time.perf_counter() - t0
        industries = list(s.scalars(select(Industry.name).where(Industry.code.is_not(None)).limit(400)))
        products = list(s.scalars(select(Product.name).limit(3000)))
        add_random_figures(rng, facts)
        pols = random_policies(rng, n_policies, industries, products)

        t0 = time.perf_counter()
        batch = policies.match_batch(pols, facts)
        batch_s = time.perf_counter() - t0
        counts = batch.counts()

        sample = rng.sample(facts, 300)
        t0 = time.perf_counter()
        for f in sample:
            for p in pols:
                policies.evaluate(p, f)
        per_firm_python = (time.perf_counter() - t0) / len(sample)

        firm_ids = [f.firm_id for f in rng.sample(facts, 50)]
        single = []
        for fid in firm_ids:
            t0 = time.perf_counter()
            policies.match_firm(s, fid, policies=pols)
            single.append(time.perf_counter() - t0)
        s.rollback()
    print(f"policy matching: {len(facts):,} firms x {len(pols)} policies")
    print(f"  load facts from the database:       {load_s:8.2f} s")
    print(
        f"  batch (numpy masks):                {batch_s:8.3f} s  -> {counts['qualifies']:,} qualifying pairs, "
        f"{counts['nearly']:,} nearly"
    )
    print(
        f"  baseline per-pair Python (est.):    {per_firm_python * len(facts):8.1f} s  "
        f"({per_firm_python * 1000:.1f} ms a firm x {len(facts):,})"
    )
    single.sort()
    print(
        f"  one firm, read + 500 explained:     median {statistics.median(single) * 1000:.1f} ms, "
        f"p95 {single[int(0.95 * len(single)) - 1] * 1000:.1f} ms, max {single[-1] * 1000:.1f} ms"
    )


def bench_consortium(settings: Settings, lots: int, use_dense: bool, rng: random.Random) -> None:
    from marketplace.matching.engine import MatchEngine

    with session_scope(settings) as s:
        t0 = time.perf_counter()
        engine = MatchEngine(settings, use_dense=use_dense).build(s)
        build_s = time.perf_counter() - t0
        owner = s.scalar(select(Firm.id).where(Firm.stock_code == "300750")) or s.scalar(select(Firm.id))
        spec = {
            "title": "bench 20-lot project",
            "sme_share": 0.3,
            "lots": [
                {"title": f"第{i + 1}包 {name}", "products": [name], "budget": rng.choice([200, 500, 800, 1500])}
                for i, name in enumerate((LOT_PRODUCTS * 2)[:lots])
            ],
        }
        project = consortia.create_project(s, owner, spec)
        engine.match("预热 warm-up 锂电池", "supply_chain", top_k=5)
        from ortools.sat.python import cp_model  # noqa: F401  (imported once per process, as in the app)

        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            candidates = consortia.lot_candidates(engine, project)
            t1 = time.perf_counter()
            solved = consortia.solve_lineups(project, candidates, count=3)
            t2 = time.perf_counter()
            runs.append((t1 - t0, t2 - t1, t2 - t0))
        t0 = time.perf_counter()
        greedy = {
            lot.id: max(cs, key=lambda c: c.score) for lot, cs in ((lo, candidates[lo.id]) for lo in project.lots)
        }
        greedy_s = time.perf_counter() - t0
        total = sum(lot.budget for lot in project.lots)
        greedy_sme = sum(lot.budget for lot in project.lots if greedy[lot.id].is_sme) / total
        best = solved["lineups"][0] if solved["lineups"] else None
        s.rollback()
    assert isinstance(project, ProcurementProject)
    print(f"consortium: {lots} lots over {len(engine.profiles):,} firm profiles (dense channel: {use_dense})")
    print(f"  engine build (once per process):    {build_s:8.1f} s")
    for i, (cand_s, solve_s, all_s) in enumerate(runs, start=1):
        print(f"  run {i}: candidates {cand_s:6.3f} s + CP-SAT 3 line-ups {solve_s:6.3f} s = {all_s:6.3f} s")
    totals = sorted(r[2] for r in runs)
    print(
        f"  median of {len(runs)} runs: {statistics.median(totals):.3f} s "
        f"(min {totals[0]:.3f} s, max {totals[-1]:.3f} s)"
    )
    if best:
        print(
            f"  CP-SAT: {solved['status']}, {best['member_count']} members, SME share {best['sme_share']:.0%} "
            f"(reserved 30%), objective {best['objective']}"
        )
    print(
        f"  baseline greedy best-per-lot:       {greedy_s * 1000:8.2f} ms, {len({c.firm_id for c in greedy.values()})} "
        f"members, SME share {greedy_sme:.0%} (ignores the reserved share)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--no-dense", action="store_true", help="Consortium without the dense channel.")
    parser.add_argument("--only", choices=["policies", "consortium"])
    args = parser.parse_args()
    settings = Settings.from_env()
    init_db(settings)
    rng = random.Random(13)
    if args.only in (None, "policies"):
        bench_policies(settings, args.policies, rng)
    if args.only in (None, "consortium"):
        bench_consortium(settings, args.lots, not args.no_dense, rng)


if __name__ == "__main__":
    main()
