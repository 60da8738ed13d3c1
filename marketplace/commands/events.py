"""CLI commands of chain-matching events (产业链对接活动): ``python -m marketplace events ...``."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from marketplace.cli import cli, emit
from marketplace.errors import InputError
from marketplace.services.event_scheduler import solve_json


@cli.group("events")
def events_group() -> None:
    """产业链对接活动 / chain-matching events: create, invite, propose, schedule, agendas."""


@events_group.command("solve")
@click.option(
    "--input",
    "input_file",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="Solver input JSON (the contract in docs/event-scheduler.md); '-' reads stdin.",
)
@click.option("--time-limit", type=float, default=None, help="Seconds for CP-SAT (overrides the input's time_limit_s).")
@click.option("--json", "as_json", is_flag=True, help="Print only the result JSON on stdout.")
def solve_command(input_file: IO[str], time_limit: float | None, as_json: bool) -> None:
    """排期求解 / schedule meetings from a JSON problem, without a database (exit 2 on bad input)."""
    try:
        data = json.load(input_file)
    except json.JSONDecodeError as exc:
        raise InputError(f"input: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", "input") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"input: not UTF-8 text ({exc.reason})", "input") from exc
    if time_limit is not None:
        if not isinstance(data, dict):
            raise InputError("input: expected a JSON object", "input")
        data = {**data, "time_limit_s": time_limit}
    result = solve_json(data)

    def human(r: dict[str, Any]) -> None:
        stats = r["stats"]
        click.echo(
            f"已排 / scheduled {len(r['scheduled'])}, 未排 / unscheduled {len(r['unscheduled'])}, "
            f"weight {r['objective']:g}, floor shortfall {stats['floor_shortfall']}, "
            f"idle slots {stats['idle_slots']}, moved {stats['moved']}, {stats['status']}, {r['seconds']} s"
        )
        for s in sorted(r["scheduled"], key=lambda s: (s["slot"], s["table"])):
            click.echo(f"  slot {s['slot']:>3}  table {s['table']:>4}  {s['id']}")
        for u in r["unscheduled"]:
            click.echo(f"  -- {u['id']}: [{u['code']}] {u['reason']}")

    emit(result, as_json, human)
