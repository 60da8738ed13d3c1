"""Demo accounts for ``make run``: a large-firm user, an SME user at the demo SME, an organizer and
an admin (``serve --demo`` and the demo contracts create them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.accounts.users import create_user
from marketplace.enterprise.demo import ensure_demo_sme
from marketplace.models import Demand, Firm, FirmKind, OrganizationKind, Role, User

DEMO_ORGANIZER_REGION = "上海"  # the demo data is centred on Shanghai


def ensure_demo_accounts(session: Session, password: str) -> list[dict[str, str]]:
    """Demo users: a large-firm user at the first demo demand's owner, an SME user at a clearly
    fictional demo firm, an organizer (its organization covers 上海) and an admin. Existing accounts
    are left as they are, except that an organizer's organization without a region gets 上海."""
    large_firm = session.scalar(select(Demand.owner_firm_id).order_by(Demand.id).limit(1))
    if large_firm is None:
        large_firm = session.scalar(select(Firm.id).where(Firm.kind == FirmKind.LARGE).order_by(Firm.id).limit(1))
    sme = ensure_demo_sme(session)
    specs = [
        ("large@demo.chainmatch.cn", "大企业采购经理", Role.LARGE, {"firm_id": large_firm}),
        ("sme@demo.chainmatch.cn", "中小企业负责人", Role.SME, {"firm_id": sme.id}),
        (
            "organizer@demo.chainmatch.cn",
            "产业链对接专员",
            Role.ORGANIZER,
            {"organization_name": "示例市中小企业服务中心（演示）", "organization_kind": OrganizationKind.GOVERNMENT},
        ),
        ("admin@demo.chainmatch.cn", "平台管理员", Role.ADMIN, {}),
    ]
    rows = []
    for email, name, role, extra in specs:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = create_user(session, email=email, password=password, name=name, role=role, **extra)
        if role is Role.ORGANIZER and user.organization is not None and user.organization.region is None:
            # the region reports (tier pipeline, SME share) refuse an organization without a region;
            # the demo data is centred on Shanghai (also set on installs made before the region existed)
            user.organization.region = DEMO_ORGANIZER_REGION
        belongs = user.firm.name if user.firm else (user.organization.name if user.organization else "—")
        rows.append({"email": email, "role": role.value, "belongs_to": belongs})
    return rows
