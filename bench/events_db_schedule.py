"""Benchmark: scheduling an event through the database (build the solver input from the tables,
solve, write slots and tables back), against the solver alone on the same input, and a
reschedule after one busy large firm cancels (how many other meetings move).

Usage: python bench/events_db_schedule.py [--large 200] [--sme 800] [--meetings 10000]
       [--time-limit 2] [--seed 1] [--json]

The event has 16 slots x 100 tables; large firms bring 1-3 representatives; every firm is
available in 70-100 % of the slots; pairs are drawn like bench/event_scheduler.py (uniform).
The database is a fresh SQLite file under a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import machine, peak_rss_mb
from sqlalchemy import select

from marketplace.config import Settings
from marketplace.db import init_db, session_scope
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events.scheduling import build_solver_input, schedule_event
from marketplace.events.solver import solve_json
from marketplace.models import (
    EventRegistration,
    EventStatus,
    Firm,
    FirmKind,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    Organization,
    OrganizationKind,
    RegistrationStatus,
    RequestSource,
    RequestStatus,
    Side,
)


def populate(settings: Settings, n_large: int, n_sme: int, n_meetings: int, seed: int) -> int:
    rnd = random.Random(seed)
    with session_scope(settings) as s:
        org = Organization(name="基准测试协会", kind=OrganizationKind.ASSOCIATION)
        s.add(org)
        s.flush()
        event = ev.create_event(
            s,
            org.id,
            {
                "title": "基准测试对接会",
                "start_date": date.today() + timedelta(days=30),
                "sessions": ["08:00-14:40"],  # 16 slots of 20 + 5 minutes
                "tables": 100,
                "capacity_large": n_large,
                "capacity_sme": n_sme,
                "large_max_meetings": 1000,
            },
        )
        ev.set_event_status(s, event, EventStatus.OPEN)
        firms = [Firm(name=f"基准大企业{i}", kind=FirmKind.LARGE, source="bench") for i in range(n_large)]
        firms += [Firm(name=f"基准中小企业{i}", kind=FirmKind.SME, source="bench") for i in range(n_sme)]
        s.add_all(firms)
        s.flush()
        slots = event.slot_count

        def avail() -> list[int]:
            return sorted(rnd.sample(range(slots), max(1, round(rnd.uniform(0.7, 1.0) * slots))))

        for f in firms:
            large = f.kind is FirmKind.LARGE
            s.add(
                EventRegistration(
                    event_id=event.id,
                    firm_id=f.id,
                    side=Side.LARGE if large else Side.SME,
                    status=RegistrationStatus.APPROVED,
                    representatives=rnd.randint(1, 3) if large else 1,
                    available_slots=avail(),
                    checkin_token=secrets.token_urlsafe(16),
                )
            )
        larges, smes = firms[:n_large], firms[n_large:]
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < n_meetings:
            pairs.add((rnd.choice(larges).id, rnd.choice(smes).id))
        for large_id, sme_id in sorted(pairs):
            score = rnd.uniform(0.2, 1.0)
            req = MeetingRequest(
                event_id=event.id,
                from_firm_id=sme_id,
                to_firm_id=large_id,
                source=RequestSource.PROPOSAL,
                status=RequestStatus.ACCEPTED,
                score=score,
            )
            s.add(req)
            s.flush()
            s.add(
                Meeting(
                    event_id=event.id,
                    request_id=req.id,
                    large_firm_id=large_id,
                    sme_firm_id=sme_id,
                    weight=evreq.meeting_weight(req),
                    status=MeetingStatus.WAITING,
                )
            )
        return event.id


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(instance_dir=Path(tmp))
        init_db(settings)
        t0 = time.perf_counter()
        event_id = populate(settings, args.large, args.sme, args.meetings, args.seed)
        populate_s = time.perf_counter() - t0
        with session_scope(settings) as s:
            event = ev.get_event(s, event_id)
            t0 = time.perf_counter()
            data, _kept = build_solver_input(s, event, time_limit_s=args.time_limit)
            build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        alone = solve_json(data)
        alone_s = time.perf_counter() - t0
        with session_scope(settings) as s:
            event = ev.get_event(s, event_id)
            first = schedule_event(s, event, time_limit_s=args.time_limit)
        with session_scope(settings) as s:
            before = {
                m.id: (m.slot, m.table_no)
                for m in s.scalars(select(Meeting).where(Meeting.event_id == event_id, Meeting.slot.is_not(None)))
            }
            busiest = Counter(
                m.large_firm_id for m in s.scalars(select(Meeting).where(Meeting.slot.is_not(None)))
            ).most_common(1)[0][0]
            cancelled = 0
            for m in s.scalars(select(Meeting).where(Meeting.large_firm_id == busiest, Meeting.slot.is_not(None))):
                evmeet.cancel_meeting(s, m)
                cancelled += 1
        with session_scope(settings) as s:
            event = ev.get_event(s, event_id)
            second = schedule_event(s, event, time_limit_s=args.time_limit)
            after = {
                m.id: (m.slot, m.table_no)
                for m in s.scalars(select(Meeting).where(Meeting.event_id == event_id, Meeting.slot.is_not(None)))
            }
        others = [mid for mid in before if mid in after]
        moved = sum(before[mid] != after[mid] for mid in others)
    return {
        "participants": args.large + args.sme,
        "meetings": args.meetings,
        "populate_s": round(populate_s, 2),
        "build_input_s": round(build_s, 3),
        "solver_alone_s": round(alone_s, 3),
        "solver_alone_scheduled": len(alone["scheduled"]),
        "db_schedule_s": first["seconds"],
        "db_schedule_solver_s": first["solver_seconds"],
        "db_scheduled": first["scheduled"],
        "db_overhead_vs_solver_alone_s": round(first["seconds"] - alone_s, 3),
        "cancelled_meetings_of_busiest_large_firm": cancelled,
        "reschedule_s": second["seconds"],
        "reschedule_scheduled": second["scheduled"],
        "other_meetings_moved": moved,
        "other_meetings_moved_pct": round(100 * moved / max(1, len(others)), 2),
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=200)
    parser.add_argument("--sme", type=int, default=800)
    parser.add_argument("--meetings", type=int, default=10_000)
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>42}: {value}", file=sys.stdout)


if __name__ == "__main__":
    main()
