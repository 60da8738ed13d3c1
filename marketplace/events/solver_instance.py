"""The meeting scheduler's instance and result: participants, meetings and previous placements
as :func:`parse_instance` reads them from the JSON contract (checking every field, naming it in the
error), and the result (scheduled, unscheduled with a reason code, statistics) as
:class:`Result` writes it back. The solver is :mod:`marketplace.events.solver`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from marketplace.errors import InputError, msg

SIDES = ("large", "sme")
DEFAULT_TIME_LIMIT_S = 10.0
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
