"""Shared setup of event tests: an organizer's event on the lithium-battery chain with a large
firm (福莱特 from the fixture data, with an open separator demand on the board) and three SMEs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.demands.workflow import create_demand
from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.events import events as ev
from marketplace.events import registrations as evreg
from marketplace.models import EventStatus, Firm, FirmKind, Organization, OrganizationKind


def event_data(**extra: Any) -> dict[str, Any]:
    data = {
        "title": "锂电池产业链供需对接会",
        "focus_products": ["锂电池", "隔膜", "正极材料"],
        "start_date": (date.today() + timedelta(days=30)).isoformat(),
        "sessions": ["09:00-10:15"],  # three 20-minute slots with 5-minute gaps
        "tables": 2,
        "sme_min_meetings": 1,
        "large_max_meetings": 5,
    }
    data.update(extra)
    return data


def setup_event(session: Session, *, register: bool = True, **extra: Any) -> dict[str, Any]:
    org = Organization(name="测试中小企业服务中心", kind=OrganizationKind.GOVERNMENT)
    other_org = Organization(name="另一家协会", kind=OrganizationKind.ASSOCIATION)
    session.add_all([org, other_org])
    session.flush()
    large = session.scalar(select(Firm).where(Firm.stock_code == "601865"))
    large2 = session.scalar(select(Firm).where(Firm.stock_code == "300750")) or session.scalar(
        select(Firm).where(Firm.stock_code == "002074")
    )
    demand = create_demand(
        session,
        {
            "owner_firm_id": large.id,
            "type": "supply_chain",
            "title": "采购锂电池隔膜",
            "description": "储能产品需要湿法隔膜与涂覆隔膜",
            "wanted_products": ["锂电池隔膜", "隔膜"],
            "publish": True,
        },
    )
    smes = []
    for name, products in [
        ("测试隔膜科技有限公司", ["锂电池隔膜", "涂覆隔膜"]),
        ("测试正极材料有限公司", ["正极材料", "磷酸铁锂"]),
        ("测试电解液有限公司", ["锂电池电解液"]),
    ]:
        firm = create_firm(session, name=name, kind=FirmKind.SME, region="上海")
        update_profile(session, firm, products=products)
        smes.append(firm)
    event = ev.create_event(session, org.id, event_data(**extra))
    ev.set_event_status(session, event, EventStatus.OPEN)
    ev.add_event_demands(session, event, [demand.id])
    regs = {}
    if register:
        evreg.invite_firms(session, event, [large.id, large2.id] + [f.id for f in smes])
        regs[large.id] = evreg.register_firm(session, event, large.id, representatives=1)
        regs[large2.id] = evreg.register_firm(session, event, large2.id, representatives=2)
        for f in smes:
            regs[f.id] = evreg.register_firm(session, event, f.id)
    return {
        "org": org,
        "other_org": other_org,
        "event": event,
        "large": large,
        "large2": large2,
        "smes": smes,
        "demand": demand,
        "regs": regs,
    }


def event_day_has_come(session: Session, event: Any) -> None:
    """The event's first day has come (in the event time zone): what happens on the day (check-in,
    held / no-show, ending the event) is allowed. Moves the stored date to today; meetings keep
    their slots."""
    event.start_date = ev.event_today()
    session.flush()
