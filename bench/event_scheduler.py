"""Benchmark: the event scheduler against its LP-relaxation bound and a weight-ordered greedy.

Usage: python bench/event_scheduler.py [--only quality,fairness,stability,big] [--seed 1]
       [--time-limit 2] [--big-time-limit 50] [--workers N] [--json]

Instances follow issue 10: 1,000 participants (200 large firms with 1-3 representatives, 800 SMEs),
10,000 accepted requests, 16 slots x 100 tables, 70-100 % availability, uniform or skewed (Zipf)
popularity of the large firms; and the big one: 10,000 participants, 100,000 requests, 16 x 1,000.
Prints a table (or JSON) of weight vs the LP bound (GLOP), greedy beside the solver, floors, idle
slots, stability (one busy large firm cancelled; 20 late requests) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import Any

from _common import machine, peak_rss_mb

from marketplace.events.solver import solve
from marketplace.events.solver_greedy import greedy_schedule
from marketplace.events.solver_instance import Instance, parse_instance


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
        {"id": f"S{i}", "side": "sme", "capacity": 1, "available": avail(), "min_meetings": floor} for i in range(n_sme)
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
        meetings.append(
            {"id": f"M{len(meetings)}", "a": f"L{lg}", "b": f"S{sm}", "weight": round(rnd.uniform(0.2, 1), 3)}
        )
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


def timed_solve(inst: Instance, workers: int | None) -> tuple[Any, float]:
    """solve() and the CPU seconds the process got meanwhile (all threads): wall time far above CPU
    time means the process waited for a core."""
    cpu = time.process_time()
    res = solve(inst, workers=workers)
    return res, round(time.process_time() - cpu, 3)


def phases(res: Any) -> str:
    """Seconds in prep+greedy / CP-SAT stages / tables+reasons."""
    ph = res.stats.phases
    return f"{ph.get('prep_greedy', 0)}/{ph.get('cp_sat', 0)}/{ph.get('tables_reasons', 0)}"


def pct(x: float, bound: float) -> float:
    return round(100 * x / bound, 3) if bound == bound and bound > 0 else float("nan")


def quality(skew: float, args: argparse.Namespace) -> dict[str, Any]:
    """Weight vs the LP bound, greedy beside the solver; idle slots of both."""
    data = generate(skew=skew, seed=args.seed, time_limit_s=args.time_limit)
    inst = parse_instance(data)
    bound, lp_s = lp_bound(inst)
    t0 = time.perf_counter()
    greedy = greedy_schedule(inst)
    greedy_s = time.perf_counter() - t0
    res, cpu_s = timed_solve(inst, args.workers)
    slot_of = {s.id: s.slot for s in res.scheduled}
    people = len(inst.participants)
    return {
        "case": f"weight, {'skewed' if skew else 'uniform'}",
        "lp_bound": round(bound, 3),
        "lp_s": round(lp_s, 2),
        "greedy_pct": pct(weight_of(inst, greedy), bound),
        "greedy_s": round(greedy_s, 3),
        "solver_pct": pct(res.objective, bound),
        "solver_s": res.seconds,
        "solver_cpu_s": cpu_s,
        "phases_s": phases(res),
        "status": res.stats.status,
        "idle_per_participant_greedy": round(idle_slots(inst, greedy) / people, 3),
        "idle_per_participant_solver": round(idle_slots(inst, slot_of) / people, 3),
        "stages": res.stats.stages,
    }


def reachable_smes(inst: Instance) -> int:
    """SMEs with a floor that some meeting could serve at all (a request with a common slot)."""
    people = {p.id: p for p in inst.participants}
    ok = set()
    for m in inst.meetings:
        pa, pb = people[m.a], people[m.b]
        if pa.capacity and pb.capacity and (pa.available & pb.available or m.locked):
            ok |= {m.a, m.b}
    return sum(1 for p in inst.participants if p.side == "sme" and p.min_meetings and p.id in ok)


def fairness(skew: float, args: argparse.Namespace) -> dict[str, Any]:
    """Floor 1 for every SME: SMEs left without a meeting, weight vs the LP bound with floors."""
    data = generate(skew=skew, seed=args.seed, floor=1, time_limit_s=args.time_limit)
    inst = parse_instance(data)
    bound, lp_s = lp_bound(inst, floors=True)
    plain = greedy_schedule(inst)
    fair_greedy = greedy_schedule(inst, floors=True)
    res, cpu_s = timed_solve(inst, args.workers)
    slot_of = {s.id: s.slot for s in res.scheduled}
    smes = sum(1 for p in inst.participants if p.side == "sme")
    return {
        "case": f"floor 1, {'skewed' if skew else 'uniform'}",
        "smes": smes,
        "smes_reachable": reachable_smes(inst),
        "without_meeting_weight_greedy": smes_without(inst, plain),
        "without_meeting_floor_greedy": smes_without(inst, fair_greedy),
        "without_meeting_solver": smes_without(inst, slot_of),
        "lp_bound_with_floors": round(bound, 3),
        "lp_s": round(lp_s, 2),
        "floor_greedy_pct": pct(weight_of(inst, fair_greedy), bound),
        "solver_pct": pct(res.objective, bound),
        "solver_s": res.seconds,
        "solver_cpu_s": cpu_s,
        "idle_per_participant_weight_only": round(idle_slots(inst, plain) / len(inst.participants), 3),
        "idle_per_participant_solver": round(idle_slots(inst, slot_of) / len(inst.participants), 3),
        "stages": res.stats.stages,
    }


def moved_share(before: dict[Any, tuple[int, int]], after: dict[Any, tuple[int, int]]) -> tuple[float, float]:
    """(% of meetings that changed slot or dropped out, % that changed only table) among ``before``."""
    if not before:
        return 0.0, 0.0
    slot_moves = sum(1 for k, (s, _t) in before.items() if k not in after or after[k][0] != s)
    table_moves = sum(1 for k, (s, t) in before.items() if k in after and after[k][0] == s and after[k][1] != t)
    return round(100 * slot_moves / len(before), 2), round(100 * table_moves / len(before), 2)


def stability(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Cancel the busiest large firm, or add 20 late requests, and re-solve from the schedule."""
    rows = []
    data = generate(seed=args.seed, time_limit_s=args.time_limit)
    first = solve(parse_instance(data), workers=args.workers)
    placed = {s.id: (s.slot, s.table) for s in first.scheduled}
    previous = [{"id": s.id, "slot": s.slot, "table": s.table} for s in first.scheduled]
    by_id = {m["id"]: m for m in data["meetings"]}
    busy: dict[str, int] = {}
    for mid in placed:
        a = by_id[mid]["a"]
        busy[a] = busy.get(a, 0) + 1
    firm = max(busy, key=busy.get)
    rnd = random.Random(args.seed + 7)
    pairs = {(m["a"], m["b"]) for m in data["meetings"]}
    late = []
    while len(late) < 20:
        a, b = f"L{rnd.randrange(200)}", f"S{rnd.randrange(800)}"
        if (a, b) not in pairs:
            pairs.add((a, b))
            late.append({"id": f"late{len(late)}", "a": a, "b": b, "weight": round(rnd.uniform(0.2, 1), 3)})
    cases = {
        f"cancel {firm} ({busy[firm]} meetings)": [m for m in data["meetings"] if m["a"] != firm],
        "20 late requests": data["meetings"] + late,
    }
    for label, meetings in cases.items():
        others = {k: v for k, v in placed.items() if by_id[k]["a"] != firm or label.startswith("20")}
        for mode, prev in (("with previous", previous), ("from scratch", None)):
            changed = {**data, "meetings": meetings, "time_limit_s": args.stability_time_limit}
            if prev is not None:
                changed["previous"] = prev
            res, cpu_s = timed_solve(parse_instance(changed), args.workers)
            after = {s.id: (s.slot, s.table) for s in res.scheduled}
            slot_pct, table_pct = moved_share(others, after)
            rows.append(
                {
                    "case": f"{label}, {mode}",
                    "moved_pct": slot_pct,
                    "table_only_pct": table_pct,
                    "weight_before": round(first.objective, 3),
                    "weight_after": res.objective,
                    "scheduled": len(res.scheduled),
                    "seconds": res.seconds,
                    "cpu_s": cpu_s,
                    "phases_s": phases(res),
                    "stages": res.stats.stages,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def big(args: argparse.Namespace) -> dict[str, Any]:
    """10,000 participants, 100,000 requests, 16 x 1,000: time and peak memory (own process)."""
    t0 = time.perf_counter()
    data = generate(2_000, 8_000, 100_000, 16, 1_000, seed=args.seed, time_limit_s=args.big_time_limit)
    inst = parse_instance(data)
    gen_s = time.perf_counter() - t0
    del data
    t0 = time.perf_counter()
    greedy = greedy_schedule(inst)
    greedy_s = time.perf_counter() - t0
    res, cpu_s = timed_solve(inst, args.workers)
    row = {
        "case": "10,000 / 100,000 / 16 x 1,000",
        "generate_s": round(gen_s, 1),
        "greedy_weight": round(weight_of(inst, greedy), 3),
        "greedy_s": round(greedy_s, 2),
        "solver_weight": res.objective,
        "solver_s": res.seconds,
        "solver_cpu_s": cpu_s,
        "phases_s": phases(res),
        "scheduled": len(res.scheduled),
        "model_meetings": res.stats.model_meetings,
        "model_vars": res.stats.model_vars,
        "idle_per_participant_greedy": round(idle_slots(inst, greedy) / len(inst.participants), 3),
        "idle_per_participant_solver": round(
            idle_slots(inst, {s.id: s.slot for s in res.scheduled}) / len(inst.participants), 3
        ),
        "peak_rss_mb": peak_rss_mb(),
        "stages": res.stats.stages,
    }
    if args.big_lp:
        bound, lp_s = lp_bound(inst, solver_id=args.big_lp)
        row.update(lp_bound=round(bound, 3), lp_s=round(lp_s, 1), solver_pct=pct(res.objective, bound))
        row["peak_rss_mb_with_lp"] = peak_rss_mb()
    return row


def table(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "stages"]
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="quality,fairness,stability")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--stability-time-limit", type=float, default=1.0)
    ap.add_argument("--big-time-limit", type=float, default=50.0)
    ap.add_argument("--big-lp", default="", help="also bound the big instance with this LP solver (GLOP, PDLP)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    parts = args.only.split(",")
    load_before = os.getloadavg()
    sections: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        if part == "quality":
            sections[part] = [quality(0.0, args), quality(1.0, args)]
        elif part == "fairness":
            sections[part] = [fairness(0.0, args), fairness(1.0, args)]
        elif part == "stability":
            sections[part] = stability(args)
        elif part == "big":
            sections[part] = [big(args)]
        else:
            ap.error(f"--only: unknown part {part!r}")
        for row in sections[part]:
            print(json.dumps(row), file=sys.stderr)
    if args.json:
        out = {"machine": machine(), "load": [load_before[0], os.getloadavg()[0]], "sections": sections}
        print(json.dumps({**out, "peak_rss_mb": peak_rss_mb()}, indent=1))
        return
    print(f"machine: {machine()}")
    print(
        f"load average (1 min) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
    )
    for part, rows in sections.items():
        print(f"\n### {part}\n")
        print(table(rows))
    print(f"\npeak RSS of this run: {peak_rss_mb()} MB")


if __name__ == "__main__":
    main()
