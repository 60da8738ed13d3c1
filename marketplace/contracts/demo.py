"""Demo contracts for ``make run``: one fully signed supply-chain contract between the demo
large firm and the demo SME, and one still in negotiation. Idempotent (found by source_ref).

The demo large-firm and SME users sign (signing password :data:`DEMO_SIGNING_PASSWORD`); each
firm has a demo approver. ``demo accounts`` prints them all (:func:`contract_roles`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.config import Settings
from marketplace.models import Contract, ContractSource, Role, User

DEMO_SIGNING_PASSWORD = "chainmatch-sign"
SIGNERS = {"large": "large@demo.chainmatch.cn", "sme": "sme@demo.chainmatch.cn"}
APPROVERS = {
    "large": ("large-legal@demo.chainmatch.cn", "大企业法务（审批人）", Role.LARGE),
    "sme": ("sme-finance@demo.chainmatch.cn", "中小企业财务（审批人）", Role.SME),
}
SIGNED_FIELDS = {
    "title": "【演示】锂电池湿法涂覆隔膜采购合同",
    "amount": "1200000",
    "sign_place": "上海",
    "product": "锂电池湿法涂覆隔膜",
    "specification": "9μm 湿法基膜 + 3μm 陶瓷涂覆；厚度公差 ±1μm；符合 GB/T 36363-2018",
    "quantity": "200 万平方米",
    "unit_price": "0.60",
    "delivery_schedule": "2027 年 1 月至 4 月每月交付 50 万平方米，送至甲方指定工厂",
    "acceptance": "到货后 10 个工作日内按 GB/T 36363-2018 抽样检验，不合格批次退换",
    "payment_milestones": "合同生效后预付 30%；每批验收合格后支付该批货款的 60%；质保期满支付 10%",
}


def _user(session: Session, email: str, name: str, role: Role, firm_id: int, password: str) -> User:
    from marketplace.accounts.users import create_user

    user = session.scalar(select(User).where(User.email == email))
    return user or create_user(session, email=email, password=password, name=name, role=role, firm_id=firm_id)


def ensure_demo_approvers(session: Session, login_password: str) -> dict[str, User]:
    """The approver of each demo firm (created when missing), keyed ``large`` / ``sme``; none for a
    demo user without a firm."""
    made = {}
    for key, (email, name, role) in APPROVERS.items():
        owner = session.scalar(select(User).where(User.email == SIGNERS[key]))
        if owner is not None and owner.firm_id is not None:
            made[key] = _user(session, email, name, role, owner.firm_id, login_password)
    return made


def ensure_demo_signers(session: Session, settings: Settings) -> dict[str, bool]:
    """Give each demo signer without a signing key one under :data:`DEMO_SIGNING_PASSWORD`; returns,
    per e-mail, whether that password opens the signer's key (False once they chose their own)."""
    from marketplace.contracts import access, pki, signing
    from marketplace.errors import InputError

    opens = {}
    for email in SIGNERS.values():
        user = session.scalar(select(User).where(User.email == email))
        if user is None or access.acting_firm(user) is None:
            continue
        credential = signing.active_credential(session, user.id)
        if credential is None:
            credential, _uri = signing.enroll(session, settings, user, DEMO_SIGNING_PASSWORD)
        try:
            pki.decrypt_user_key(credential.encrypted_key, DEMO_SIGNING_PASSWORD)
        except InputError:
            opens[email] = False
        else:
            opens[email] = True
    return opens


def contract_roles(
    session: Session, settings: Settings, accounts: list[dict[str, Any]], login_password: str
) -> list[dict[str, Any]]:
    """The demo ``accounts`` (rows of ``ensure_demo_accounts``) with what each does in contracts,
    followed by the approvers: ``contract_role`` (``signer``, ``approver`` or None) and
    ``signing_password`` (the demo one where it opens the signer's key, else None)."""
    approvers = ensure_demo_approvers(session, login_password)
    opens = ensure_demo_signers(session, settings)
    rows = [
        {
            **row,
            "contract_role": "signer" if row["email"] in opens else None,
            "signing_password": DEMO_SIGNING_PASSWORD if opens.get(row["email"]) else None,
        }
        for row in accounts
    ]
    for user in approvers.values():
        rows.append(
            {
                "email": user.email,
                "role": user.role.value,
                "belongs_to": user.firm.name if user.firm else "—",
                "contract_role": "approver",
                "signing_password": None,
            }
        )
    return rows


def load_demo_contracts(
    session: Session, settings: Settings, login_password: str = "chainmatch-demo"
) -> dict[str, Any]:
    """Create the demo contracts if they are not there; returns their ids."""
    from marketplace.accounts.demo import ensure_demo_accounts
    from marketplace.contracts import signing, starting, workflow

    ensure_demo_accounts(session, login_password)
    large = session.scalar(select(User).where(User.email == SIGNERS["large"]))
    sme = session.scalar(select(User).where(User.email == SIGNERS["sme"]))
    if large is None or sme is None or large.firm_id is None:
        return {"signed": None, "negotiating": None}
    approvers = ensure_demo_approvers(session, login_password)
    for user in (large, sme):
        if signing.active_credential(session, user.id) is None:
            signing.enroll(session, settings, user, DEMO_SIGNING_PASSWORD)
    found = {
        ref: session.scalar(select(Contract.id).where(Contract.source_ref == f"demo:{ref}"))
        for ref in ("signed", "negotiating")
    }
    if found["signed"] is None:
        c = starting.start_contract(
            session,
            large,
            buyer_firm_id=large.firm_id,
            supplier_firm_id=sme.firm_id,
            template="supply_chain",
            source=ContractSource.SCRATCH,
            source_ref="demo:signed",
            fields={**SIGNED_FIELDS, "unit_price": "0.58"},
        )
        workflow.designate(session, large, c, approver_id=approvers["large"].id)
        workflow.designate(session, sme, c, approver_id=approvers["sme"].id)
        workflow.comment(session, sme, c, "subject", "基膜原材料价格上涨，单价需调整为 0.60 元。")
        workflow.counter(session, sme, c, {"unit_price": "0.60"}, note="单价按原材料行情调整")
        workflow.accept_round(session, large, c)
        workflow.approve(session, settings, approvers["large"], c, note="法务审核通过")
        workflow.approve(session, settings, approvers["sme"], c, note="财务审核通过")
        signing.sign(session, settings, large, c, signing_password=DEMO_SIGNING_PASSWORD)
        signing.sign(session, settings, sme, c, signing_password=DEMO_SIGNING_PASSWORD)
        found["signed"] = c.id
    if found["negotiating"] is None:
        c = starting.start_contract(
            session,
            sme,
            buyer_firm_id=large.firm_id,
            supplier_firm_id=sme.firm_id,
            template="rd",
            source=ContractSource.SCRATCH,
            source_ref="demo:negotiating",
            fields={
                "title": "【演示】隔膜在线缺陷检测技术开发合同",
                "amount": "800000",
                "sign_place": "上海",
                "project": "开发隔膜涂覆产线在线缺陷检测系统，识别针孔、划痕与涂覆不均",
                "deliverables": "检测设备样机一套、检测软件及源代码、技术文档",
                "schedule": "合同生效后 6 个月内交付样机，9 个月内完成产线验证",
                "ip_ownership": "背景知识产权归各自所有；本项目产生的专利由双方共有",
                "acceptance": "漏检率低于 0.5%，误报率低于 2%",
                "payment_milestones": "预付 20%，样机交付付 50%，验收合格付 30%",
            },
        )
        workflow.counter(
            session,
            large,
            c,
            {"ip_ownership": "本项目产生的专利归甲方所有，乙方享有免费使用权"},
            note="知识产权条款调整",
        )
        found["negotiating"] = c.id
    return found
