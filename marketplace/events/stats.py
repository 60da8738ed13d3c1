"""Organizer statistics of an event, computed from the records (never typed in): the funnel
invited → registered → requested → accepted → scheduled → held → outcome by chain segment, the
meetings-per-SME distribution and SMEs without a meeting, the no-show rate, and the report in the
form Chinese organizers file (参会企业数, 对接场次, 意向数, 签约数, 金额) as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.events.agenda import EVENT_TZ, table_label
from marketplace.events.invitees import segment_name
from marketplace.events.registrations import approved_registrations
from marketplace.models import (
    Event,
    EventInvitation,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    Outcome,
    RegistrationStatus,
    Side,
)

FUNNEL = ("invited", "registered", "requested", "accepted", "scheduled", "held", "outcome")
FUNNEL_LABELS = {
    "invited": ("已邀请", "Invited"),
    "registered": ("已报名", "Registered"),
    "requested": ("有洽谈申请", "Requested"),
    "accepted": ("有接受的洽谈", "Accepted"),
    "scheduled": ("已排程", "Scheduled"),
    "held": ("已洽谈", "Held"),
    "outcome": ("有对接成果", "Outcome"),
}
UNSEGMENTED = "未分类 / other"
PLACED = (MeetingStatus.SCHEDULED, MeetingStatus.HELD, MeetingStatus.NO_SHOW)


def signed_contracts(session: Session, event: Event) -> tuple[int, float]:
    """签约数 and 金额 (万元) of the event: signed contracts started from the event's own meetings
    (``source_ref`` ``meeting:<id>``, whenever they were signed), and the other contracts signed on
    the platform since the event's first day (00:00 in the event time zone, :data:`EVENT_TZ`)
    between two firms that held a meeting there (the contracts area's statistics). A contract
    counts once."""
    from marketplace.contracts.workflow import signed_stats
    from marketplace.models import Contract, ContractStatus

    meeting_ids = list(session.scalars(select(Meeting.id).where(Meeting.event_id == event.id)))
    refs = [f"meeting:{meeting_id}" for meeting_id in meeting_ids]
    contracts = (
        {
            c.id: c
            for c in session.scalars(
                select(Contract).where(Contract.status == ContractStatus.SIGNED, Contract.source_ref.in_(refs))
            )
        }
        if refs
        else {}
    )
    pairs = session.execute(
        select(Meeting.large_firm_id, Meeting.sme_firm_id).where(
            Meeting.event_id == event.id, Meeting.status == MeetingStatus.HELD
        )
    ).all()
    if pairs:
        stats = signed_stats(session, firm_pairs=[tuple(p) for p in pairs], since=event_day_start_utc(event))
        for contract_id in stats["contract_ids"]:
            if contract_id not in contracts:
                contracts[contract_id] = session.get(Contract, contract_id)
    amount = sum(c.amount or 0.0 for c in contracts.values())
    return len(contracts), round(amount / 10_000, 2)  # CNY -> 万元


def event_day_start_utc(event: Event) -> datetime:
    """00:00 of the event's first day in the event time zone, as a naive UTC timestamp (how
    ``signed_at`` and every other timestamp is stored)."""
    start = datetime.combine(event.start_date, time.min, tzinfo=EVENT_TZ)
    return start.astimezone(UTC).replace(tzinfo=None)


def reported_agreements(session: Session, event: Event) -> tuple[int, float]:
    """Cooperation agreements reported in the outcome forms: one per meeting, its amount (万元) the
    largest either side reported."""
    count, amount = 0, 0.0
    for meeting in session.scalars(select(Meeting).where(Meeting.event_id == event.id)):
        agreed = [o for o in meeting.outcomes if o.outcome is Outcome.AGREEMENT]
        if agreed:
            count += 1
            amount += max((o.amount or 0.0) for o in agreed)
    return count, round(amount, 2)


def event_stats(session: Session, event: Event) -> dict[str, Any]:
    invitations = list(session.scalars(select(EventInvitation).where(EventInvitation.event_id == event.id)))
    registrations = approved_registrations(session, event)
    requests = list(session.scalars(select(MeetingRequest).where(MeetingRequest.event_id == event.id)))
    meetings = list(session.scalars(select(Meeting).where(Meeting.event_id == event.id)))
    segment: dict[int, str] = {}
    for inv in invitations:
        segment[inv.firm_id] = inv.segment or UNSEGMENTED
    for reg in registrations:
        segment[reg.firm_id] = reg.segment or segment.get(reg.firm_id) or UNSEGMENTED
    stages: dict[str, set[int]] = {
        "invited": {i.firm_id for i in invitations},
        "registered": {r.firm_id for r in registrations},
        "requested": {f for r in requests for f in (r.from_firm_id, r.to_firm_id)},
        "accepted": {f for m in meetings for f in (m.large_firm_id, m.sme_firm_id)},
        "scheduled": {f for m in meetings if m.status in PLACED for f in (m.large_firm_id, m.sme_firm_id)},
        "held": {f for m in meetings if m.status is MeetingStatus.HELD for f in (m.large_firm_id, m.sme_firm_id)},
        "outcome": {o.firm_id for m in meetings for o in m.outcomes if o.outcome.is_intent},
    }
    by_segment: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL, 0))
    for stage, firms in stages.items():
        for firm_id in firms:
            by_segment[segment.get(firm_id, UNSEGMENTED)][stage] += 1
    smes = [r for r in registrations if r.side is Side.SME]
    per_sme = Counter()
    for m in meetings:
        if m.status in PLACED:
            per_sme[m.sme_firm_id] += 1
    distribution = Counter(per_sme.get(r.firm_id, 0) for r in smes)
    held = sum(m.status is MeetingStatus.HELD for m in meetings)
    no_show = sum(m.status is MeetingStatus.NO_SHOW for m in meetings)
    return {
        "funnel": {stage: len(firms) for stage, firms in stages.items()},
        "funnel_by_segment": {k: by_segment[k] for k in sorted(by_segment)},
        "meetings_per_sme": {str(k): distribution[k] for k in sorted(distribution)},
        "smes_without_meeting": sorted(r.firm.display_name for r in smes if per_sme.get(r.firm_id, 0) == 0),
        "waiting": sum(m.status is MeetingStatus.WAITING for m in meetings),
        "no_show_rate": round(no_show / (held + no_show), 4) if held + no_show else None,
        "report": report_numbers(session, event),
    }


def report_numbers(session: Session, event: Event) -> dict[str, Any]:
    """参会企业数, 对接场次, 意向数, 签约数, 金额 from the records."""
    registrations = approved_registrations(session, event)
    meetings = list(session.scalars(select(Meeting).where(Meeting.event_id == event.id)))
    held = [m for m in meetings if m.status is MeetingStatus.HELD]
    contracts, amount = signed_contracts(session, event)
    agreements, agreed_amount = reported_agreements(session, event)
    return {
        "参会企业数": len(registrations),
        "其中大企业": sum(r.side is Side.LARGE for r in registrations),
        "其中中小企业": sum(r.side is Side.SME for r in registrations),
        "已签到企业": sum(r.checked_in_at is not None for r in registrations),
        "对接场次": len(held),
        "已排程场次": sum(m.status in PLACED for m in meetings),
        "意向数": sum(any(o.outcome.is_intent for o in m.outcomes) for m in held),
        "达成合作意向": agreements,
        "意向金额（万元）": agreed_amount,
        "签约数": contracts,
        "金额（万元）": amount,
    }


def safe_cell(value: Any) -> Any:
    """Spreadsheet formula injection in the CSV: text starting with = + - @ (or a tab / CR) gets a
    leading apostrophe so spreadsheet programs show it as text. The XLSX needs no prefix: its text
    cells are typed as strings (:func:`report_xlsx`)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def meeting_rows(session: Session, event: Event, text: Callable[[str], str] = str) -> list[list[Any]]:
    """Every meeting as a report row; ``text`` renders the waiting-list reason (a message) in the
    reader's language (English by default: the CLI)."""
    times = event.slot_times()
    header = [
        "洽谈编号",
        "状态",
        "时间",
        "桌号",
        "大企业",
        "中小企业",
        "对接需求",
        "成果",
        "金额（万元）",
        "未排入原因",
    ]
    rows: list[list[Any]] = [header]
    for m in session.scalars(select(Meeting).where(Meeting.event_id == event.id).order_by(Meeting.slot, Meeting.id)):
        outcomes = "；".join(f"{o.outcome.label_zh}" for o in m.outcomes)
        amounts = [o.amount for o in m.outcomes if o.amount is not None]
        when = times[m.slot][0].strftime("%Y-%m-%d %H:%M") if m.slot is not None and m.slot < len(times) else ""
        rows.append(
            [
                m.id,
                m.status.label_zh,
                when,
                table_label(m) or "",
                m.large_firm.name,
                m.sme_firm.name,
                m.demand.title if m.demand else "",
                outcomes,
                max(amounts) if amounts else "",
                text(m.reason) if m.reason else "",
            ]
        )
    return rows


def summary_rows(session: Session, event: Event) -> list[list[Any]]:
    stats = event_stats(session, event)
    rows: list[list[Any]] = [["活动", event.title], ["日期", event.start_date.isoformat()]]
    rows += [[key, value] for key, value in stats["report"].items()]
    rows.append(["缺席率", stats["no_show_rate"] if stats["no_show_rate"] is not None else ""])
    rows.append([])
    rows.append(["产业链环节", *(FUNNEL_LABELS[s][0] for s in FUNNEL)])
    for seg, counts in stats["funnel_by_segment"].items():  # the report is Chinese: segments too
        name = "未分类" if seg == UNSEGMENTED else segment_name(seg, "zh")
        rows.append([name, *(counts[s] for s in FUNNEL)])
    return rows


def report_csv(session: Session, event: Event, text: Callable[[str], str] = str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in summary_rows(session, event) + [[]] + meeting_rows(session, event, text):
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: spreadsheet programs read UTF-8


def report_xlsx(session: Session, event: Event, text: Callable[[str], str] = str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    for row in summary_rows(session, event):
        summary.append(row)
    detail = book.create_sheet("洽谈明细")
    for row in meeting_rows(session, event, text):
        detail.append(row)
    # the formula guard of the XLSX: every text cell is typed as a string, which spreadsheet
    # programs never evaluate, so the text is kept as written (no apostrophe as in the CSV)
    for sheet in (summary, detail):
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def registered_count(session: Session, event: Event) -> int:
    return len([r for r in approved_registrations(session, event) if r.status is RegistrationStatus.APPROVED])
