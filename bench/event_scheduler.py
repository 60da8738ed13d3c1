"""Benchmark: the event scheduler against its LP-relaxation bound and a weight-ordered greedy.

Usage: python bench/event_scheduler.py [--only quality,fairness,stability,big] [--seed 1]
       [--time-limit 2] [--big-time-limit 55] [--workers N] [--json]

Instances follow issue 10: 1,000 participants (200 large firms with 1-3 representatives, 800 SMEs),
10,000 accepted requests, 16 slots x 100 tables, 70-100 % availability, uniform or skewed (Zipf)
popularity of the large firms; and the big one: 10,000 participants, 100,000 requests, 16 x 1,000.
Prints a table (or JSON) of weight vs the LP bound (GLOP), greedy beside the solver, floors, idle
slots, stability (one busy large firm cancelled; 20 late requests) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from _common import machine, peak_rss_mb

from marketplace.services.event_scheduler import Instance, greedy_schedule, parse_instance, solve


def generate(
    n_large: int = 200,
    n_sme: int = 800,
    n_requests: int = 10_000,
    slots: int = 16,
    tables: int = 100,
    skew: float = 0.0,
    floor: int = 0,
    seed: int = 1,
    time_limit_s: float = 2.0,
) -> dict[str, Any]:
    """A solver input dict: requests pair a large firm (chosen with Zipf exponent ``skew``; 0 is
    uniform) with a uniformly chosen SME; weights are match scores in [0.2, 1.0]."""
    rnd = random.Random(seed)

    def avail() -> list[int]:
        share = rnd.uniform(0.7, 1.0)
        return sorted(rnd.sample(range(slots), max(1, round(share * slots))))

    participants = [
        {"id": f"L{i}", "side": "large", "capacity": rnd.randint(1, 3), "available": avail(), "min_meetings": 0}
        for i in range(n_large)
    ] + [
        {"id": f"S{i}", "side": "sme", "capacity": 1, "available": avail(), "min_meetings": floor}
        for i in range(n_sme)
    ]
    popularity = [1 / (r + 1) ** skew for r in range(n_large)]
    pairs: set[tuple[int, int]] = set()
    meetings = []
    while len(meetings) < n_requests:
        lg = rnd.choices(range(n_large), popularity)[0] if skew else rnd.randrange(n_large)
        sm = rnd.randrange(n_sme)
        if (lg, sm) in pairs:
            continue
        pairs.add((lg, sm))
        meetings.append({"id": f"M{len(meetings)}", "a": f"L{lg}", "b": f"S{sm}", "weight": round(rnd.uniform(0.2, 1), 3)})
    return {
        "slots": slots,
        "tables": tables,
        "participants": participants,
        "meetings": meetings,
        "time_limit_s": time_limit_s,
    }


def lp_bound(inst: Instance, floors: bool = False, solver_id: str = "GLOP") -> tuple[float, float]:
    """The LP relaxation's optimum of total weight (with the floors as constraints when asked):
    (bound, seconds). Locked meetings are fixed at their slot."""
    from ortools.linear_solver import pywraplp

    t0 = time.perf_counter()
    lp = pywraplp.Solver.CreateSolver(solver_id)
    pidx = {p.id: k for k, p in enumerate(inst.participants)}
    by_ps: dict[tuple[int, int], list[Any]] = {}
    by_s: dict[int, list[Any]] = {}
    by_p: dict[int, list[Any]] = {}
    objective = lp.Objective()
    for m in inst.meetings:
        a, b = pidx[m.a], pidx[m.b]
        pa, pb = inst.participants[a], inst.participants[b]
        if m.locked is not None:
            common = [m.locked.slot]
        elif min(pa.capacity, pb.capacity) == 0 or inst.tables == 0:
            continue
        else:
            common = sorted(pa.available & pb.available)
        row = []
        for s in common:
            lo = 1.0 if m.locked is not None else 0.0
            x = lp.NumVar(lo, 1.0, "")
            objective.SetCoefficient(x, m.weight)
            row.append(x)
            by_ps.setdefault((a, s), []).append(x)
            by_ps.setdefault((b, s), []).append(x)
            by_s.setdefault(s, []).append(x)
            by_p.setdefault(a, []).append(x)
            by_p.setdefault(b, []).append(x)
        if len(row) > 1:
            lp.Add(sum(row) <= 1)
    for (p, _s), xs in by_ps.items():
        if len(xs) > inst.participants[p].capacity:
            lp.Add(sum(xs) <= inst.participants[p].capacity)
    for xs in by_s.values():
        if len(xs) > inst.tables:
            lp.Add(sum(xs) <= inst.tables)
    if floors:
        for p, part in enumerate(inst.participants):
            if part.min_meetings:
                lp.Add(sum(by_p.get(p, [])) >= min(part.min_meetings, len(by_p.get(p, []))))
    objective.SetMaximization()
    status = lp.Solve()
    if status != pywraplp.Solver.OPTIMAL:
        return float("nan"), time.perf_counter() - t0
    return objective.Value(), time.perf_counter() - t0


def idle_slots(inst: Instance, slot_of: dict[Any, int]) -> int:
    busy: dict[Any, set[int]] = {}
    for m in inst.meetings:
        s = slot_of.get(m.id)
        if s is not None:
            busy.setdefault(m.a, set()).add(s)
            busy.setdefault(m.b, set()).add(s)
    return sum(max(b) - min(b) + 1 - len(b) for b in busy.values())


def smes_without(inst: Instance, slot_of: dict[Any, int]) -> int:
    met = {m.a for m in inst.meetings if m.id in slot_of} | {m.b for m in inst.meetings if m.id in slot_of}
    return sum(1 for p in inst.participants if p.side == "sme" and p.min_meetings and p.id not in met)


def weight_of(inst: Instance, slot_of: dict[Any, int]) -> float:
    return sum(m.weight for m in inst.meetings if m.id in slot_of)


def quality(skew: float, args: argparse.Namespace) -> dict[str, Any]:
    data = generate(skew=skew, seed=args.seed, time_limit_s=args.time_limit)
    inst = parse_instance(data)
    bound, lp_s = lp_bound(inst)
    t0 = time.perf_counter()
    greedy = greedy_schedule(inst)
    greedy_s = time.perf_counter() - t0
    res = solve(inst, workers=args.workers)
    slot_of = {s.id: s.slot for s in res.scheduled}
    return {
        "case": f"weight, {'skewed' if skew else 'uniform'}",
        "lp_bound": round(bound, 3),
        "lp_s": round(lp_s, 2),
        "greedy_pct": round(100 * weight_of(inst, greedy) / bound, 3),
        "greedy_s": round(greedy_s, 3),
        "solver_pct": round(100 * res.objective / bound, 3),
        "solver_s": res.seconds,
        "status": res.stats.status,
        "idle_greedy": idle_slots(inst, greedy),
        "idle_solver": idle_slots(inst, slot_of),
        "stages": res.stats.stages,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="quality,fairness,stability,big")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--big-time-limit", type=float, default=55.0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    rows: list[dict[str, Any]] = []
    if "quality" in parts:
        for skew in (0.0, 1.0):
            rows.append(quality(skew, args))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps({"machine": machine(), "rows": rows, "peak_rss_mb": peak_rss_mb()}, indent=1))


if __name__ == "__main__":
    main()
