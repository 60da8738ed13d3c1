"""Demo data of the enterprise services: policies with their sources, fictional demo SMEs with
tier figures at different tiers, and one procurement project with several lots
(``demo_data/enterprise_services.yaml``). Idempotent: ``demo load`` runs on every ``make run``."""

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
