"""The event scheduler (marketplace.events.solver) and its CLI `events solve`: every
output is checked by an independent feasibility checker; locked, previous, floors, reasons, bad
input, and a property test against brute force on small instances."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.cli import cli
from marketplace.errors import InputError
from marketplace.events.solver import solve_json
from marketplace.events.solver_greedy import greedy_schedule
from marketplace.events.solver_instance import MAX_WEIGHT, REASON_CODES, parse_instance

ROOT = Path(__file__).resolve().parent.parent


# --- the independent checker ----------------------------------------------------------------


def check_schedule(data: dict[str, Any], out: dict[str, Any]) -> None:
    """Assert that ``out`` is a feasible answer to ``data`` under the contract, from the raw JSON."""
    slots, tables = data["slots"], data["tables"]
    people = {p["id"]: p for p in data["participants"]}
    meetings = {m["id"]: m for m in data["meetings"]}
    assert set(out) >= {"scheduled", "unscheduled", "objective", "seconds"}
    ids = [s["id"] for s in out["scheduled"]] + [u["id"] for u in out["unscheduled"]]
    assert Counter(ids) == Counter(list(meetings)), "every meeting exactly once, scheduled or not"
    seats: set[tuple[int, int]] = set()
    load: Counter[tuple[Any, int]] = Counter()
    for s in out["scheduled"]:
        m = meetings[s["id"]]
        assert 0 <= s["slot"] < slots and 0 <= s["table"] < tables
        assert (s["slot"], s["table"]) not in seats, f"table {s['table']} double-booked in slot {s['slot']}"
        seats.add((s["slot"], s["table"]))
        if m.get("locked"):
            assert (s["slot"], s["table"]) == (m["locked"]["slot"], m["locked"]["table"]), "locked meeting moved"
        for pid in (m["a"], m["b"]):
            p = people[pid]
            if not m.get("locked"):
                assert s["slot"] in p.get("available", range(slots)), f"{pid} not available in {s['slot']}"
            load[pid, s["slot"]] += 1
            assert load[pid, s["slot"]] <= p.get("capacity", 1), f"{pid} over capacity in slot {s['slot']}"
    for m in meetings.values():
        if m.get("locked"):
            assert m["id"] in {s["id"] for s in out["scheduled"]}, "locked meeting dropped"
    total = Counter()
    for s in out["scheduled"]:
        total[meetings[s["id"]]["a"]] += 1
        total[meetings[s["id"]]["b"]] += 1
    for pid, p in people.items():
        assert p.get("max_meetings") is None or total[pid] <= p["max_meetings"], f"{pid} over max_meetings"
    for u in out["unscheduled"]:
        assert u["reason"] and u["code"] in REASON_CODES
    weight = sum(meetings[s["id"]].get("weight", 1) for s in out["scheduled"])
    assert out["objective"] == pytest.approx(weight)


def solved(data: dict[str, Any]) -> dict[str, Any]:
    data.setdefault("time_limit_s", 5)
    out = solve_json(data)
    check_schedule(data, out)
    return out


def slots_of(out: dict[str, Any]) -> dict[Any, int]:
    return {s["id"]: s["slot"] for s in out["scheduled"]}


def reason_of(out: dict[str, Any], mid: Any) -> dict[str, Any]:
    return next(u for u in out["unscheduled"] if u["id"] == mid)


def person(pid: str, side: str = "sme", capacity: int = 1, available=None, floor: int = 0) -> dict[str, Any]:
    p: dict[str, Any] = {"id": pid, "side": side, "capacity": capacity, "min_meetings": floor}
    if available is not None:
        p["available"] = list(available)
    return p


def meet(mid: str, a: str, b: str, weight: float = 1, locked=None) -> dict[str, Any]:
    m: dict[str, Any] = {"id": mid, "a": a, "b": b, "weight": weight}
    if locked is not None:
        m["locked"] = {"slot": locked[0], "table": locked[1]}
    return m


def fair_instance() -> dict[str, Any]:
    """Two large firms, five SMEs, more requests than seats."""
    people = [person("L1", "large", 2), person("L2", "large", 1, available=[1, 2, 3])]
    people += [person(f"S{i}", available=range(i % 2, 4)) for i in range(5)]
    meetings = [meet(f"M{i}{j}", f"L{j}", f"S{i}", weight=1 + (3 * i + j) % 5) for i in range(5) for j in (1, 2)]
    return {"slots": 4, "tables": 2, "participants": people, "meetings": meetings}


# --- constraints and objectives -------------------------------------------------------------


def test_schedule_respects_capacity_availability_and_tables():
    out = solved(fair_instance())
    assert len(out["scheduled"]) == 8  # 4 slots x 2 tables, all filled
    assert out["stats"]["status"] == "optimal"


def test_large_firm_meets_in_parallel_with_its_representatives():
    data = {
        "slots": 1,
        "tables": 5,
        "participants": [person("L", "large", 3), person("A"), person("B"), person("C"), person("D")],
        "meetings": [meet(m, "L", m.lower()[0].upper()) for m in ("A1", "B1", "C1", "D1")],
    }
    data["meetings"] = [meet("m" + s, "L", s) for s in "ABCD"]
    out = solved(data)
    assert len(out["scheduled"]) == 3
    left = out["unscheduled"][0]
    assert left["code"] == "participant_full" and "'L' is at its capacity 3" in left["reason"]


def test_heavier_meeting_wins_when_tables_are_full():
    data = {
        "slots": 1,
        "tables": 1,
        "participants": [person("A"), person("B"), person("C"), person("D")],
        "meetings": [meet("light", "A", "B", 1), meet("heavy", "C", "D", 5)],
    }
    out = solved(data)
    assert slots_of(out) == {"heavy": 0}
    why = reason_of(out, "light")
    assert why["code"] == "tables_full"
    assert "all 1 tables are taken in slot(s) [0]" in why["reason"] and "weigh 5 or more" in why["reason"]


def test_locked_meeting_keeps_its_slot_and_table_even_against_heavier_ones():
    data = {
        "slots": 2,
        "tables": 1,
        "participants": [person("A"), person("B"), person("C", available=[1]), person("D", available=[1])],
        "meetings": [meet("low", "A", "B", 1, locked=(1, 0)), meet("high", "C", "D", 9)],
    }
    out = solved(data)
    assert {(s["id"], s["slot"], s["table"]) for s in out["scheduled"]} == {("low", 1, 0)}
    assert reason_of(out, "high")["code"] == "tables_full"


def test_locked_meeting_outside_availability_is_still_kept():
    data = {
        "slots": 3,
        "tables": 2,
        "participants": [person("A", available=[0]), person("B")],
        "meetings": [meet("sent", "A", "B", locked=(2, 1))],
    }
    out = solved(data)
    assert out["scheduled"] == [{"id": "sent", "slot": 2, "table": 1}]


def test_sme_floor_is_met_before_total_weight():
    # one seat: the floor of S2 beats the heavier meeting of S1
    data = {
        "slots": 1,
        "tables": 1,
        "participants": [person("L", "large"), person("S1"), person("S2", floor=1)],
        "meetings": [meet("big", "L", "S1", 10), meet("fair", "L", "S2", 1)],
    }
    out = solved(data)
    assert slots_of(out) == {"fair": 0}
    assert out["stats"]["floor_shortfall"] == 0
    why = reason_of(out, "big")
    assert "weighs less (1" in why["reason"] and "fairness floors" in why["reason"]


def test_floors_spread_meetings_over_smes():
    people = [person("L", "large", 1)] + [person(f"S{i}", floor=1) for i in range(4)]
    meetings = [meet(f"a{i}", "L", f"S{i}", 10 - i) for i in range(4)]
    meetings += [meet(f"b{i}", f"S{i}", f"S{(i + 1) % 4}", 0.5) for i in range(4)]
    data = {"slots": 3, "tables": 4, "participants": people, "meetings": meetings}
    out = solved(data)
    met = Counter()
    by_id = {m["id"]: m for m in meetings}
    for s in out["scheduled"]:
        met[by_id[s["id"]]["a"]] += 1
        met[by_id[s["id"]]["b"]] += 1
    assert all(met[f"S{i}"] >= 1 for i in range(4))
    assert out["stats"]["floor_shortfall"] == 0


def test_floor_that_cannot_be_met_is_counted_not_fatal():
    data = {
        "slots": 2,
        "tables": 2,
        "participants": [person("L", "large", available=[0]), person("S", available=[1], floor=2)],
        "meetings": [meet("m", "L", "S")],
    }
    out = solved(data)
    assert out["scheduled"] == [] and out["stats"]["floor_shortfall"] == 2
    assert reason_of(out, "m")["code"] == "no_common_slot"


def test_idle_slots_are_closed_when_weight_is_equal():
    # L meets three SMEs; one SME can only come at slot 0, so the others should follow at 1 and 2
    people = [person("L", "large", 1), person("S0", available=[0]), person("S1"), person("S2")]
    data = {
        "slots": 6,
        "tables": 1,
        "participants": people,
        "meetings": [meet("m0", "L", "S0"), meet("m1", "L", "S1"), meet("m2", "L", "S2")],
    }
    out = solved(data)
    assert sorted(slots_of(out).values()) == [0, 1, 2]
    assert out["stats"]["idle_slots"] == 0


def test_gap_stage_removes_idle_slots_the_greedy_leaves():
    # the greedy puts the heavy pair first at the start; gaps appear unless meetings are re-slotted
    people = [person("L1", "large"), person("L2", "large")] + [person(f"S{i}") for i in range(4)]
    meetings = [
        meet("a", "L1", "S0", 5),
        meet("b", "L2", "S1", 4),
        meet("c", "L1", "S2", 3),
        meet("d", "L2", "S2", 2),
        meet("e", "L1", "S3", 1),
    ]
    for p in people[2:]:
        p["available"] = [0, 2, 3, 4]
    data = {"slots": 5, "tables": 2, "participants": people, "meetings": meetings}
    out = solved(data)
    assert len(out["scheduled"]) == 5
    assert out["stats"]["idle_slots"] == min_idle_brute_force(data)


def min_idle_brute_force(data: dict[str, Any]) -> int:
    """The fewest idle slots over all schedules that place every meeting (small instances)."""
    people = {p["id"]: p for p in data["participants"]}
    ms = data["meetings"]
    options = [
        sorted(
            set(people[m["a"]].get("available", range(data["slots"])))
            & set(people[m["b"]].get("available", range(data["slots"])))
        )
        for m in ms
    ]
    best = None
    for combo in itertools.product(*options):
        if feasible(data, dict(zip([m["id"] for m in ms], combo, strict=True))):
            idle = idle_slots(data, dict(zip([m["id"] for m in ms], combo, strict=True)))
            best = idle if best is None else min(best, idle)
    assert best is not None
    return best


# --- stability ------------------------------------------------------------------------------


def test_previous_schedule_is_kept_when_a_request_arrives():
    data = fair_instance()
    data["tables"] = 3
    first = solved(data)
    data["previous"] = first["scheduled"]
    data["participants"].append(person("S9"))
    data["meetings"].append(meet("late", "L1", "S9", 0.1))
    second = solved(data)
    assert second["stats"]["moved"] == 0
    before = {s["id"]: (s["slot"], s["table"]) for s in first["scheduled"]}
    after = {s["id"]: (s["slot"], s["table"]) for s in second["scheduled"]}
    assert all(after[k] == v for k, v in before.items())


def test_cancellation_frees_seats_without_moving_the_others():
    data = fair_instance()
    first = solved(data)
    cancelled = {m["id"] for m in data["meetings"] if m["a"] == "L2"}
    data["meetings"] = [m for m in data["meetings"] if m["id"] not in cancelled]
    data["previous"] = first["scheduled"]  # entries of the cancelled meetings are ignored
    second = solved(data)
    kept = {s["id"]: (s["slot"], s["table"]) for s in first["scheduled"] if s["id"] not in cancelled}
    after = {s["id"]: (s["slot"], s["table"]) for s in second["scheduled"]}
    assert all(after.get(k) == v for k, v in kept.items())
    assert second["stats"]["moved"] == 0
    # freed seats are refilled from the waiting list
    assert len(second["scheduled"]) >= len(kept)
    assert second["objective"] >= sum(m["weight"] for m in data["meetings"] if m["id"] in kept)


def test_previous_slot_no_longer_available_moves_only_that_meeting():
    data = {
        "slots": 3,
        "tables": 2,
        "participants": [person("L", "large", 2), person("A"), person("B")],
        "meetings": [meet("x", "L", "A"), meet("y", "L", "B")],
        "previous": [
            {"id": "x", "slot": 0, "table": 0},
            {"id": "y", "slot": 1, "table": 1},
            {"id": "gone", "slot": 2, "table": 0},
        ],
    }
    data["participants"][1]["available"] = [1, 2]  # A can no longer come at slot 0
    out = solved(data)
    assert out["stats"]["moved"] == 1 and out["stats"]["kept"] == 1
    assert {"id": "y", "slot": 1, "table": 1} in out["scheduled"]


def test_previous_tables_are_kept_in_the_same_slot():
    data = fair_instance()
    first = solved(data)
    data["previous"] = [{**s, "table": 1 - s["table"]} for s in first["scheduled"]]  # swap tables
    second = solved(data)
    assert sorted(map(lambda s: tuple(s.values()), second["scheduled"])) == sorted(
        map(lambda s: tuple(s.values()), data["previous"])
    )


# --- reasons --------------------------------------------------------------------------------


def test_reason_names_both_availabilities_when_they_do_not_overlap():
    data = {
        "slots": 4,
        "tables": 2,
        "participants": [person("L", "large", available=[0, 1]), person("S", available=[2, 3])],
        "meetings": [meet("m", "L", "S")],
    }
    why = reason_of(solved(data), "m")
    assert why["code"] == "no_common_slot"
    assert "'L' is available in [0, 1]" in why["reason"] and "'S' in [2, 3]" in why["reason"]


def test_reason_names_participant_without_any_availability():
    data = {
        "slots": 2,
        "tables": 2,
        "participants": [person("L", "large"), person("S", available=[])],
        "meetings": [meet("m", "L", "S")],
    }
    why = reason_of(solved(data), "m")
    assert why == {"id": "m", "code": "no_common_slot", "reason": "participant 'S' is available in no slot"}


def test_reason_names_participant_with_no_representative():
    data = {
        "slots": 2,
        "tables": 2,
        "participants": [person("L", "large", capacity=0), person("S")],
        "meetings": [meet("m", "L", "S")],
    }
    why = reason_of(solved(data), "m")
    assert why["code"] == "no_capacity" and "'L' has capacity 0" in why["reason"]


def test_reason_for_event_without_tables():
    data = {
        "slots": 2,
        "tables": 0,
        "participants": [person("L", "large"), person("S")],
        "meetings": [meet("m", "L", "S")],
    }
    assert reason_of(solved(data), "m")["code"] == "no_capacity"


def test_reason_mixes_capacity_and_tables_per_slot():
    data = {
        "slots": 2,
        "tables": 1,
        "participants": [person("L", "large"), person("S1"), person("S2"), person("A"), person("B")],
        "meetings": [meet("l1", "L", "S1", 5), meet("ab", "A", "B", 5), meet("l2", "L", "S2", 1)],
    }
    out = solved(data)
    why = reason_of(out, "l2")
    assert why["code"] == "limits"
    assert "'L' is at its capacity 1" in why["reason"] and "all 1 tables are taken" in why["reason"]


# --- bad input ------------------------------------------------------------------------------


def base() -> dict[str, Any]:
    return {
        "slots": 2,
        "tables": 1,
        "participants": [person("L", "large", 2, available=[0, 1]), person("S", available=[0])],
        "meetings": [meet("m", "L", "S")],
        "time_limit_s": 2,
    }


def mutate(path: str, value: Any):
    def apply(data: dict[str, Any]) -> dict[str, Any]:
        node: Any = data
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        return data

    return apply


BAD_INPUTS = [
    ("unknown participant", mutate("meetings.0.b", "nobody"), "meetings[0].b"),
    ("meeting with oneself", mutate("meetings.0.b", "L"), "meetings[0].b"),
    ("available slot out of range", mutate("participants.1.available", [0, 2]), "participants[1].available[1]"),
    ("negative capacity", mutate("participants.0.capacity", -1), "participants[0].capacity"),
    ("negative max meetings", mutate("participants.0.max_meetings", -1), "participants[0].max_meetings"),
    ("capacity not a number", mutate("participants.0.capacity", "2"), "participants[0].capacity"),
    ("unknown side", mutate("participants.0.side", "buyer"), "participants[0].side"),
    ("duplicate participant", mutate("participants.1.id", "L"), "participants[1].id"),
    ("duplicate meeting", lambda d: {**d, "meetings": d["meetings"] * 2}, "meetings[1].id"),
    ("locked slot out of range", mutate("meetings.0.locked", {"slot": 5, "table": 0}), "meetings[0].locked.slot"),
    ("locked table out of range", mutate("meetings.0.locked", {"slot": 0, "table": 1}), "meetings[0].locked.table"),
    ("locked without table", mutate("meetings.0.locked", {"slot": 0}), "meetings[0].locked.table"),
    ("negative weight", mutate("meetings.0.weight", -3), "meetings[0].weight"),
    ("weight not a number", mutate("meetings.0.weight", "high"), "meetings[0].weight"),
    ("weight above the maximum", mutate("meetings.0.weight", 1e308), "meetings[0].weight"),
    ("slots not a number", mutate("slots", "16"), "slots"),
    ("zero slots", mutate("slots", 0), "slots"),
    ("negative tables", mutate("tables", -1), "tables"),
    ("participants not a list", mutate("participants", {}), "participants"),
    ("participant not an object", mutate("participants.0", "L"), "participants[0]"),
    ("meeting without b", lambda d: {**d, "meetings": [{"id": "m", "a": "L"}]}, "meetings[0].b"),
    ("previous slot negative", mutate("previous", [{"id": "m", "slot": -1, "table": 0}]), "previous[0].slot"),
    ("previous table not a number", mutate("previous", [{"id": "m", "slot": 0, "table": "A"}]), "previous[0].table"),
    ("previous twice", mutate("previous", [{"id": "m", "slot": 0, "table": 0}] * 2), "previous[1].id"),
    ("bad time limit", mutate("time_limit_s", 0), "time_limit_s"),
    ("missing meetings", lambda d: {k: v for k, v in d.items() if k != "meetings"}, "input.meetings"),
    ("not an object", lambda d: [d], "input"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_input_error_naming_the_field(case, change, field):
    with pytest.raises(InputError) as err:
        parse_instance(change(base()))
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_two_locked_meetings_on_one_table_are_rejected():
    data = base()
    data["participants"].append(person("T", available=[0]))
    data["meetings"] = [meet("m", "L", "S", locked=(0, 0)), meet("n", "L", "T", locked=(0, 0))]
    with pytest.raises(InputError) as err:
        parse_instance(data)
    assert err.value.field == "meetings[1].locked.table"


def test_locked_meetings_beyond_capacity_are_rejected():
    data = base()
    data["tables"] = 2
    data["participants"].append(person("T", available=[0]))
    data["meetings"] = [meet("m", "S", "L", locked=(0, 0)), meet("n", "S", "T", locked=(0, 1))]
    with pytest.raises(InputError) as err:
        parse_instance(data)
    assert err.value.field == "meetings[1].locked.slot" and "'S'" in str(err.value)


def test_optional_fields_take_their_defaults():
    inst = parse_instance(
        {
            "slots": 3,
            "tables": 1,
            "participants": [{"id": 1, "side": "sme"}, {"id": 2, "side": "large"}],
            "meetings": [{"id": 7, "a": 1, "b": 2}],
        }
    )
    p = inst.participants[0]
    assert (p.capacity, p.available, p.min_meetings) == (1, frozenset({0, 1, 2}), 0)
    assert inst.meetings[0].weight == 1.0 and inst.previous == {} and inst.time_limit_s == 10


# --- CLI ------------------------------------------------------------------------------------


def invoke(args: list[str], **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def test_cli_solves_a_file_and_prints_only_json(tmp_path):
    data = fair_instance()
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    result = invoke(["events", "solve", "--input", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    check_schedule(data, out)


def test_cli_reads_stdin_and_prints_a_human_summary():
    data = fair_instance()
    result = invoke(["events", "solve", "--input", "-"], input=json.dumps(data))
    assert result.exit_code == 0
    assert "scheduled 8" in result.stdout and "slot" in result.stdout


@pytest.mark.parametrize(("case", "change", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_cli_bad_input_exits_2_naming_the_field(case, change, field):
    result = invoke(["events", "solve", "--input", "-", "--json"], input=json.dumps(change(base())))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert field in result.stderr


def test_cli_refuses_weights_above_the_maximum_so_its_json_is_always_finite():
    data = {
        "slots": 2,
        "tables": 1,
        "participants": [{"id": "L", "side": "large"}, {"id": "S", "side": "sme"}],
        "meetings": [{"id": 1, "a": "L", "b": "S", "weight": 1e308}, {"id": 2, "a": "L", "b": "S", "weight": 1e308}],
        "time_limit_s": 1,
    }
    refused = invoke(["events", "solve", "--input", "-", "--json"], input=json.dumps(data))
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "meetings[0].weight: must be at most 1000000000" in refused.stderr
    for m in data["meetings"]:
        m["weight"] = MAX_WEIGHT  # the largest weight allowed: the objective stays a finite number
    result = invoke(["events", "solve", "--input", "-", "--json"], input=json.dumps(data))
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the output"))
    assert out["objective"] == 2 * MAX_WEIGHT


def test_cli_malformed_json_exits_2():
    result = invoke(["events", "solve", "--input", "-", "--json"], input='{"slots": 2,')
    assert result.exit_code == 2 and result.stdout == ""
    assert "input: malformed JSON at line 1" in result.stderr


def test_cli_as_a_process_keeps_stdout_clean():
    data = fair_instance()
    proc = subprocess.run(
        [sys.executable, "-m", "marketplace", "events", "solve", "--input", "-", "--json"],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    check_schedule(data, json.loads(proc.stdout))
    bad = subprocess.run(
        [sys.executable, "-m", "marketplace", "events", "solve", "--input", "-", "--json"],
        input=json.dumps(mutate("meetings.0.a", "ghost")(base())),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "meetings[0].a: unknown participant 'ghost'" in bad.stderr


# --- property test against brute force ------------------------------------------------------


def feasible(data: dict[str, Any], slot_of: dict[Any, int]) -> bool:
    people = {p["id"]: p for p in data["participants"]}
    load: Counter[Any] = Counter()
    per_slot: Counter[int] = Counter()
    for m in data["meetings"]:
        s = slot_of.get(m["id"])
        if s is None:
            continue
        per_slot[s] += 1
        for pid in (m["a"], m["b"]):
            load[pid, s] += 1
            if s not in people[pid].get("available", range(data["slots"])) or load[pid, s] > people[pid]["capacity"]:
                return False
    total: Counter[Any] = Counter()
    for m in data["meetings"]:
        if m["id"] in slot_of:
            total[m["a"]] += 1
            total[m["b"]] += 1
    if any(p.get("max_meetings") is not None and total[p["id"]] > p["max_meetings"] for p in people.values()):
        return False
    return all(n <= data["tables"] for n in per_slot.values())


def idle_slots(data: dict[str, Any], slot_of: dict[Any, int]) -> int:
    busy: dict[Any, set[int]] = defaultdict(set)
    for m in data["meetings"]:
        if m["id"] in slot_of:
            busy[m["a"]].add(slot_of[m["id"]])
            busy[m["b"]].add(slot_of[m["id"]])
    return sum(max(b) - min(b) + 1 - len(b) for b in busy.values())


def shortfall(data: dict[str, Any], slot_of: dict[Any, int]) -> int:
    met: Counter[Any] = Counter()
    for m in data["meetings"]:
        if m["id"] in slot_of:
            met[m["a"]] += 1
            met[m["b"]] += 1
    return sum(max(0, p["min_meetings"] - met[p["id"]]) for p in data["participants"])


def brute_force(data: dict[str, Any]) -> tuple[int, float, int]:
    """(least shortfall, most weight at it, fewest idle slots at both) over every assignment."""
    ids = [m["id"] for m in data["meetings"]]
    best: tuple[int, float, int] | None = None
    for combo in itertools.product([None, *range(data["slots"])], repeat=len(ids)):
        slot_of = {i: s for i, s in zip(ids, combo, strict=True) if s is not None}
        if not feasible(data, slot_of):
            continue
        weight = sum(m["weight"] for m in data["meetings"] if m["id"] in slot_of)
        key = (shortfall(data, slot_of), -weight, idle_slots(data, slot_of))
        best = key if best is None or key < best else best
    assert best is not None
    return best[0], -best[1], best[2]


@st.composite
def small_instances(draw) -> dict[str, Any]:
    slots = draw(st.integers(1, 3))
    tables = draw(st.integers(0, 2))
    n_people = draw(st.integers(2, 4))
    people = []
    for i in range(n_people):
        people.append(
            {
                "id": f"P{i}",
                "side": draw(st.sampled_from(["large", "sme"])),
                "capacity": draw(st.integers(0, 2)),
                "available": sorted(draw(st.sets(st.integers(0, slots - 1)))),
                "min_meetings": draw(st.integers(0, 2)),
                "max_meetings": draw(st.one_of(st.none(), st.integers(0, 3))),
            }
        )
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_people - 1), st.integers(0, n_people - 1)).filter(lambda t: t[0] != t[1]),
            max_size=5,
        )
    )
    meetings = [
        {"id": f"M{k}", "a": f"P{a}", "b": f"P{b}", "weight": draw(st.integers(0, 5))} for k, (a, b) in enumerate(pairs)
    ]
    return {"slots": slots, "tables": tables, "participants": people, "meetings": meetings, "time_limit_s": 5}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_solver_matches_brute_force_on_small_instances(data):
    out = solved(data)
    slot_of = slots_of(out)
    least_short, most_weight, fewest_idle = brute_force(data)
    assert out["stats"]["floor_shortfall"] == shortfall(data, slot_of) == least_short
    assert out["objective"] == pytest.approx(most_weight)
    assert out["stats"]["idle_slots"] == idle_slots(data, slot_of) == fewest_idle
    assert out["stats"]["status"] == "optimal"
    # the weight-ordered greedy is a lower bound when there are no floors
    if least_short == 0 and not any(p["min_meetings"] for p in data["participants"]):
        greedy = greedy_schedule(parse_instance(data))
        assert sum(m["weight"] for m in data["meetings"] if m["id"] in greedy) <= out["objective"] + 1e-9


# --- the large-instance path: candidate frontier, fixed meetings, LNS -----------------------


def generated(n_large: int, n_sme: int, n_meetings: int, slots: int, tables: int, seed: int, floor: int = 0):
    import random

    rnd = random.Random(seed)
    people = [
        person(f"L{i}", "large", rnd.randint(1, 3), sorted(rnd.sample(range(slots), rnd.randint(slots // 2, slots))))
        for i in range(n_large)
    ]
    people += [
        person(f"S{i}", "sme", 1, sorted(rnd.sample(range(slots), rnd.randint(slots // 2, slots))), floor)
        for i in range(n_sme)
    ]
    pairs = set()
    meetings = []
    while len(meetings) < n_meetings:
        a, b = rnd.randrange(n_large), rnd.randrange(n_sme)
        if (a, b) not in pairs:
            pairs.add((a, b))
            meetings.append(meet(f"M{len(meetings)}", f"L{a}", f"S{b}", round(rnd.uniform(0.2, 1), 2)))
    return {"slots": slots, "tables": tables, "participants": people, "meetings": meetings, "time_limit_s": 5}


@pytest.mark.parametrize("floor", [0, 1])
def test_restricted_model_is_feasible_and_no_worse_than_greedy(floor):
    from marketplace.events.solver import solve

    data = generated(6, 20, 80, 6, 5, seed=3, floor=floor)
    inst = parse_instance(data)
    res = solve(inst, max_vars=60)  # far fewer variables than the instance has: frontier + fixed
    out = res.as_dict()
    check_schedule(data, out)
    assert 0 < res.stats.model_meetings < len(data["meetings"])
    greedy = greedy_schedule(inst, floors=bool(floor))
    assert res.objective >= sum(m["weight"] for m in data["meetings"] if m["id"] in greedy) - 1e-9
    assert res.stats.floor_shortfall <= shortfall(data, greedy)


def test_lns_gap_stage_keeps_schedule_feasible_and_previous_in_place(monkeypatch):
    from marketplace.events import solver as es

    monkeypatch.setattr(es, "EXACT_MAX_VARS", 0)  # force the neighbourhood search
    data = generated(5, 15, 50, 8, 4, seed=5)
    data["time_limit_s"] = 2
    first = es.solve(parse_instance(data), max_vars=80)
    check_schedule(data, first.as_dict())
    assert any(s["stage"].endswith("(LNS)") for s in first.stats.stages)
    data["previous"] = first.as_dict()["scheduled"]
    data["meetings"].append(meet("late", "L0", "S0", 0.01))
    second = es.solve(parse_instance(data), max_vars=80)
    check_schedule(data, second.as_dict())
    # the hint keeps every previous meeting and the search never adds a move; only a heavier
    # schedule found by the weight stage (ranked before stability) may move some
    assert second.stats.moved == 0 or second.objective > first.objective - 0.01 + 1e-9


def test_lns_never_worsens_idle_slots_of_its_start():
    import time

    from marketplace.events import solver as es
    from marketplace.events.solver_greedy import Prep, greedy_fill
    from marketplace.events.solver_instance import Stats

    data = generated(5, 15, 50, 8, 4, seed=7)
    inst = parse_instance(data)
    prep = Prep(inst)
    start = greedy_fill(prep, sorted(range(len(prep.a)), key=lambda k: -prep.w[k]))
    stats = Stats()
    after, improved = es._lns(prep, start, time.perf_counter() + 1.5, 1, stats)
    ids = [m["id"] for m in data["meetings"]]
    before_slots = {ids[k]: s for k, s in start.items()}
    after_slots = {ids[k]: s for k, s in after.items()}
    assert set(after_slots) == set(before_slots)  # the same meetings, only re-slotted
    assert feasible(data, after_slots)
    assert idle_slots(data, after_slots) <= idle_slots(data, before_slots)
    assert (idle_slots(data, after_slots) < idle_slots(data, before_slots)) == (improved > 0)


def test_time_too_short_for_the_model_returns_the_greedy_schedule(monkeypatch):
    from marketplace.events import solver as es

    monkeypatch.setattr(es, "BUILD_S_PER_VAR", 10.0)  # any model "takes" longer than the limit
    data = fair_instance()
    data["time_limit_s"] = 1
    out = es.solve_json(data)
    check_schedule(data, out)
    assert out["stats"]["status"] == "greedy"
    assert out["stats"]["stages"] == [{"stage": "cp-sat", "status": "SKIPPED (time limit)"}]


@pytest.mark.parametrize("greedy_only", [False, True])
def test_heavier_late_request_takes_the_seat_of_the_lightest(monkeypatch, greedy_only):
    from marketplace.events import solver as es

    if greedy_only:
        monkeypatch.setattr(es, "BUILD_S_PER_VAR", 10.0)
    data = {
        "slots": 1,
        "tables": 2,
        "participants": [person(x) for x in "ABCDEF"],
        "meetings": [meet("m1", "A", "B", 1), meet("m2", "C", "D", 2), meet("late", "E", "F", 5)],
        "previous": [{"id": "m1", "slot": 0, "table": 0}, {"id": "m2", "slot": 0, "table": 1}],
        "time_limit_s": 2,
    }
    out = solved(data)
    assert out["stats"]["status"] == ("greedy" if greedy_only else "optimal")
    assert sorted(s["id"] for s in out["scheduled"]) == ["late", "m2"]
    assert {"id": "m2", "slot": 0, "table": 1} in out["scheduled"]
    assert out["stats"]["moved"] == 1 and reason_of(out, "m1")["code"] == "tables_full"


def test_max_meetings_caps_a_large_firm_over_the_event():
    people = [{**person("L", "large", 2), "max_meetings": 3}] + [person(f"S{i}") for i in range(5)]
    meetings = [meet(f"m{i}", "L", f"S{i}", 5 - i) for i in range(5)]
    out = solved({"slots": 4, "tables": 4, "participants": people, "meetings": meetings})
    assert sorted(slots_of(out)) == ["m0", "m1", "m2"]  # the three heaviest
    why = reason_of(out, "m4")
    assert why["code"] == "participant_max" and "'L' already has its maximum of 3 meetings" in why["reason"]


def test_max_meetings_counts_locked_meetings_and_rejects_too_many():
    people = [{**person("L", "large", 2), "max_meetings": 1}, person("A"), person("B")]
    data = {
        "slots": 2,
        "tables": 2,
        "participants": people,
        "meetings": [meet("x", "L", "A", locked=(0, 0)), meet("y", "L", "B", 9)],
    }
    out = solved(data)
    assert slots_of(out) == {"x": 0} and reason_of(out, "y")["code"] == "participant_max"
    data["meetings"][1]["locked"] = {"slot": 1, "table": 0}
    with pytest.raises(InputError) as err:
        parse_instance(data)
    assert err.value.field == "meetings[1].locked"


def test_cli_time_limit_overrides_the_input_and_help_describes_the_contract(tmp_path):
    data = fair_instance()
    data["time_limit_s"] = 600
    result = invoke(["events", "solve", "--input", "-", "--json", "--time-limit", "1"], input=json.dumps(data))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["seconds"] < 60
    bad = invoke(["events", "solve", "--input", "-", "--json", "--time-limit", "0"], input=json.dumps(data))
    assert bad.exit_code == 2 and "time_limit_s" in bad.stderr and bad.stdout == ""
    usage = invoke(["events", "solve", "--help"])
    assert usage.exit_code == 0 and "--input" in usage.stdout and "'-' reads stdin" in usage.stdout


def test_previous_numbers_the_event_no_longer_has_are_ignored():
    data = base()
    data["tables"] = 2
    data["previous"] = [{"id": "m", "slot": 9, "table": 0}]  # the event had more slots then
    assert parse_instance(data).previous == {}
    data["previous"] = [{"id": "m", "slot": 0, "table": 5}]  # ... or more tables
    out = solved(data)
    assert out["scheduled"] == [{"id": "m", "slot": 0, "table": 0}]
    assert out["stats"]["moved"] == 0
