"""Demo data of the enterprise services: policies with their sources, fictional demo SMEs with
tier figures at different tiers, and one procurement project with several lots
(``demo_data/enterprise_services.yaml``), and the one demo SME the demo accounts and the demo event
share (:func:`ensure_demo_sme`). Idempotent: ``demo load`` runs on every ``make run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.enterprise.consortia import create_project
from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.enterprise.policies import create_policy, refresh_reach
from marketplace.enterprise.policy_rules import load_facts
from marketplace.enterprise.tiers import save_figures
from marketplace.models import Firm, FirmKind, Policy, PolicyStatus, ProcurementProject, Tier

DEMO_FILE = Path(__file__).resolve().parents[1] / "demo_data" / "enterprise_services.yaml"
DEMO_SME = {
    "name": "示例新材料科技（上海）有限公司",
    "description": "演示用虚构企业：专注锂电池湿法隔膜与陶瓷涂覆隔膜，具备涂覆浆料配方与在线检测能力。",
    "products": ["锂电池隔膜", "涂覆隔膜", "湿法隔膜"],
    "industries": ["电池化学品"],
    "patents": ["一种锂电池陶瓷涂覆隔膜及其制备方法", "一种隔膜在线缺陷检测装置"],
}


def ensure_demo_sme(session: Session) -> Firm:
    """The clearly fictional demo SME (a specialized SME in 上海), created when missing."""
    sme = session.scalar(select(Firm).where(Firm.name == DEMO_SME["name"]))
    if sme is None:
        sme = create_firm(
            session,
            name=DEMO_SME["name"],
            kind=FirmKind.SME,
            short_name="示例新材料",
            region="上海",
            tier=Tier.SPECIALIZED,
            description=DEMO_SME["description"],
            source="demo",
        )
        update_profile(
            session,
            sme,
            products=DEMO_SME["products"],
            industries=DEMO_SME["industries"],
            patents=DEMO_SME["patents"],
            source="demo",
        )
    return sme


def load_enterprise_demo(session: Session, path: Path = DEMO_FILE) -> dict[str, int]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    added = {"firms": 0, "policies": 0, "projects": 0}
    for f in spec["firms"]:
        added["firms"] += _ensure_firm(session, f)
    new = [p for p in spec["policies"] if session.scalar(select(Policy.id).where(Policy.title == p["title"])) is None]
    if new:
        facts = load_facts(session)
        for p in new:
            policy = create_policy(session, p, organization_id=None)
            policy.status = PolicyStatus.PUBLISHED
            refresh_reach(session, policy, facts, notify=False)  # loading the demo tells nobody
            added["policies"] += 1
    for p in spec["projects"]:
        p = dict(p)
        codes = [str(c) for c in p.pop("owner_stock_codes")]
        owner = next((f for c in codes if (f := session.scalar(select(Firm).where(Firm.stock_code == c)))), None)
        if owner is None or session.scalar(select(ProcurementProject.id).where(ProcurementProject.title == p["title"])):
            continue
        create_project(session, owner.id, p)
        added["projects"] += 1
    session.flush()
    return added


def _ensure_firm(session: Session, spec: dict[str, Any]) -> int:
    firm = session.scalar(select(Firm).where(Firm.name == spec["name"]))
    created = firm is None
    if firm is None:
        firm = create_firm(
            session,
            name=spec["name"],
            kind=FirmKind.SME,
            short_name=spec.get("short_name"),
            region=spec.get("region"),
            description=spec.get("description"),
            source="demo",
        )
        update_profile(
            session,
            firm,
            products=spec.get("products", []),
            industries=spec.get("industries", []),
            patents=spec.get("patents", []),
            tier=Tier(spec["tier"]) if spec.get("tier") else None,
            source="demo",
        )
    elif spec.get("tier") and firm.tier is None:
        firm.tier = Tier(spec["tier"])
    save_figures(session, firm, spec["figures"], by="demo", replace=False)
    return int(created)
