"""The events CLI end to end on the fixture data: create, list, show, invite-suggest, invite,
register, propose, schedule, agenda (with ICS), expire and report; --json output and exit codes."""

from __future__ import annotations

import json
from datetime import date, timedelta

from icalendar import Calendar
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.models import Firm, FirmKind


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _create(runner, *extra: str) -> dict:
    start = (date.today() + timedelta(days=30)).isoformat()
    return _json(
        runner.invoke(
            [
                "events",
                "create",
                "--organization",
                "测试服务中心",
                "--title",
                "锂电池产业链对接会",
                "--start-date",
                start,
                "--focus-products",
                "锂电池,隔膜",
                "--sessions",
                "09:00-10:15",
                "--tables",
                "2",
                "--open",
                "--json",
                *extra,
            ]
        )
    )


def test_help_lists_the_event_commands(runner):
    out = runner.invoke(["events", "--help"]).output
    for command in ("create", "list", "show", "invite-suggest", "propose", "schedule", "agenda", "solve", "expire"):
        assert command in out


def test_create_with_bad_input_exits_2_naming_the_field(runner):
    result = runner.invoke(
        ["events", "create", "--organization", "协会", "--title", "对接会", "--start-date", "明天", "--json"]
    )
    assert result.exit_code == 2 and "start_date" in result.output
    result = runner.invoke(
        [
            "events",
            "create",
            "--organization",
            "协会",
            "--title",
            "对接会",
            "--start-date",
            "2030-01-01",
            "--sessions",
            "9-12",
        ]
    )
    assert result.exit_code == 2 and "sessions" in result.output


def test_unknown_event_exits_2(runner):
    result = runner.invoke(["events", "show", "999", "--json"])
    assert result.exit_code == 2 and "event 999 does not exist" in result.output


def test_organizer_workflow_from_the_command_line(runner, loaded, tmp_path):
    event = _create(runner)
    assert event["slots"] == 3 and event["status"] == "open"
    assert [e["event_id"] for e in _json(runner.invoke(["events", "list", "--json"]))] == [event["event_id"]]
    with session_scope(loaded) as s:
        large = s.scalar(select(Firm).where(Firm.stock_code == "601865"))
        from marketplace.demands.workflow import create_demand

        demand = create_demand(
            s,
            {
                "owner_firm_id": large.id,
                "type": "supply_chain",
                "title": "采购锂电池隔膜",
                "wanted_products": ["锂电池隔膜"],
                "publish": True,
            },
        )
        ev.add_event_demands(s, ev.get_event(s, event["event_id"]), [demand.id])
        sme = create_firm(s, name="命令行隔膜科技有限公司", kind=FirmKind.SME)
        update_profile(s, sme, products=["锂电池隔膜", "涂覆隔膜"])
        large_id, sme_id = large.id, sme.id
    suggested = _json(runner.invoke(["events", "invite-suggest", str(event["event_id"]), "--no-dense", "--json"]))
    assert large_id in [r["firm_id"] for r in suggested["large"]]
    assert sme_id in [r["firm_id"] for r in suggested["sme"]]
    assert {seg["segment"] for seg in suggested["segments"]} == {"core", "upstream", "parts", "downstream"}
    invited = _json(runner.invoke(["events", "invite", str(event["event_id"]), str(large_id), str(sme_id), "--json"]))
    assert sorted(invited["invited"]) == sorted([large_id, sme_id])
    for firm in (large_id, sme_id):
        reg = _json(runner.invoke(["events", "register", str(event["event_id"]), str(firm), "--json"]))
        assert reg["status"] == "approved"
    proposed = _json(runner.invoke(["events", "propose", str(event["event_id"]), "--no-dense", "--json"]))
    assert [(p["from_firm_id"], p["to_firm_id"]) for p in proposed] == [(sme_id, large_id)]
    with session_scope(loaded) as s:
        evreq.accept_proposals(s, ev.get_event(s, event["event_id"]), large_id, [proposed[0]["request_id"]])
    summary = _json(runner.invoke(["events", "schedule", str(event["event_id"]), "--send", "--json"]))
    assert summary["scheduled"] == 1 and summary["sent_to_firms"] == 2
    ics = tmp_path / "agenda.ics"
    agenda = _json(
        runner.invoke(["events", "agenda", str(event["event_id"]), "--firm", str(sme_id), "--ics", str(ics), "--json"])
    )
    assert agenda[0]["table"] in ("1", "2") and agenda[0]["demand"] == "采购锂电池隔膜"
    (entry,) = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert "号桌" in str(entry["SUMMARY"])
    shown = _json(runner.invoke(["events", "show", str(event["event_id"]), "--json"]))
    assert shown["stats"]["report"]["已排程场次"] == 1
    assert _json(runner.invoke(["events", "expire", "--json"])) == {"expired": 0}
    out = tmp_path / "report.xlsx"
    result = runner.invoke(["events", "report", str(event["event_id"]), "--format", "xlsx", "--output", str(out)])
    assert result.exit_code == 0 and out.read_bytes()[:2] == b"PK"
    missing = runner.invoke(["events", "agenda", str(event["event_id"]), "--firm", "424242"])
    assert missing.exit_code == 2 and "--firm" in missing.output


def test_propose_that_makes_nothing_prints_why(runner, loaded):
    event = _create(runner)  # nothing on the board yet
    result = runner.invoke(["events", "propose", str(event["event_id"]), "--no-dense"])
    assert result.exit_code == 0, result.output
    assert "推荐 / proposed: 0" in result.output
    assert "no demand is on the event's board; add the participating large firms' demands to it first" in result.output
