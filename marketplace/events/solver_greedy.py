"""The scheduler's greedy side: the instance as arrays (:class:`Prep`), the weight-ordered greedy
that serves the floors first (the CP-SAT hint, the fallback, the refill after a stage and the
baseline :func:`greedy_schedule`), the candidates the CP-SAT model is restricted to on large
instances, numbering the tables, and the reason each unscheduled meeting got."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable

from marketplace.errors import join, msg
from marketplace.events.solver_instance import Id, Instance


class Prep:
    """Index arrays of an instance: participants and meetings by position, feasible slots, loads."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.S = inst.slots
        self.T = inst.tables
        self.pidx = {p.id: k for k, p in enumerate(inst.participants)}
        self.cap = [p.capacity for p in inst.participants]
        self.avail = [p.available for p in inst.participants]
        self.floor = [p.min_meetings for p in inst.participants]
        self.most = [p.max_meetings for p in inst.participants]
        self.a = [self.pidx[m.a] for m in inst.meetings]
        self.b = [self.pidx[m.b] for m in inst.meetings]
        self.w = [m.weight for m in inst.meetings]
        self.locked = [m.locked for m in inst.meetings]
        # residual capacities once locked meetings are placed
        self.table_left = [self.T] * self.S
        self.left: list[dict[int, int]] = [{s: self.cap[p] for s in self.avail[p]} for p in range(len(self.cap))]
        self.locked_count = [0] * len(self.cap)
        for k, lk in enumerate(self.locked):
            if lk is None:
                continue
            self.table_left[lk.slot] -= 1
            for p in (self.a[k], self.b[k]):
                self.locked_count[p] += 1
                if lk.slot in self.left[p]:
                    self.left[p][lk.slot] -= 1
        # the slots an unlocked meeting could ever take
        self.slots: list[list[int]] = []
        for k in range(len(self.a)):
            if self.locked[k] is not None or self.T == 0:
                self.slots.append([])
                continue
            pa, pb = self.a[k], self.b[k]
            if self.cap[pa] == 0 or self.cap[pb] == 0:
                self.slots.append([])
                continue
            self.slots.append(sorted(self.avail[pa] & self.avail[pb]))
        self.prev_slot: dict[int, int] = {}
        index = {m.id: k for k, m in enumerate(inst.meetings)}
        for mid, place in inst.previous.items():
            k = index[mid]
            if self.locked[k] is None:
                self.prev_slot[k] = place.slot


def greedy_fill(
    prep: Prep, order: Iterable[int], start: dict[int, int] | None = None, swap: bool = True
) -> dict[int, int]:
    """Place meetings in ``order``, each in its first slot (after ``start``'s) with room for it.

    Serves participants below their floor first: a first pass schedules, for each participant short
    of its floor, its best meetings; a second pass goes through ``order`` (usually weight descending).
    Returns {meeting index: slot} for the unlocked meetings placed, including ``start``.
    """
    left = [dict(d) for d in prep.left]
    tables = list(prep.table_left)
    count = list(prep.locked_count)
    busy: list[set[int]] = [set() for _ in prep.cap]
    for k, lk in enumerate(prep.locked):
        if lk is not None:
            busy[prep.a[k]].add(lk.slot)
            busy[prep.b[k]].add(lk.slot)
    placed: dict[int, int] = {}
    order = list(order)

    most = prep.most

    def fits(k: int, s: int) -> bool:
        pa, pb = prep.a[k], prep.b[k]
        if (most[pa] is not None and count[pa] >= most[pa]) or (most[pb] is not None and count[pb] >= most[pb]):
            return False
        return tables[s] > 0 and left[pa].get(s, 0) > 0 and left[pb].get(s, 0) > 0

    def put(k: int, s: int) -> None:
        placed[k] = s
        tables[s] -= 1
        for p in (prep.a[k], prep.b[k]):
            left[p][s] -= 1
            count[p] += 1
            busy[p].add(s)

    def more_idle(p: int, s: int) -> int:
        """How many idle slots p's day gains (or loses, < 0) with a meeting in slot s."""
        b = busy[p]
        if not b or s in b:
            return 0
        lo, hi = min(b), max(b)
        return (max(hi, s) - min(lo, s) + 1 - len(b) - 1) - (hi - lo + 1 - len(b))

    def best_slot(k: int) -> int | None:
        """A free slot for meeting k that adds the fewest idle slots to the two participants' days."""
        options = [s for s in prep.slots[k] if fits(k, s)]
        if not options:
            return None
        pa, pb = prep.a[k], prep.b[k]
        return min(options, key=lambda s: (more_idle(pa, s) + more_idle(pb, s), -tables[s], s))

    for k, s in (start or {}).items():
        if fits(k, s):
            put(k, s)
    if any(prep.floor):
        by_p: dict[int, list[int]] = defaultdict(list)
        for k in order:
            for p in (prep.a[k], prep.b[k]):
                if prep.floor[p]:
                    by_p[p].append(k)
        # the participants with the fewest options first
        for p in sorted(by_p, key=lambda p: len(by_p[p])):
            for k in by_p[p]:
                if count[p] >= prep.floor[p]:
                    break
                if k in placed:
                    continue
                s = best_slot(k)
                if s is not None:
                    put(k, s)
    for k in order:
        if k not in placed:
            s = best_slot(k)
            if s is not None:
                put(k, s)
    if start and swap:
        _swap_in(prep, placed, order, left, tables, count, busy, put, best_slot)
    return placed


def _swap_in(
    prep: Prep,
    placed: dict[int, int],
    order: list[int],
    left: list[dict[int, int]],
    tables: list[int],
    count: list[int],
    busy: list[set[int]],
    put: Callable[[int, int], None],
    best_slot: Callable[[int], int | None],
) -> None:
    """After a greedy that kept a previous schedule first: let a heavier waiting meeting take the
    table of the lightest meeting in a slot where both its participants are free (that one is then
    placed elsewhere if it fits, else it waits). Never below a floor; locked meetings are not in
    ``placed`` and never move."""
    heaps: list[list[tuple[float, int]]] = [[] for _ in range(prep.S)]
    for j, s in placed.items():
        heapq.heappush(heaps[s], (prep.w[j], j))

    def lightest(s: int) -> tuple[float, int] | None:
        h = heaps[s]
        while h and placed.get(h[0][1]) != s:
            heapq.heappop(h)
        return h[0] if h else None

    def remove(j: int) -> None:
        s = placed.pop(j)
        tables[s] += 1
        for p in (prep.a[j], prep.b[j]):
            left[p][s] += 1
            count[p] -= 1
            if left[p][s] == prep.cap[p]:  # no other meeting of p in s (locked ones lower the cap)
                busy[p].discard(s)

    floor_of = prep.floor
    for k in order:
        if k in placed:
            continue
        pa, pb = prep.a[k], prep.b[k]
        if any(prep.most[p] is not None and count[p] >= prep.most[p] for p in (pa, pb)):
            continue
        for s in prep.slots[k]:
            if left[pa].get(s, 0) <= 0 or left[pb].get(s, 0) <= 0:
                continue
            top = lightest(s) if tables[s] <= 0 else None
            if tables[s] <= 0:
                if top is None or top[0] >= prep.w[k]:
                    continue
                j = top[1]
                if count[prep.a[j]] <= floor_of[prep.a[j]] or count[prep.b[j]] <= floor_of[prep.b[j]]:
                    continue
                remove(j)
                put(k, s)
                heapq.heappush(heaps[s], (prep.w[k], k))
                again = best_slot(j)
                if again is not None:
                    put(j, again)
                    heapq.heappush(heaps[again], (prep.w[j], j))
            else:
                put(k, s)
                heapq.heappush(heaps[s], (prep.w[k], k))
            break


def greedy_schedule(inst: Instance, floors: bool = False) -> dict[Id, int]:
    """The weight-ordered greedy baseline: {meeting id: slot} (locked meetings included).

    With ``floors`` it first gives each participant below its ``min_meetings`` its best meetings.
    """
    prep = Prep(inst)
    if not floors:
        prep.floor = [0] * len(prep.floor)
    order = sorted(range(len(prep.a)), key=lambda k: -prep.w[k])
    placed = greedy_fill(prep, order)
    out = {inst.meetings[k].id: s for k, s in placed.items()}
    for m in inst.meetings:
        if m.locked is not None:
            out[m.id] = m.locked.slot
    return out


def candidates(prep: Prep, hint: dict[int, int], budget: int) -> list[int]:
    """The meetings given CP-SAT variables: all of them when they fit in ``budget`` variables.

    Otherwise the frontier where the hint can improve: previous meetings the hint dropped, the
    meetings of participants the hint leaves below their floor, then, alternately, the heaviest
    meetings left out and the lightest meetings taken, until the budget is spent. The hint's
    other meetings stay fixed in their slots (see :func:`solve`).
    """
    movable = [k for k in range(len(prep.a)) if prep.slots[k]]
    if sum(len(prep.slots[k]) for k in movable) <= budget:
        return movable
    count = list(prep.locked_count)
    for k in hint:
        count[prep.a[k]] += 1
        count[prep.b[k]] += 1
    short = {p for p in range(len(count)) if count[p] < prep.floor[p]}
    dropped = [k for k in prep.prev_slot if k not in hint and prep.slots[k]]
    floor_ks = [k for k in movable if k not in hint and (prep.a[k] in short or prep.b[k] in short)]
    out_heavy = sorted((k for k in movable if k not in hint), key=lambda k: -prep.w[k])
    in_light = sorted(hint, key=lambda k: prep.w[k])
    frontier = [k for pair in zip(out_heavy, in_light, strict=False) for k in pair]
    frontier += out_heavy[len(in_light) :] + in_light[len(out_heavy) :]
    chosen: list[int] = []
    seen: set[int] = set()
    used = 0
    for k in dropped + floor_ks + frontier:
        if k in seen:
            continue
        if used + len(prep.slots[k]) > budget:
            break
        seen.add(k)
        chosen.append(k)
        used += len(prep.slots[k])
    return chosen


def idle_slots(busy_by_p: dict[int, set[int]]) -> int:
    return sum(max(b) - min(b) + 1 - len(b) for b in busy_by_p.values() if b)


def assign_tables(prep: Prep, placed: dict[int, int]) -> tuple[dict[int, int], int]:
    """Number the tables of each slot: locked keep theirs, previous keep theirs where free, the rest
    prefer the table their large-side participant already sits at. Returns (tables, table changes)."""
    inst = prep.inst
    taken: list[set[int]] = [set() for _ in range(prep.S)]
    table: dict[int, int] = {}
    for k, lk in enumerate(prep.locked):
        if lk is not None:
            table[k] = lk.table
            taken[lk.slot].add(lk.table)
    changes = 0
    rest = []
    for k, s in sorted(placed.items(), key=lambda ks: (ks[1], ks[0])):
        prev = inst.previous.get(inst.meetings[k].id)
        if prev is not None and prev.slot == s and prev.table >= 0 and prev.table not in taken[s]:
            table[k] = prev.table
            taken[s].add(prev.table)
        else:
            changes += prev is not None and prev.slot == s
            rest.append(k)
    home: dict[int, int] = {}
    sides = [p.side for p in inst.participants]
    for k in rest:
        s = placed[k]
        pa, pb = prep.a[k], prep.b[k]
        anchor = pa if sides[pa] == "large" or sides[pb] != "large" else pb
        want = home.get(anchor)
        if want is None or want in taken[s]:
            want = next(t for t in range(prep.T) if t not in taken[s])
        table[k] = want
        taken[s].add(want)
        home.setdefault(anchor, want)
    return table, changes


def unscheduled_reasons(prep: Prep, placed: dict[int, int], timed_out: bool) -> dict[int, tuple[str, str]]:
    """Why each unscheduled meeting is out: whose availability or which limit, per common slot."""
    inst = prep.inst
    pid = [p.id for p in inst.participants]
    S = prep.S
    load = [[0] * S for _ in prep.cap]
    low_p = [[math.inf] * S for _ in prep.cap]  # lightest meeting holding participant p in slot s
    per_slot = [0] * S
    low_s = [math.inf] * S
    every = dict(placed)
    for k, lk in enumerate(prep.locked):
        if lk is not None:
            every[k] = lk.slot
    total = [0] * len(prep.cap)
    for k, s in every.items():
        w = prep.w[k]
        for p in (prep.a[k], prep.b[k]):
            total[p] += 1
            load[p][s] += 1
            if w < low_p[p][s]:
                low_p[p][s] = w
        per_slot[s] += 1
        if w < low_s[s]:
            low_s[s] = w
    out: dict[int, tuple[str, str]] = {}
    for k in range(len(prep.a)):
        if k in every:
            continue
        pa, pb = prep.a[k], prep.b[k]
        if prep.T == 0:
            out[k] = ("no_capacity", msg("the event has no tables"))
            continue
        zero = [pid[p] for p in (pa, pb) if prep.cap[p] == 0]
        if zero:
            out[k] = ("no_capacity", msg("participant %(pid)r has capacity 0 (no representative)", pid=zero[0]))
            continue
        if not prep.slots[k]:
            if not prep.avail[pa] or not prep.avail[pb]:
                who = pid[pa] if not prep.avail[pa] else pid[pb]
                out[k] = ("no_common_slot", msg("participant %(pid)r is available in no slot", pid=who))
            else:
                out[k] = (
                    "no_common_slot",
                    msg(
                        "no common available slot: %(a)r is available in %(slots_a)s, %(b)r in %(slots_b)s",
                        a=pid[pa],
                        slots_a=sorted(prep.avail[pa]),
                        b=pid[pb],
                        slots_b=sorted(prep.avail[pb]),
                    ),
                )
            continue
        at_most = [p for p in (pa, pb) if prep.most[p] is not None and total[p] >= prep.most[p]]
        if at_most:
            p = at_most[0]
            out[k] = (
                "participant_max",
                msg("%(pid)r already has its maximum of %(most)s meetings", pid=pid[p], most=prep.most[p]),
            )
            continue
        full_p: dict[int, list[int]] = defaultdict(list)
        full_t: list[int] = []
        low = math.inf
        free = []
        load_a, load_b, cap_a, cap_b = load[pa], load[pb], prep.cap[pa], prep.cap[pb]
        for s in prep.slots[k]:
            blocked = False
            if load_a[s] >= cap_a:
                full_p[pa].append(s)
                low = min(low, low_p[pa][s])
                blocked = True
            if load_b[s] >= cap_b:
                full_p[pb].append(s)
                low = min(low, low_p[pb][s])
                blocked = True
            if per_slot[s] >= prep.T:
                full_t.append(s)
                low = min(low, low_s[s])
                blocked = True
            if not blocked:
                free.append(s)
        if free:
            if prep.w[k] == 0:
                out[k] = ("zero_weight", msg("slot %(slot)s was free but the meeting has weight 0", slot=free[0]))
            else:
                if timed_out:
                    out[k] = (
                        "time_limit",
                        msg("slot %(slot)s was free but the time limit ended the search", slot=free[0]),
                    )
                else:
                    out[k] = (
                        "limits",
                        msg("slot %(slot)s was free but it was left for the model's other goals", slot=free[0]),
                    )
            continue
        parts = [
            msg("%(pid)r is at its capacity %(cap)s in slot(s) %(slots)s", pid=pid[p], cap=prep.cap[p], slots=ss)
            for p, ss in full_p.items()
        ]
        if full_t:
            parts.append(msg("all %(tables)s tables are taken in slot(s) %(slots)s", tables=prep.T, slots=full_t))
        code = "limits" if full_p and full_t else ("participant_full" if full_p else "tables_full")
        if low < math.inf:
            if low >= prep.w[k]:
                parts.append(
                    msg(
                        "the meetings holding those places weigh %(low)g or more (this one %(weight)g)",
                        low=low,
                        weight=prep.w[k],
                    )
                )
            else:
                parts.append(
                    msg(
                        "a meeting holding one of those places weighs less (%(low)g, this one %(weight)g) but "
                        "moving it would cost more (fairness floors, locked meetings or the other limits)",
                        low=low,
                        weight=prep.w[k],
                    )
                )
        out[k] = (code, join(parts))
    return out


def moves_and_idle(prep: Prep, placement: dict[int, int]) -> tuple[int, int]:
    """(previous meetings not in their previous slot, idle slots of every participant)."""
    moves = sum(1 for k, s in prep.prev_slot.items() if placement.get(k) != s)
    busy: dict[int, set[int]] = defaultdict(set)
    for k, s in placement.items():
        busy[prep.a[k]].add(s)
        busy[prep.b[k]].add(s)
    for k, lk in enumerate(prep.locked):
        if lk is not None:
            busy[prep.a[k]].add(lk.slot)
            busy[prep.b[k]].add(lk.slot)
    return moves, idle_slots(busy)


def shortfall(prep: Prep, placed: dict[int, int]) -> int:
    count = list(prep.locked_count)
    for k in placed:
        count[prep.a[k]] += 1
        count[prep.b[k]] += 1
    return sum(max(0, f - c) for f, c in zip(prep.floor, count, strict=True))
