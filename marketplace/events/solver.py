"""The meeting scheduler of chain-matching events (产业链对接活动): pure, no database.

An event has ``slots`` (numbered from 0) and ``tables`` per slot; participants (large firms with one
or more representatives, SMEs) say in which slots they are available; accepted meeting requests
carry a weight. :func:`solve` gives each meeting at most one slot and one table so that

* a participant has at most ``capacity`` meetings in a slot (its representatives), and only in a slot
  it is available in;
* no slot holds more meetings than there are tables;
* a participant with ``max_meetings`` has at most that many meetings in the event;
* locked meetings (already sent out, or checked in) keep their slot and table;

and optimises, in this order (lexicographically, one CP-SAT stage each):

1. fairness: the total shortfall below each participant's ``min_meetings`` floor;
2. the total weight of scheduled meetings;
3. with a ``previous`` schedule, the number of its meetings that change slot or drop out;
   then the idle slots inside each participant's day (between its first and last meeting).

A weight-ordered greedy that serves the floors first gives the first solution (CP-SAT hint, and the
fallback when the time limit leaves CP-SAT without one). Tables are numbered after the slots are
chosen, keeping locked and previous tables. Every unscheduled meeting gets a reason naming the
availability or limit that kept it out. The formulation is written out in docs/event-scheduler.md.

This module holds the CP-SAT model and its stages; the instance, its parsing and the result are
in :mod:`marketplace.events.solver_instance`, the greedy, the tables and the reasons in
:mod:`marketplace.events.solver_greedy`.

The JSON contract (``solve_json``, and ``python -m marketplace events solve``) is the issue's::

    {"slots": 16, "tables": 100,
     "participants": [{"id", "side": "large"|"sme", "capacity", "available": [slot...], "min_meetings",
                       "max_meetings"?}],
     "meetings": [{"id", "a", "b", "weight", "locked": {"slot", "table"}?}],
     "previous": [{"id", "slot", "table"}]?, "time_limit_s": 2}
    -> {"scheduled": [{"id", "slot", "table"}], "unscheduled": [{"id", "reason", "code"}],
        "objective", "seconds", "stats": {...}}
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from marketplace.events.solver_greedy import (
    Prep,
    assign_tables,
    candidates,
    greedy_fill,
    idle_slots,
    moves_and_idle,
    shortfall,
    unscheduled_reasons,
)
from marketplace.events.solver_instance import Instance, Result, Scheduled, Stats, Unscheduled, parse_instance

#: above this many (meeting, slot) variables the CP-SAT model is restricted to the most promising
#: meetings (see :func:`candidates`); the rest can still be placed by the greedy refill.
MAX_MODEL_VARS = 12_000
#: above this many variables CP-SAT skips its presolve and starts its search from the hint at once
PRESOLVE_MAX_VARS = 20_000
#: up to this many variables the stability/gap stage may still swap meetings of equal weight
EXACT_MAX_VARS = 20_000
#: meetings freed in one round of the large-instance gap search, and its time limit
LNS_MEETINGS = 40
LNS_ROUND_S = 0.2
#: estimated seconds to build the CP-SAT model, per variable (measured on the 2-core machine)
BUILD_S_PER_VAR = 1e-5
#: a CP-SAT stage is skipped when less time than this is left
MIN_STAGE_S = 0.1
#: print CP-SAT's search log (debugging)
LOG_SEARCH = False
_WEIGHT_SCALE = 1_000_000  # the largest weight becomes this integer in the CP-SAT objective


class _Model:
    """The CP-SAT model of the candidates.

    Variables and constraints are written as protobuf text and parsed in one call before each
    solve: adding 10^5 variables one by one through the Python API costs seconds, parsing their
    text a fraction of that.
    """

    def __init__(
        self, prep: Prep, ks: list[int], gaps: bool, exact: bool = False, fixed: dict[int, int] | None = None
    ) -> None:
        """x[k, s] for every meeting k of ``ks`` and slot s it could take; at most one slot each
        (exactly one with ``exact``: the selection is fixed, only the slots are chosen). ``fixed``
        meetings ({meeting: slot}, outside ``ks``) stay where they are and use up room."""
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        self.model = cp_model.CpModel()
        self._text: list[str] = []
        self.prep = prep
        self.ks = ks
        self.fixed = fixed or {}
        fixed_load: dict[tuple[int, int], int] = defaultdict(int)
        fixed_slot: dict[int, int] = defaultdict(int)
        fixed_count: dict[int, int] = defaultdict(int)
        for k, s in self.fixed.items():
            fixed_load[prep.a[k], s] += 1
            fixed_load[prep.b[k], s] += 1
            fixed_slot[s] += 1
            fixed_count[prep.a[k]] += 1
            fixed_count[prep.b[k]] += 1
        self.var: dict[tuple[int, int], int] = {}
        self.nvars = 0
        by_ps: dict[tuple[int, int], list[int]] = defaultdict(list)
        by_s: dict[int, list[int]] = defaultdict(list)
        self.by_p: dict[int, list[int]] = defaultdict(list)
        self.by_k: dict[int, list[int]] = {}
        for k in ks:
            row = []
            for s in prep.slots[k]:
                v = self._new(0, 1)
                self.var[k, s] = v
                row.append(v)
                by_ps[prep.a[k], s].append(v)
                by_ps[prep.b[k], s].append(v)
                by_s[s].append(v)
                self.by_p[prep.a[k]].append(v)
                self.by_p[prep.b[k]].append(v)
            self.by_k[k] = row
            if len(row) > 1 or exact:
                kind = "exactly_one" if exact else "at_most_one"
                lits = " literals: ".join(map(str, row))
                self._text.append(f"constraints {{ {kind} {{ literals: {lits} }} }}")
        for (p, s), vs in by_ps.items():
            room = prep.left[p].get(s, 0) - fixed_load[p, s]
            if len(vs) > room:
                self._linear(vs, [1] * len(vs), 0, room)
        for s, vs in by_s.items():
            room = prep.table_left[s] - fixed_slot[s]
            if len(vs) > room:
                self._linear(vs, [1] * len(vs), 0, room)
        for p, vs in self.by_p.items():
            if prep.most[p] is not None:
                room = prep.most[p] - prep.locked_count[p] - fixed_count[p]
                if len(vs) > room:
                    self._linear(vs, [1] * len(vs), 0, max(0, room))
        self.by_ps = by_ps
        self.idle: list[int] = []
        self.gap_layout: list[tuple[int, int, int, int, list[tuple[int, int]], int]] = []
        if gaps:
            self._gap_vars()

    def _new(self, lo: int, hi: int) -> int:
        self._text.append(f"variables {{ domain: {lo} domain: {hi} }}")
        self.nvars += 1
        return self.nvars - 1

    def _linear(self, vs: list[int], cs: list[int], lo: int, hi: int, enforce: int | None = None) -> None:
        head = f"constraints {{ enforcement_literal: {enforce} " if enforce is not None else "constraints { "
        self._text.append(
            f"{head}linear {{ vars: {' vars: '.join(map(str, vs))} coeffs: {' coeffs: '.join(map(str, cs))} "
            f"domain: {lo} domain: {hi} }} }}"
        )

    def flush(self) -> None:
        """Parse the variables and constraints written since the last flush into the model."""
        if self._text:
            self.model.proto.merge_text_format("\n".join(self._text))
            self._text = []

    def _gap_vars(self) -> None:
        """idle_p = last_p - first_p + any_p - sum_s busy_{p,s}: the empty slots inside p's day."""
        prep = self.prep
        S = prep.S
        fixed_busy: dict[int, set[int]] = defaultdict(set)
        for k, lk in enumerate(prep.locked):
            if lk is not None:
                fixed_busy[prep.a[k]].add(lk.slot)
                fixed_busy[prep.b[k]].add(lk.slot)
        for k, s in self.fixed.items():
            fixed_busy[prep.a[k]].add(s)
            fixed_busy[prep.b[k]].add(s)
        ps_slots: dict[int, set[int]] = defaultdict(set)
        for p, s in self.by_ps:
            ps_slots[p].add(s)
        for p in ps_slots:  # participants with only fixed meetings have a constant idle count
            slots = sorted(ps_slots[p] | fixed_busy[p])
            if len(slots) < 2 or (len(slots) == 2 and slots[1] == slots[0] + 1):
                continue  # no idle slot can arise
            first = self._new(0, S - 1)
            last = self._new(0, S - 1)
            anyb = self._new(0, 1)
            busy = []
            for s in slots:
                if s in fixed_busy[p]:
                    b = self._new(1, 1)
                else:
                    b = self._new(0, 1)
                    vs = self.by_ps[p, s]
                    cap = max(1, prep.cap[p])
                    # busy <= sum x  and  sum x <= cap * busy
                    self._linear([*vs, b], [1] * len(vs) + [-1], 0, len(vs))
                    self._linear([*vs, b], [1] * len(vs) + [-cap], -cap, 0)
                busy.append((s, b))
                self._linear([first], [1], 0, s, enforce=b)
                self._linear([last], [1], s, S - 1, enforce=b)
                self._linear([anyb, b], [1, -1], 0, 1)
            bs = [b for _, b in busy]
            self._linear([last, first], [1, -1], 0, S - 1)
            self._linear([anyb, *bs], [1] + [-1] * len(bs), -len(bs), 0)
            idle = self._new(0, S)
            # idle = last - first + any - sum busy
            self._linear([idle, last, first, anyb, *bs], [1, -1, 1, -1] + [1] * len(bs), 0, 0)
            self.idle.append(idle)
            self.gap_layout.append((p, first, last, anyb, busy, idle))

    def hint(self, placed: dict[int, int], extra: dict[int, int]) -> list[int]:
        """A complete solution from a placement: meeting, gap and ``extra`` variables."""
        vals = [0] * self.nvars
        busy: dict[int, set[int]] = defaultdict(set)
        for (k, s), v in self.var.items():
            if placed.get(k) == s:
                vals[v] = 1
        for k, s in placed.items():
            busy[self.prep.a[k]].add(s)
            busy[self.prep.b[k]].add(s)
        for k, lk in enumerate(self.prep.locked):
            if lk is not None:
                busy[self.prep.a[k]].add(lk.slot)
                busy[self.prep.b[k]].add(lk.slot)
        for k, s in self.fixed.items():
            busy[self.prep.a[k]].add(s)
            busy[self.prep.b[k]].add(s)
        for p, first, last, anyb, bvars, idle in self.gap_layout:
            on = [s for s, _ in bvars if s in busy[p]]
            for s, b in bvars:
                vals[b] = int(s in busy[p])
            if on:
                vals[first], vals[last], vals[anyb] = min(on), max(on), 1
                vals[idle] = max(on) - min(on) + 1 - len(on)
        for v, val in extra.items():
            vals[v] = val
        return vals

    def set_objective(self, terms: dict[int, int], offset: int = 0) -> None:
        obj = self.model.proto.objective
        obj.vars.clear()
        obj.coeffs.clear()
        items = [(v, c) for v, c in terms.items() if c]
        obj.vars.extend([v for v, _ in items])
        obj.coeffs.extend([c for _, c in items])
        obj.offset = offset
        obj.scaling_factor = 1

    def set_hint(self, values: Sequence[int]) -> None:
        hint = self.model.proto.solution_hint
        hint.vars.clear()
        hint.values.clear()
        hint.vars.extend(range(len(values)))
        hint.values.extend(values)

    def solve(self, seconds: float, workers: int) -> tuple[str, list[int] | None, float, float]:
        self.flush()
        solver = self.cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, seconds)
        solver.parameters.num_workers = workers
        solver.parameters.log_search_progress = LOG_SEARCH
        if self.nvars > PRESOLVE_MAX_VARS:
            # presolve of a large model can take the whole time limit; search from the hint instead
            solver.parameters.cp_model_presolve = False
        status = solver.solve(self.model)
        name = solver.status_name(status)
        if status in (self.cp_model.OPTIMAL, self.cp_model.FEASIBLE):
            return name, list(solver.response_proto.solution), solver.objective_value, solver.best_objective_bound
        return name, None, 0.0, 0.0


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def solve(inst: Instance, workers: int | None = None, max_vars: int = MAX_MODEL_VARS) -> Result:
    """Schedule ``inst`` (see the module docstring for constraints and objectives).

    ``workers``: CP-SAT threads (default: the machine's cores, at most 8). ``max_vars``: model size
    above which CP-SAT gets only the most promising meetings (docs/event-scheduler.md, Scale).
    """
    from ortools.sat.python import cp_model  # noqa: F401  (imported before the clock starts: ~1 s once)

    start = time.perf_counter()
    workers = workers or _workers()
    prep = Prep(inst)
    # leave time for the table numbering and the reasons after the last stage
    reserve = min(0.3 * inst.time_limit_s, 1e-5 * sum(len(s) for s in prep.slots))
    deadline = start + inst.time_limit_s - reserve
    n = len(prep.a)
    stats = Stats()
    order = sorted(range(n), key=lambda k: -prep.w[k])
    greedy = greedy_fill(prep, order, start={k: s for k, s in prep.prev_slot.items() if s in prep.slots[k]})
    placed = dict(greedy)
    stats.phases["prep_greedy"] = round(time.perf_counter() - start, 3)
    status = "greedy"
    timed_out = False

    ks = candidates(prep, greedy, max_vars)
    stats.model_meetings = len(ks)
    movable = sum(1 for k in range(n) if prep.slots[k])
    if not movable:
        status = "optimal"  # nothing to decide
    build_s = BUILD_S_PER_VAR * sum(len(prep.slots[k]) for k in ks)
    if ks and deadline - time.perf_counter() < build_s + MIN_STAGE_S:
        # no time to build and solve the model: the greedy schedule is the answer
        stats.stages.append({"stage": "cp-sat", "status": "SKIPPED (time limit)"})
        timed_out = True
    elif ks:
        in_model = set(ks)
        fixed = {k: s for k, s in greedy.items() if k not in in_model}
        placed, all_optimal = _staged(prep, ks, fixed, greedy, deadline, workers, stats)
        timed_out = not all_optimal
        if len(ks) < movable and time.perf_counter() < deadline:
            placed = greedy_fill(prep, order, start=placed, swap=False)  # refill seats the model freed
        status = "optimal" if all_optimal and len(ks) == movable else "feasible"

    stats.phases["cp_sat"] = round(time.perf_counter() - start - stats.phases["prep_greedy"], 3)
    post = time.perf_counter()
    tables, changes = assign_tables(prep, placed)
    reasons = unscheduled_reasons(prep, placed, timed_out)
    scheduled = []
    busy: dict[int, set[int]] = defaultdict(set)
    for k, m in enumerate(inst.meetings):
        s = m.locked.slot if m.locked is not None else placed.get(k)
        if s is None:
            continue
        scheduled.append(Scheduled(m.id, s, tables[k]))
        busy[prep.a[k]].add(s)
        busy[prep.b[k]].add(s)
    unscheduled = [Unscheduled(inst.meetings[k].id, *reasons[k]) for k in range(n) if k in reasons]
    weight = sum(prep.w[k] for k in range(n) if k in placed or prep.locked[k] is not None)
    stats.status = status
    stats.weight = round(weight, 6)
    stats.floor_shortfall = shortfall(prep, placed)
    stats.idle_slots = idle_slots(busy)
    stats.kept = sum(1 for k, s in prep.prev_slot.items() if placed.get(k) == s)
    stats.moved = len(prep.prev_slot) - stats.kept
    stats.table_changes = changes
    stats.phases["tables_reasons"] = round(time.perf_counter() - post, 3)
    seconds = round(time.perf_counter() - start, 3)
    return Result(scheduled, unscheduled, round(weight, 6), seconds, stats)


def _staged(
    prep: Prep,
    ks: list[int],
    fixed: dict[int, int],
    placed: dict[int, int],
    deadline: float,
    workers: int,
    stats: Stats,
) -> tuple[dict[int, int], bool]:
    """The lexicographic CP-SAT stages over the meetings ``ks`` (``fixed`` ones stay put), each
    keeping the previous optimum as a constraint; ``placed`` is the hint.

    Returns the whole placement (fixed included) and whether every stage was proven optimal.
    """
    model = _Model(prep, ks, gaps=False, fixed=fixed)
    xs = list(model.var.items())
    max_w = max((prep.w[k] for k in ks), default=0.0)
    scale = _WEIGHT_SCALE / max_w if max_w > 0 else 0.0
    wint = {v: int(round(prep.w[k] * scale)) for (k, _s), v in xs}
    all_optimal = True

    # fairness: sh_p >= need_p - sum x, for every participant still short of its floor
    short: dict[int, int] = {}
    extra: dict[int, int] = {}
    count = list(prep.locked_count)
    for k in placed:
        count[prep.a[k]] += 1
        count[prep.b[k]] += 1
    have = list(prep.locked_count)
    for k in fixed:
        have[prep.a[k]] += 1
        have[prep.b[k]] += 1
    for p in range(len(prep.cap)):
        need = prep.floor[p] - have[p]
        if need <= 0:
            continue
        vs = model.by_p.get(p, [])
        sh = model._new(0, need)
        model._linear([sh, *vs], [1] * (len(vs) + 1), need, need + len(vs))
        short[sh] = 1
        extra[sh] = max(0, prep.floor[p] - count[p])
    stats.model_vars = model.nvars
    values = model.hint(placed, extra)
    model.set_hint(values)

    def run(label: str, share: float) -> list[int] | None:
        nonlocal all_optimal
        left = deadline - time.perf_counter()
        if left < MIN_STAGE_S:
            all_optimal = False
            stats.stages.append({"stage": label, "status": "SKIPPED (time limit)"})
            return None
        budget = max(MIN_STAGE_S, left * share)
        t0 = time.perf_counter()
        name, sol, obj, bound = model.solve(budget, workers)
        stats.model_vars = max(stats.model_vars, model.nvars)
        stats.stages.append(
            {
                "stage": label,
                "status": name,
                "objective": obj,
                "bound": bound,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        all_optimal = all_optimal and name == "OPTIMAL"
        return sol

    if short:
        best_short = sum(values[v] for v in short)
        if best_short > 0:
            model.set_objective(short)
            sol = run("floors", 0.25)
            if sol is not None and sum(sol[v] for v in short) <= best_short:
                values = sol
                best_short = sum(values[v] for v in short)
                model.set_hint(values)
        model._linear(list(short), [1] * len(short), 0, best_short)
    # total weight; ties broken towards the hint's slots (each kept slot counts 1, one unit of
    # weight counts more than all of them), so the slots stay gap-aware and previous ones stay put
    unit = len(ks) + 1
    terms = {v: -c * unit for v, c in wint.items()}
    for (k, s), v in xs:
        if placed.get(k) == s:
            terms[v] -= 1
    model.set_objective(terms)
    sol = run("weight", 0.4)
    if sol is not None and sum(wint[v] * sol[v] for v in wint) >= sum(wint[v] * values[v] for v in wint):
        values = sol
    chosen = _tidier({**fixed, **{k: s for (k, s), v in xs if values[v]}}, prep, fixed, placed, stats)
    # moves away from the previous schedule, then idle slots. A large model is replaced by one of
    # the chosen meetings only (weight and floors stay as they are), which re-slots them.
    if not chosen:
        return chosen, all_optimal
    if deadline - time.perf_counter() < MIN_STAGE_S:
        stats.stages.append({"stage": "stability+gaps", "status": "SKIPPED (time limit)"})
        return chosen, False
    if model.nvars <= EXACT_MAX_VARS:
        # small: the same model, its weight held at the optimum, so equal-weight swaps are allowed
        best_w = sum(wint[v] * values[v] for v in wint)
        model._linear(list(wint), list(wint.values()), best_w, sum(wint.values()))
        model._gap_vars()
        values = model.hint(chosen, {v: values[v] for v in short})
    else:
        placed, _rounds = _lns(prep, chosen, deadline, workers, stats)
        return placed, False
    model.set_hint(values)
    idle_cap = prep.S * (len(model.idle) + 1)
    terms: dict[int, int] = dict.fromkeys(model.idle, 1)
    for k, s in prep.prev_slot.items():
        v = model.var.get((k, s))
        if v is not None:
            terms[v] = terms.get(v, 0) - idle_cap  # keeping it saves a move
    if terms:
        model.set_objective(terms)
        before = sum(c * values[v] for v, c in terms.items())
        sol = run("stability+gaps" if prep.prev_slot else "gaps", 1.0)
        if sol is not None and sum(c * sol[v] for v, c in terms.items()) <= before:
            values = sol
    result = {**fixed, **{k: s for (k, s), v in xs if values[v]}}
    if fixed and deadline - time.perf_counter() > MIN_STAGE_S:
        # the frontier model was re-slotted exactly; the fixed meetings get the neighbourhood search
        result, _rounds = _lns(prep, result, deadline, workers, stats)
    return result, all_optimal and not fixed


def _tidier(
    chosen: dict[int, int], prep: Prep, fixed: dict[int, int], hint: dict[int, int], stats: Stats
) -> dict[int, int]:
    """The same meetings re-placed by the gap-aware greedy around the ``fixed`` ones, starting from
    their previous slots and then their slots in the ``hint`` (or from previous slots only): the
    first of these that places every meeting with fewer moves, then idle slots, than ``chosen`` is
    a cheap, better start for the last stage than a weight-stage solution whose slots are arbitrary."""
    free = sorted((k for k in chosen if k not in fixed), key=lambda k: -prep.w[k])
    prev = {k: prep.prev_slot[k] for k in free if k in prep.prev_slot}
    best, best_key = chosen, moves_and_idle(prep, chosen)
    for start in ({**fixed, **{k: hint[k] for k in free if k in hint}, **prev}, {**fixed, **prev}):
        again = greedy_fill(prep, free, start=start, swap=False)
        if any(k not in again for k in chosen):
            continue
        key = moves_and_idle(prep, again)
        if key < best_key:
            best, best_key = again, key
    if best is not chosen:
        stats.stages.append({"stage": "re-place (greedy)", "status": "kept: fewer moves or idle slots"})
    return best


def _lns(prep: Prep, chosen: dict[int, int], deadline: float, workers: int, stats: Stats) -> tuple[dict[int, int], int]:
    """Large-neighbourhood search for the stability/gap stage of a large instance.

    Each round frees the chosen meetings among a small group of participants (one with idle slots,
    its partners and theirs, up to LNS_MEETINGS meetings), keeps every other meeting where it is,
    and lets CP-SAT re-slot the freed ones to the fewest moves, then the fewest idle slots, in the
    group. A round is kept only if it is no worse, so weight and floors never change.
    Returns the placement and the number of improving rounds.
    """
    rnd = random.Random(0)
    current = dict(chosen)
    of_p: dict[int, list[int]] = defaultdict(list)
    for k in current:
        of_p[prep.a[k]].append(k)
        of_p[prep.b[k]].append(k)
    locked_busy: dict[int, set[int]] = defaultdict(set)
    for k, lk in enumerate(prep.locked):
        if lk is not None:
            locked_busy[prep.a[k]].add(lk.slot)
            locked_busy[prep.b[k]].add(lk.slot)
    rounds = improved = 0
    t0 = time.perf_counter()
    moved_prev = {k for k, s in prep.prev_slot.items() if k in current and current[k] != s}

    def idle_of(p: int) -> int:
        b = {current[k] for k in of_p[p]} | locked_busy[p]
        return max(b) - min(b) + 1 - len(b) if b else 0

    while deadline - time.perf_counter() > MIN_STAGE_S:
        seeds = [p for p in of_p if idle_of(p) > 0] + [prep.a[k] for k in moved_prev]
        if not seeds:
            break
        group = {rnd.choice(seeds)}
        frontier = list(group)
        ks: set[int] = set()
        while frontier and len(ks) < LNS_MEETINGS:
            p = frontier.pop(0)
            for k in of_p[p]:
                for q in (prep.a[k], prep.b[k]):
                    if q not in group:
                        group.add(q)
                        frontier.append(q)
            ks = {k for q in group for k in of_p[q] if prep.a[k] in group and prep.b[k] in group}
        if not ks:
            continue
        fixed = {k: s for k, s in current.items() if k not in ks}
        model = _Model(prep, sorted(ks), gaps=True, exact=True, fixed=fixed)
        idle_cap = prep.S * (len(model.idle) + 1)
        terms: dict[int, int] = dict.fromkeys(model.idle, 1)
        for k in ks:
            v = model.var.get((k, prep.prev_slot.get(k, -1)))
            if v is not None:
                terms[v] = terms.get(v, 0) - idle_cap
        if not terms:
            continue
        values = model.hint(current, {})
        model.set_hint(values)
        model.set_objective(terms)
        before = sum(c * values[v] for v, c in terms.items())
        budget = min(LNS_ROUND_S, deadline - time.perf_counter())
        _name, sol, _obj, _bound = model.solve(budget, workers)
        rounds += 1
        if sol is not None and sum(c * sol[v] for v, c in terms.items()) < before:
            improved += 1
            for (k, s), v in model.var.items():
                if sol[v]:
                    current[k] = s
            moved_prev = {k for k, s in prep.prev_slot.items() if k in current and current[k] != s}
    stats.stages.append(
        {
            "stage": "stability+gaps (LNS)" if prep.prev_slot else "gaps (LNS)",
            "status": f"{improved} of {rounds} rounds improved",
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    return current, improved


def solve_json(data: dict[str, Any]) -> dict[str, Any]:
    """Solve a scheduling problem given as the issue's JSON contract; return the contract's answer.

    Input: ``{"slots": int >= 1, "tables": int >= 0,
    "participants": [{"id": str|int, "side": "large"|"sme", "capacity": int >= 0 (default 1),
    "available": [slot, ...] (default all), "min_meetings": int >= 0 (default 0),
    "max_meetings": int >= 0 or null (default null: no cap over the event)}],
    "meetings": [{"id": str|int, "a": participant id, "b": participant id,
    "weight": number from 0 to MAX_WEIGHT (default 1), "locked": {"slot", "table"} (optional)}],
    "previous": [{"id", "slot", "table"}] (optional; ids not in meetings are ignored),
    "time_limit_s": number > 0 (default 10)}``. Slots and tables are numbered from 0.

    Output: ``{"scheduled": [{"id", "slot", "table"}], "unscheduled": [{"id", "reason", "code"}],
    "objective": total weight scheduled, "seconds": wall time, "stats": {status, weight,
    floor_shortfall, idle_slots, moved, kept, table_changes, model_meetings, model_vars, stages,
    phases}}``. ``code`` is one of :data:`REASON_CODES`. Raises :class:`InputError` (with
    ``field``) on bad input. This signature and contract are stable: the event service
    (marketplace/events/scheduling.py) builds ``data`` from the database and calls it.
    """
    return solve(parse_instance(data)).as_dict()
