"""CLI commands of chain-matching events (产业链对接活动): ``python -m marketplace events ...``."""

from __future__ import annotations

from marketplace.cli import cli


@cli.group("events")
def events_group() -> None:
    """产业链对接活动 / chain-matching events: create, invite, propose, schedule, agendas."""
