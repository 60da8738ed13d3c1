"""Shared set-up for the contract tests: two firms with a drafter/approver/signer each, a third
firm, and helpers that walk a contract to signing or signed."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy.orm import Session

from marketplace.accounts.users import create_user
from marketplace.config import Settings
from marketplace.contracts import signing, starting, workflow
from marketplace.enterprise.firms import create_firm
from marketplace.models import Contract, FirmKind, Role, User

SIGNING_PASSWORD = "sign-pass-2026"
FIELDS = {
    "title": "锂电池隔膜采购合同",
    "amount": "1200000",
    "sign_place": "上海",
    "product": "湿法涂覆隔膜",
    "specification": "9μm 基膜 + 3μm 陶瓷涂覆，符合 GB/T 36363-2018",
    "quantity": "200 万平方米",
    "unit_price": "0.60",
    "delivery_schedule": "2027 年 1 月起分四批交付至甲方常州工厂",
    "acceptance": "到货 10 日内按 GB/T 36363 抽检",
    "payment_milestones": "预付 30%，验收合格后付 60%，质保期满付 10%",
}


@dataclass
class Deal:
    buyer_firm: int
    supplier_firm: int
    third_firm: int
    users: dict[str, int]

    def user(self, session: Session, who: str) -> User:
        return session.get(User, self.users[who])


def make_deal(session: Session, settings: Settings, *, enroll: bool = True) -> Deal:
    buyer = create_firm(session, name="测试采购集团股份有限公司", kind=FirmKind.LARGE, region="江苏")
    supplier = create_firm(session, name="测试隔膜科技（上海）有限公司", kind=FirmKind.SME, region="上海")
    third = create_firm(session, name="第三方无关企业有限公司", kind=FirmKind.SME)
    specs = {
        "buyer": ("buyer@t.cn", "采购经理王", Role.LARGE, buyer.id),
        "buyer_legal": ("legal@t.cn", "法务李", Role.LARGE, buyer.id),
        "supplier": ("sme@t.cn", "总经理赵", Role.SME, supplier.id),
        "supplier_legal": ("sme-legal@t.cn", "财务钱", Role.SME, supplier.id),
        "third": ("third@t.cn", "无关人员", Role.SME, third.id),
    }
    users = {}
    for key, (email, name, role, firm_id) in specs.items():
        users[key] = create_user(
            session, email=email, password="login-pass-1", name=name, role=role, firm_id=firm_id
        ).id
    deal = Deal(buyer.id, supplier.id, third.id, users)
    if enroll:
        for who in ("buyer", "supplier"):
            signing.enroll(session, settings, deal.user(session, who), SIGNING_PASSWORD)
    session.flush()
    return deal


def to_signing(session: Session, settings: Settings, deal: Deal) -> Contract:
    """Draft by the buyer, a counter by the supplier, accepted by the buyer, both approvals."""
    buyer, supplier = deal.user(session, "buyer"), deal.user(session, "supplier")
    contract = starting.start_contract(
        session,
        buyer,
        buyer_firm_id=deal.buyer_firm,
        supplier_firm_id=deal.supplier_firm,
        template="supply_chain",
        fields={**FIELDS, "unit_price": "0.55"},
    )
    workflow.designate(session, buyer, contract, approver_id=deal.users["buyer_legal"])
    workflow.designate(session, supplier, contract, approver_id=deal.users["supplier_legal"])
    workflow.counter(session, supplier, contract, {"unit_price": "0.60"}, note="原材料涨价")
    workflow.accept_round(session, buyer, contract)
    workflow.approve(session, settings, deal.user(session, "buyer_legal"), contract)
    workflow.approve(session, settings, deal.user(session, "supplier_legal"), contract)
    return contract


def to_signed(session: Session, settings: Settings, deal: Deal) -> Contract:
    contract = to_signing(session, settings, deal)
    signing.sign(session, settings, deal.user(session, "buyer"), contract, signing_password=SIGNING_PASSWORD)
    signing.sign(session, settings, deal.user(session, "supplier"), contract, signing_password=SIGNING_PASSWORD)
    return contract


def pdf_text(pdf: bytes) -> bytes:
    """The strings a PDF's pages show, run together (a wrapped line continues the one before):
    reportlab writes ASCII text into the content streams as it is."""
    out = b""
    for kid in PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]:
        contents = kid.get_object()["/Contents"]
        streams = contents if isinstance(contents, list) else [contents]
        for stream in streams:
            out += b"".join(re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", stream.get_object().data))
    return out
