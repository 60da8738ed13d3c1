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

import heapq
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from marketplace.errors import InputError, join, msg

SIDES = ("large", "sme")
DEFAULT_TIME_LIMIT_S = 10.0
#: above this many (meeting, slot) variables the CP-SAT model is restricted to the most promising
#: meetings (see :func:`_candidates`); the rest can still be placed by the greedy refill.
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
#: the largest weight a meeting may have: sums of weights (the objective) stay finite and exact
#: enough, whatever the number of meetings (the event service's weights stay below 1,200)
MAX_WEIGHT = 1_000_000_000

Id = Hashable


# --- input ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """A meeting's slot and table (both from 0)."""

    slot: int
    table: int


@dataclass(frozen=True)
class Participant:
    """One side of meetings: a large firm (``capacity`` = its representatives) or an SME."""

    id: Id
    side: str
    capacity: int
    available: frozenset[int]
    min_meetings: int = 0
    max_meetings: int | None = None  # a quota over the whole event (e.g. per large firm); None: no cap


@dataclass(frozen=True)
class Meeting:
    """An accepted 1:1 meeting request between participants ``a`` and ``b``."""

    id: Id
    a: Id
    b: Id
    weight: float
    locked: Placement | None = None


@dataclass(frozen=True)
class Instance:
    """A validated scheduling problem (build it with :func:`parse_instance`)."""

    slots: int
    tables: int
    participants: tuple[Participant, ...]
    meetings: tuple[Meeting, ...]
    previous: dict[Id, Placement] = field(default_factory=dict)
    time_limit_s: float = DEFAULT_TIME_LIMIT_S


# --- output -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    id: Id
    slot: int
    table: int


@dataclass(frozen=True)
class Unscheduled:
    """A meeting left out; ``code`` is one of REASON_CODES, ``reason`` says whose limit, in English."""

    id: Id
    code: str
    reason: str


REASON_CODES = {
    "no_capacity": "a participant has no representative (capacity 0) or the event has no tables",
    "no_common_slot": "the two participants share no available slot",
    "participant_full": "in every common slot one of the two is already at its capacity",
    "participant_max": "one of the two already has its max_meetings for the event",
    "tables_full": "in every common slot all tables are taken",
    "limits": "in every common slot a capacity or the tables are used up (a mix of both)",
    "time_limit": "a free place existed, but the time limit ended the search before it was used",
    "zero_weight": "a free place existed, but the meeting has weight 0",
}


@dataclass
class Stats:
    """What the solver achieved, by objective, and how."""

    status: str = "optimal"  # optimal | feasible | greedy
    weight: float = 0.0
    floor_shortfall: int = 0
    idle_slots: int = 0
    moved: int = 0
    kept: int = 0
    table_changes: int = 0
    model_meetings: int = 0
    model_vars: int = 0
    stages: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds: prep_greedy, cp_sat, tables_reasons


@dataclass
class Result:
    scheduled: list[Scheduled]
    unscheduled: list[Unscheduled]
    objective: float
    seconds: float
    stats: Stats

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheduled": [{"id": s.id, "slot": s.slot, "table": s.table} for s in self.scheduled],
            "unscheduled": [{"id": u.id, "reason": u.reason, "code": u.code} for u in self.unscheduled],
            "objective": self.objective,
            "seconds": self.seconds,
            "stats": {
                "status": self.stats.status,
                "weight": self.stats.weight,
                "floor_shortfall": self.stats.floor_shortfall,
                "idle_slots": self.stats.idle_slots,
                "moved": self.stats.moved,
                "kept": self.stats.kept,
                "table_changes": self.stats.table_changes,
                "model_meetings": self.stats.model_meetings,
                "model_vars": self.stats.model_vars,
                "stages": self.stats.stages,
                "phases": self.stats.phases,
            },
        }


# --- parsing ----------------------------------------------------------------------------------


def _int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(msg("%(name)s: expected a whole number, got %(value)r", name=name, value=value), field=name)
    if low is not None and value < low:
        raise InputError(
            msg("%(name)s: must be at least %(low)s, got %(value)s", name=name, low=low, value=value), field=name
        )
    if high is not None and value > high:
        raise InputError(
            msg("%(name)s: must be at most %(high)s, got %(value)s", name=name, high=high, value=value), field=name
        )
    return value


def _number(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(msg("%(name)s: expected a finite number, got %(value)r", name=name, value=value), field=name)
    if low is not None and value < low:
        raise InputError(
            msg("%(name)s: must be at least %(low)s, got %(value)s", name=name, low=low, value=value), field=name
        )
    if high is not None and value > high:
        raise InputError(
            msg("%(name)s: must be at most %(high)s, got %(value)s", name=name, high=high, value=value), field=name
        )
    return float(value)


def _ident(value: Any, name: str) -> Id:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InputError(
            msg("%(name)s: expected a non-empty string or integer id, got %(value)r", name=name, value=value),
            field=name,
        )
    return value


def _obj(value: Any, name: str, required: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(
            msg("%(name)s: expected an object, got %(type)s", name=name, type=type(value).__name__), field=name
        )
    for key in required:
        if key not in value:
            raise InputError(msg("%(name)s.%(key)s: missing", name=name, key=key), field=f"{name}.{key}")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(
            msg("%(name)s: expected a list, got %(type)s", name=name, type=type(value).__name__), field=name
        )
    return value


def _placement(value: Any, name: str, slots: int, tables: int) -> Placement:
    obj = _obj(value, name, ("slot", "table"))
    slot = _int(obj["slot"], f"{name}.slot", 0, slots - 1)
    if tables == 0:
        raise InputError(msg("%(name)s.table: the event has no tables", name=name), field=f"{name}.table")
    table = _int(obj["table"], f"{name}.table", 0, tables - 1)
    return Placement(slot, table)


def _parse_participant(raw: Any, name: str, slots: int) -> Participant:
    obj = _obj(raw, name, ("id", "side"))
    pid = _ident(obj["id"], f"{name}.id")
    side = obj["side"]
    if side not in SIDES:
        raise InputError(
            msg("%(name)s.side: must be 'large' or 'sme', got %(side)r", name=name, side=side), field=f"{name}.side"
        )
    capacity = _int(obj.get("capacity", 1), f"{name}.capacity", 0)
    if "available" in obj:
        raw_slots = _list(obj["available"], f"{name}.available")
        available = frozenset(_int(s, f"{name}.available[{k}]", 0, slots - 1) for k, s in enumerate(raw_slots))
    else:
        available = frozenset(range(slots))
    floor = _int(obj.get("min_meetings", 0), f"{name}.min_meetings", 0)
    cap_total = obj.get("max_meetings")
    if cap_total is not None:
        cap_total = _int(cap_total, f"{name}.max_meetings", 0)
    return Participant(pid, side, capacity, available, floor, cap_total)


def parse_instance(data: Any) -> Instance:
    """Validate a solver input dict (the JSON contract) into an :class:`Instance`.

    Raises :class:`InputError` whose ``field`` (and message) names the offending path, e.g.
    ``meetings[3].b`` for an unknown participant. Optional fields: ``capacity`` (default 1),
    ``available`` (default every slot), ``min_meetings`` (0), ``max_meetings`` (none), ``weight`` (1), ``locked``,
    ``previous`` (empty), ``time_limit_s`` (10).
    """
    top = _obj(data, "input", ("slots", "tables", "participants", "meetings"))
    slots = _int(top["slots"], "slots", 1, 10_000)
    tables = _int(top["tables"], "tables", 0)
    time_limit = _number(top.get("time_limit_s", DEFAULT_TIME_LIMIT_S), "time_limit_s", 0.0)
    if time_limit <= 0:
        raise InputError(msg("time_limit_s: must be positive"), field="time_limit_s")

    participants: list[Participant] = []
    by_id: dict[Id, Participant] = {}
    for i, raw in enumerate(_list(top["participants"], "participants")):
        p = _parse_participant(raw, f"participants[{i}]", slots)
        if p.id in by_id:
            raise InputError(
                msg("participants[%(i)s].id: duplicate id %(id)r", i=i, id=p.id), field=f"participants[{i}].id"
            )
        by_id[p.id] = p
        participants.append(p)

    meetings: list[Meeting] = []
    seen: set[Id] = set()
    locked_at: dict[tuple[int, int], str] = {}
    locked_load: dict[tuple[Id, int], int] = defaultdict(int)
    locked_total: dict[Id, int] = defaultdict(int)
    for i, raw in enumerate(_list(top["meetings"], "meetings")):
        name = f"meetings[{i}]"
        obj = _obj(raw, name, ("id", "a", "b"))
        mid = _ident(obj["id"], f"{name}.id")
        if mid in seen:
            raise InputError(msg("%(name)s.id: duplicate meeting id %(id)r", name=name, id=mid), field=f"{name}.id")
        seen.add(mid)
        ends = []
        for end in ("a", "b"):
            pid = _ident(obj[end], f"{name}.{end}")
            if pid not in by_id:
                raise InputError(
                    msg("%(name)s.%(end)s: unknown participant %(pid)r", name=name, end=end, pid=pid),
                    field=f"{name}.{end}",
                )
            ends.append(pid)
        if ends[0] == ends[1]:
            raise InputError(
                msg("%(name)s.b: a meeting of %(pid)r with itself", name=name, pid=ends[0]), field=f"{name}.b"
            )
        weight = _number(obj.get("weight", 1), f"{name}.weight", 0.0, MAX_WEIGHT)
        locked = None
        if obj.get("locked") is not None:
            locked = _placement(obj["locked"], f"{name}.locked", slots, tables)
            where = (locked.slot, locked.table)
            if where in locked_at:
                raise InputError(
                    msg(
                        "%(name)s.locked.table: table %(table)s in slot %(slot)s is already locked for %(other)s",
                        name=name,
                        table=locked.table,
                        slot=locked.slot,
                        other=locked_at[where],
                    ),
                    field=f"{name}.locked.table",
                )
            locked_at[where] = name
            for pid in ends:
                locked_total[pid] += 1
                quota = by_id[pid].max_meetings
                if quota is not None and locked_total[pid] > quota:
                    raise InputError(
                        msg(
                            "%(name)s.locked: participant %(pid)r has more locked meetings than its max_meetings "
                            "%(quota)s",
                            name=name,
                            pid=pid,
                            quota=quota,
                        ),
                        field=f"{name}.locked",
                    )
                locked_load[pid, locked.slot] += 1
                if locked_load[pid, locked.slot] > by_id[pid].capacity:
                    raise InputError(
                        msg(
                            "%(name)s.locked.slot: participant %(pid)r has more locked meetings in slot %(slot)s "
                            "than its capacity %(capacity)s",
                            name=name,
                            pid=pid,
                            slot=locked.slot,
                            capacity=by_id[pid].capacity,
                        ),
                        field=f"{name}.locked.slot",
                    )
        meetings.append(Meeting(mid, ends[0], ends[1], weight, locked))

    previous: dict[Id, Placement] = {}
    for i, raw in enumerate(_list(top.get("previous") or [], "previous")):
        name = f"previous[{i}]"
        obj = _obj(raw, name, ("id", "slot", "table"))
        mid = _ident(obj["id"], f"{name}.id")
        # numbers that the event no longer has (fewer slots or tables since) are not errors: the
        # slot then gives no preference, the table is numbered afresh
        slot = _int(obj["slot"], f"{name}.slot", 0)
        table = _int(obj["table"], f"{name}.table", 0)
        if mid in previous:
            raise InputError(msg("%(name)s.id: meeting %(id)r appears twice", name=name, id=mid), field=f"{name}.id")
        previous[mid] = Placement(slot, table if table < tables else -1)
    # the issue: entries of meetings no longer in the input are ignored; so are slots out of range
    previous = {mid: p for mid, p in previous.items() if mid in seen and p.slot < slots}
    return Instance(slots, tables, tuple(participants), tuple(meetings), previous, time_limit)


# --- the solver -------------------------------------------------------------------------------


class _Prep:
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


def _greedy(
    prep: _Prep, order: Iterable[int], start: dict[int, int] | None = None, swap: bool = True
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
    prep: _Prep,
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
    prep = _Prep(inst)
    if not floors:
        prep.floor = [0] * len(prep.floor)
    order = sorted(range(len(prep.a)), key=lambda k: -prep.w[k])
    placed = _greedy(prep, order)
    out = {inst.meetings[k].id: s for k, s in placed.items()}
    for m in inst.meetings:
        if m.locked is not None:
            out[m.id] = m.locked.slot
    return out


def _candidates(prep: _Prep, hint: dict[int, int], budget: int) -> list[int]:
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


class _Model:
    """The CP-SAT model of the candidates.

    Variables and constraints are written as protobuf text and parsed in one call before each
    solve: adding 10^5 variables one by one through the Python API costs seconds, parsing their
    text a fraction of that.
    """

    def __init__(
        self, prep: _Prep, ks: list[int], gaps: bool, exact: bool = False, fixed: dict[int, int] | None = None
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


def _idle_slots(busy_by_p: dict[int, set[int]]) -> int:
    return sum(max(b) - min(b) + 1 - len(b) for b in busy_by_p.values() if b)


def _assign_tables(prep: _Prep, placed: dict[int, int]) -> tuple[dict[int, int], int]:
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


def _reasons(prep: _Prep, placed: dict[int, int], timed_out: bool) -> dict[int, tuple[str, str]]:
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
    prep = _Prep(inst)
    # leave time for the table numbering and the reasons after the last stage
    reserve = min(0.3 * inst.time_limit_s, 1e-5 * sum(len(s) for s in prep.slots))
    deadline = start + inst.time_limit_s - reserve
    n = len(prep.a)
    stats = Stats()
    order = sorted(range(n), key=lambda k: -prep.w[k])
    greedy = _greedy(prep, order, start={k: s for k, s in prep.prev_slot.items() if s in prep.slots[k]})
    placed = dict(greedy)
    stats.phases["prep_greedy"] = round(time.perf_counter() - start, 3)
    status = "greedy"
    timed_out = False

    ks = _candidates(prep, greedy, max_vars)
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
            placed = _greedy(prep, order, start=placed, swap=False)  # refill seats the model freed
        status = "optimal" if all_optimal and len(ks) == movable else "feasible"

    stats.phases["cp_sat"] = round(time.perf_counter() - start - stats.phases["prep_greedy"], 3)
    post = time.perf_counter()
    tables, changes = _assign_tables(prep, placed)
    reasons = _reasons(prep, placed, timed_out)
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
    stats.floor_shortfall = _shortfall(prep, placed)
    stats.idle_slots = _idle_slots(busy)
    stats.kept = sum(1 for k, s in prep.prev_slot.items() if placed.get(k) == s)
    stats.moved = len(prep.prev_slot) - stats.kept
    stats.table_changes = changes
    stats.phases["tables_reasons"] = round(time.perf_counter() - post, 3)
    seconds = round(time.perf_counter() - start, 3)
    return Result(scheduled, unscheduled, round(weight, 6), seconds, stats)


def _staged(
    prep: _Prep,
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


def _moves_and_idle(prep: _Prep, placement: dict[int, int]) -> tuple[int, int]:
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
    return moves, _idle_slots(busy)


def _tidier(
    chosen: dict[int, int], prep: _Prep, fixed: dict[int, int], hint: dict[int, int], stats: Stats
) -> dict[int, int]:
    """The same meetings re-placed by the gap-aware greedy around the ``fixed`` ones, starting from
    their previous slots and then their slots in the ``hint`` (or from previous slots only): the
    first of these that places every meeting with fewer moves, then idle slots, than ``chosen`` is
    a cheap, better start for the last stage than a weight-stage solution whose slots are arbitrary."""
    free = sorted((k for k in chosen if k not in fixed), key=lambda k: -prep.w[k])
    prev = {k: prep.prev_slot[k] for k in free if k in prep.prev_slot}
    best, best_key = chosen, _moves_and_idle(prep, chosen)
    for start in ({**fixed, **{k: hint[k] for k in free if k in hint}, **prev}, {**fixed, **prev}):
        again = _greedy(prep, free, start=start, swap=False)
        if any(k not in again for k in chosen):
            continue
        key = _moves_and_idle(prep, again)
        if key < best_key:
            best, best_key = again, key
    if best is not chosen:
        stats.stages.append({"stage": "re-place (greedy)", "status": "kept: fewer moves or idle slots"})
    return best


def _lns(
    prep: _Prep, chosen: dict[int, int], deadline: float, workers: int, stats: Stats
) -> tuple[dict[int, int], int]:
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


def _shortfall(prep: _Prep, placed: dict[int, int]) -> int:
    count = list(prep.locked_count)
    for k in placed:
        count[prep.a[k]] += 1
        count[prep.b[k]] += 1
    return sum(max(0, f - c) for f, c in zip(prep.floor, count, strict=True))


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
