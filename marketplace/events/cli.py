"""CLI commands of chain-matching events (产业链对接活动): ``python -m marketplace events ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import click

from marketplace.cli_common import AppContext, build_engine, emit, pass_app
from marketplace.errors import InputError
from marketplace.events.solver import solve_json


@click.group("events")
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


# --- events: organizer commands (the same service calls as the pages) --------------------------

_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


def _get_event(session: Any, event_id: int) -> Any:
    from marketplace.events.events import get_event

    return get_event(session, event_id)


@events_group.command("create")
@click.option("--organization", required=True, help="Organizing organization: its name (created if new).")
@click.option("--title", required=True)
@click.option("--start-date", required=True, help="YYYY-MM-DD")
@click.option("--focus-products", default="", help="Comma-separated chain products, e.g. 锂电池,隔膜")
@click.option("--focus-industries", default="")
@click.option("--days", default=1, show_default=True, type=int)
@click.option("--sessions", default="09:00-12:00,13:30-17:00", show_default=True)
@click.option("--slot-minutes", default=20, show_default=True, type=int)
@click.option("--gap-minutes", default=5, show_default=True, type=int)
@click.option("--tables", default=20, show_default=True, type=int)
@click.option("--format", "fmt", default="onsite", type=click.Choice(["onsite", "online", "hybrid"]))
@click.option("--location", default="")
@click.option("--sme-min-meetings", default=1, show_default=True, type=int)
@click.option("--large-max-meetings", default=16, show_default=True, type=int)
@click.option("--open", "open_now", is_flag=True, help="Open registration at once.")
@_json
@pass_app
def create_command(app: AppContext, organization: str, open_now: bool, as_json: bool, fmt: str, **fields: Any) -> None:
    """Create an event (draft, or open with --open)."""
    from sqlalchemy import select

    from marketplace.events.events import create_event, event_dict, set_event_status
    from marketplace.models import EventStatus, Organization, OrganizationKind

    with app.session() as session:
        org = session.scalar(select(Organization).where(Organization.name == organization.strip()))
        if org is None:
            org = Organization(name=organization.strip(), kind=OrganizationKind.ASSOCIATION)
            session.add(org)
            session.flush()
        event = create_event(session, org.id, {**fields, "format": fmt})
        if open_now:
            set_event_status(session, event, EventStatus.OPEN)
        data = event_dict(event)
    emit(
        data,
        as_json,
        lambda d: click.echo(f"活动已创建 / event created: {d['event_id']} {d['title']} ({d['slots']} slots)"),
    )


@events_group.command("list")
@_json
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """All events, newest first."""
    from sqlalchemy import select

    from marketplace.events.events import event_dict
    from marketplace.models import Event

    with app.session() as session:
        rows = [
            event_dict(e) for e in session.scalars(select(Event).order_by(Event.start_date.desc(), Event.id.desc()))
        ]

    def human(rs: list[dict[str, Any]]) -> None:
        if not rs:
            click.echo("没有活动 / no events")
        for r in rs:
            click.echo(f"{r['event_id']:>5}  {r['start_date']}  {r['status']:<10} {r['title']}  [{r['organization']}]")

    emit(rows, as_json, human)


@events_group.command("show")
@click.argument("event_id", type=int)
@_json
@pass_app
def show_command(app: AppContext, event_id: int, as_json: bool) -> None:
    """An event with its registrations and statistics."""
    from marketplace.events.events import event_dict
    from marketplace.events.registrations import approved_registrations, registration_dict
    from marketplace.events.stats import event_stats

    with app.session() as session:
        event = _get_event(session, event_id)
        data = {
            **event_dict(event),
            "registrations": [registration_dict(r) for r in approved_registrations(session, event)],
            "stats": event_stats(session, event),
        }

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{d['title']} · {d['start_date']} · {d['status']} · {d['slots']} slots × {d['tables']} tables")
        click.echo(f"  participants: {len(d['registrations'])}; funnel: {d['stats']['funnel']}")
        for key, value in d["stats"]["report"].items():
            click.echo(f"  {key}: {value}")

    emit(data, as_json, human)


@events_group.command("invite-suggest")
@click.argument("event_id", type=int)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--invite-top", default=0, show_default=True, type=click.IntRange(0, 500), help="Invite the top N of each side."
)
@click.option("--no-dense", is_flag=True, help="Lexical and chain-graph channels only (no embedding model).")
@_json
@pass_app
def invite_suggest_command(
    app: AppContext, event_id: int, limit: int, invite_top: int, no_dense: bool, as_json: bool
) -> None:
    """Rank firms to invite on both sides from the event's chain, with reasons and chain gaps."""
    from marketplace.events.invitees import invite_from_suggestions, invite_suggestions

    engine = build_engine(app, progress=not as_json, **({"use_dense": False} if no_dense else {}))
    with app.session() as session:
        event = _get_event(session, event_id)
        data = invite_suggestions(session, engine, event, limit=limit)
        if invite_top:
            chosen = [r["firm_id"] for r in data["large"][:invite_top] + data["sme"][:invite_top] if not r["status"]]
            data["invited"] = [i.firm_id for i in invite_from_suggestions(session, engine, event, chosen, data)]

    def human(d: dict[str, Any]) -> None:
        for side in ("large", "sme"):
            click.echo(f"== {side} ==")
            for r in d[side]:
                click.echo(
                    f"{r['firm_id']:>7}  {r['score']:.3f}  {r['firm']}  {r['segment'] or ''}  {r['status'] or ''}"
                )
                click.echo(f"         {'；'.join(r['reasons'][:3])}")
        click.echo("== chain segments ==")
        for seg in d["segments"]:
            click.echo(
                f"  {seg['label']}: {seg['candidates']} candidates; no candidate: {'、'.join(seg['gaps'][:10]) or '—'}"
            )
        if d.get("invited") is not None:
            click.echo(f"已邀请 / invited: {len(d['invited'])}")

    emit(data, as_json, human)


@events_group.command("invite")
@click.argument("event_id", type=int)
@click.argument("firm_ids", type=int, nargs=-1, required=True)
@_json
@pass_app
def invite_command(app: AppContext, event_id: int, firm_ids: tuple[int, ...], as_json: bool) -> None:
    """Invite firms by id (already invited ones are skipped)."""
    from marketplace.events.registrations import invite_firms

    with app.session() as session:
        sent = [i.firm_id for i in invite_firms(session, _get_event(session, event_id), list(firm_ids))]
    emit({"invited": sent}, as_json, lambda d: click.echo(f"已邀请 / invited: {len(d['invited'])}"))


@events_group.command("register")
@click.argument("event_id", type=int)
@click.argument("firm_id", type=int)
@click.option("--representatives", default=1, show_default=True, type=int)
@_json
@pass_app
def register_command(app: AppContext, event_id: int, firm_id: int, representatives: int, as_json: bool) -> None:
    """Register a firm (approved when invited, else pending the organizer's approval)."""
    from marketplace.events.registrations import register_firm, registration_dict

    with app.session() as session:
        reg = register_firm(session, _get_event(session, event_id), firm_id, representatives=representatives)
        data = registration_dict(reg)
    emit(data, as_json, lambda d: click.echo(f"{d['firm']}: {d['status']}"))


@events_group.command("propose")
@click.argument("event_id", type=int)
@click.option("--per-demand", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--no-dense", is_flag=True, help="Lexical and chain-graph channels only (no embedding model).")
@_json
@pass_app
def propose_command(app: AppContext, event_id: int, per_demand: int, no_dense: bool, as_json: bool) -> None:
    """The engine proposes meetings: for each demand on the board, the best registered SMEs."""
    from marketplace.events.meeting_requests import propose, request_dict

    engine = build_engine(app, progress=not as_json, **({"use_dense": False} if no_dense else {}))
    with app.session() as session:
        run = propose(session, engine, _get_event(session, event_id), per_demand=per_demand)
        made = [request_dict(r) for r in run.made]

    def human(rows: list[dict[str, Any]]) -> None:
        click.echo(f"推荐 / proposed: {len(rows)}")
        if run.why_none:  # nothing proposed: why, from the event's data
            click.echo(f"  {run.why_none}")
        for r in rows:
            click.echo(f"  {r['to_firm']} ← {r['from_firm']}  {r['score']}  《{r['demand']}》")

    emit(made, as_json, human)


@events_group.command("schedule")
@click.argument("event_id", type=int)
@click.option("--time-limit", default=2.0, show_default=True, type=click.FloatRange(0.1, 600))
@click.option("--send", is_flag=True, help="Send the agendas and lock the schedule.")
@_json
@pass_app
def schedule_command(app: AppContext, event_id: int, time_limit: float, send: bool, as_json: bool) -> None:
    """Schedule the accepted meetings of an event (CP-SAT); reruns stay close to the last schedule."""
    from marketplace.events.scheduling import schedule_event, send_agendas

    with app.session() as session:
        event = _get_event(session, event_id)
        summary = schedule_event(session, event, time_limit_s=time_limit)
        if send:
            summary["sent_to_firms"] = send_agendas(session, event)

    def human(d: dict[str, Any]) -> None:
        click.echo(f"已排程 / scheduled: {d['scheduled']}  moved: {d['moved']}  unscheduled: {len(d['unscheduled'])}")
        for u in d["unscheduled"]:
            click.echo(f"  meeting {u['meeting_id']}: {u['reason']}")

    emit(summary, as_json, human)


@events_group.command("agenda")
@click.argument("event_id", type=int)
@click.option("--firm", "firm_id", required=True, type=int, help="The participant's firm id.")
@click.option("--ics", "ics_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write an ICS file.")
@_json
@pass_app
def agenda_command(app: AppContext, event_id: int, firm_id: int, ics_path: Path | None, as_json: bool) -> None:
    """A participant's agenda (times, table numbers, demands); optionally as an ICS file."""
    from marketplace.errors import NotFoundError
    from marketplace.events.access import registration_for
    from marketplace.events.agenda import agenda_ics, agenda_rows

    with app.session() as session:
        event = _get_event(session, event_id)
        reg = registration_for(session, event, firm_id)
        if reg is None:
            raise NotFoundError(f"--firm: firm {firm_id} is not registered for event {event_id}", field="firm")
        rows = agenda_rows(session, event, firm_id)
        if ics_path is not None:
            ics_path.write_bytes(agenda_ics(session, event, firm_id, reg.firm.display_name))

    def human(rs: list[dict[str, Any]]) -> None:
        for r in rs:
            when = f"{r['start'][5:16]}" if r["start"] else "—"
            click.echo(
                f"{when:<12} table {r['table'] or '—':>3}  {r['with_firm']}  {r['demand'] or ''}  {r['status_label']}"
            )

    emit(rows, as_json, human)


@events_group.command("expire")
@_json
@pass_app
def expire_command(app: AppContext, as_json: bool) -> None:
    """Expire unanswered meeting requests past their deadline (frees the askers' pending quota)."""
    from marketplace.events.meeting_requests import expire_requests

    with app.session() as session:
        n = expire_requests(session)
    emit({"expired": n}, as_json, lambda d: click.echo(f"已过期 / expired: {d['expired']}"))


@events_group.command("report")
@click.argument("event_id", type=int)
@click.option("--format", "fmt", default="csv", type=click.Choice(["csv", "xlsx"]), show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def report_command(app: AppContext, event_id: int, fmt: str, output: Path) -> None:
    """Write the organizer's report (参会企业数, 对接场次, 意向数, 签约数, 金额, funnel, meetings)."""
    from marketplace.events.stats import report_csv, report_xlsx

    with app.session() as session:
        event = _get_event(session, event_id)
        output.write_bytes(report_csv(session, event) if fmt == "csv" else report_xlsx(session, event))
    click.echo(f"报表已写入 / report written: {output}")


@events_group.command("survey-invite")
@click.argument("event_id", type=int)
@_json
@pass_app
def survey_invite_command(app: AppContext, event_id: int, as_json: bool) -> None:
    """Ask the participants for the follow-up survey (some months after the event)."""
    from marketplace.events.meetings import invite_to_survey

    with app.session() as session:
        n = invite_to_survey(session, _get_event(session, event_id))
    emit({"notified": n}, as_json, lambda d: click.echo(f"已通知 / notified: {d['notified']}"))
