"""The demo event of ``make run``: a chain-matching event on the lithium-battery / new-energy-vehicle
chain with its board, invited and registered firms, meeting requests and a schedule."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import firm_viewer
from marketplace.enterprise.demo import ensure_demo_sme
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import registrations as evreg
from marketplace.events.invitees import invite_from_suggestions, invite_suggestions
from marketplace.events.scheduling import schedule_event
from marketplace.models import Demand, Event, EventStatus, Firm, Organization, OrganizationKind

DEMO_EVENT_TITLE = "锂电池与新能源汽车产业链供需对接会（演示）"
DEMO_ORGANIZATION = "示例市中小企业服务中心（演示）"


def load_demo_event(session: Session) -> int:
    """`make run`'s demo event on the lithium-battery / new-energy-vehicle chain: the demo
    demands on its board, invited and registered firms on both sides (the demo SME among them),
    accepted meeting requests and a schedule from the CP-SAT solver. Idempotent: 0 when it exists."""
    if session.scalar(select(Event.id).where(Event.title == DEMO_EVENT_TITLE)) is not None:
        return 0
    org = session.scalar(select(Organization).where(Organization.name == DEMO_ORGANIZATION))
    if org is None:
        org = Organization(name=DEMO_ORGANIZATION, kind=OrganizationKind.GOVERNMENT)
        session.add(org)
        session.flush()
    event = ev.create_event(
        session,
        org.id,
        {
            "title": DEMO_EVENT_TITLE,
            "description": "大企业发榜、中小企业揭榜：围绕动力电池材料、隔膜、电解液与整车配套开展一对一洽谈。",
            "format": "hybrid",
            "location": "示例市会展中心 3 号馆",
            "focus_products": ["锂电池", "锂电", "动力电池", "正极材料", "隔膜", "电解液", "新能源汽车"],
            "focus_industries": ["电池化学品"],
            "start_date": date.today() + timedelta(days=14),
            "sessions": ["09:00-12:00", "13:30-17:00"],
            "tables": 12,
            "sme_min_meetings": 1,
            "large_max_meetings": 12,
        },
    )
    ev.set_event_status(session, event, EventStatus.OPEN)
    suggestions = invite_suggestions(session, None, event, limit=40)
    board = [d["demand_id"] for d in suggestions["demands"][:4]]
    if not board:
        return 0
    ev.add_event_demands(session, event, board)
    demo_sme = ensure_demo_sme(session)
    owners = list(dict.fromkeys(session.get(Demand, d).owner_firm_id for d in board))
    smes = [demo_sme.id] + [r["firm_id"] for r in suggestions["sme"] if r["firm_id"] != demo_sme.id][:13]
    invite_from_suggestions(session, None, event, owners + smes, suggestions)
    for firm_id in owners:
        evreg.register_firm(session, event, firm_id, representatives=2)
    for firm_id in smes:
        evreg.register_firm(session, event, firm_id)
    demands = [session.get(Demand, d) for d in board]
    for i, sme_id in enumerate(smes):
        products = {fp.product.name for fp in session.get(Firm, sme_id).products}
        ranked = sorted(demands, key=lambda d: -sum(p in d.match_text() for p in products))
        for j, demand in enumerate(ranked[:2]):
            req = evreq.request_meeting(
                session,
                event,
                sme_id,
                demand.owner_firm_id,
                message="希望就贵司发布的需求介绍我们的产品与产能。",
                demand_id=demand.id,
            )
            if (i + j) % 5 != 4:  # most are accepted, a few still wait for an answer
                evreq.answer_request(session, req, user=firm_viewer(req.to_firm_id), accept=True, notify=False)
    schedule_event(session, event, time_limit_s=2.0)
    return event.id
