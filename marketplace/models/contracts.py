"""Contracts (云签约): negotiation rounds, comments, approvals, PAdES signatures, signing
credentials of users, and the hash-chained audit log of every action on a contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.accounts import User
from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _check_transition, _enum, utcnow
from marketplace.models.firms import Firm


class ContractStatus(LabelledEnum):
    NEGOTIATING = ("negotiating", "协商中", "In negotiation")
    APPROVING = ("approving", "内部审批中", "Internal approval")
    SIGNING = ("signing", "签署中", "Signing")
    SIGNED = ("signed", "已签署", "Signed")
    CANCELLED = ("cancelled", "已取消", "Cancelled")


class ContractSource(LabelledEnum):
    SUGGESTION = ("suggestion", "匹配推荐", "Match suggestion")
    MEETING = ("meeting", "对接会洽谈", "Event meeting")
    SCRATCH = ("scratch", "直接发起", "Started directly")
    SUPPLEMENT = ("supplement", "补充协议", "Supplement")


class Party(LabelledEnum):
    BUYER = ("buyer", "甲方", "Party A")
    SUPPLIER = ("supplier", "乙方", "Party B")


CONTRACT_TRANSITIONS: dict[ContractStatus, set[ContractStatus]] = {
    ContractStatus.NEGOTIATING: {ContractStatus.APPROVING, ContractStatus.CANCELLED},
    ContractStatus.APPROVING: {ContractStatus.SIGNING, ContractStatus.NEGOTIATING, ContractStatus.CANCELLED},
    ContractStatus.SIGNING: {ContractStatus.SIGNED, ContractStatus.CANCELLED},
    ContractStatus.SIGNED: set(),
    ContractStatus.CANCELLED: set(),
}


class Contract(TimestampMixin, Base):
    """A contract between a buyer firm (甲方) and a supplier firm (乙方)."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)  # public verification link
    template: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[ContractStatus] = mapped_column(
        _enum(ContractStatus, "contract_status"), default=ContractStatus.NEGOTIATING
    )
    source: Mapped[ContractSource] = mapped_column(_enum(ContractSource, "contract_source"))
    source_ref: Mapped[str | None] = mapped_column(String(80))
    buyer_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    supplier_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("demands.id", ondelete="SET NULL"), index=True)
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("match_suggestions.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    buyer_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supplier_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    buyer_signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supplier_signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[float | None] = mapped_column(Float)  # CNY, from the accepted round
    final_round_id: Mapped[int | None] = mapped_column(Integer)  # the accepted round (no FK: avoids a cycle)
    unsigned_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    unsigned_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    audit_anchor: Mapped[str | None] = mapped_column(String(64))  # audit head printed on the PDF

    buyer_firm: Mapped[Firm] = relationship(foreign_keys=[buyer_firm_id])
    supplier_firm: Mapped[Firm] = relationship(foreign_keys=[supplier_firm_id])
    rounds: Mapped[list[ContractRound]] = relationship(
        back_populates="contract", order_by="ContractRound.number", foreign_keys="ContractRound.contract_id"
    )
    signatures: Mapped[list[ContractSignature]] = relationship(
        back_populates="contract", order_by="ContractSignature.id"
    )

    def transition(self, new: ContractStatus) -> None:
        _check_transition("contract", self.status, new, CONTRACT_TRANSITIONS[self.status])
        self.status = new

    def firm_id_of(self, party: Party) -> int:
        return self.buyer_firm_id if party is Party.BUYER else self.supplier_firm_id

    def party_of_firm(self, firm_id: int | None) -> Party | None:
        if firm_id == self.buyer_firm_id:
            return Party.BUYER
        if firm_id == self.supplier_firm_id:
            return Party.SUPPLIER
        return None


class ContractRound(Base):
    """One frozen version of the terms proposed by one side, with its content hash."""

    __tablename__ = "contract_rounds"
    __table_args__ = (UniqueConstraint("contract_id", "number", name="uq_contract_rounds_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    author_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="rounds", foreign_keys=[contract_id])
    author: Mapped[User] = relationship()


class ContractComment(Base):
    __tablename__ = "contract_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("contract_rounds.id", ondelete="CASCADE"))
    clause: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User] = relationship()


class ContractApproval(Base):
    """A firm's internal approval (drafter → approver) of the final round."""

    __tablename__ = "contract_approvals"
    __table_args__ = (UniqueConstraint("round_id", "party", name="uq_contract_approvals_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("contract_rounds.id", ondelete="CASCADE"))
    party: Mapped[Party] = mapped_column(_enum(Party, "contract_party"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved: Mapped[bool] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ContractSignature(Base):
    """One party's PAdES signature; the row and the PDF revision it produced are stored together."""

    __tablename__ = "contract_signatures"
    __table_args__ = (UniqueConstraint("contract_id", "party", name="uq_contract_signatures_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    party: Mapped[Party] = mapped_column(_enum(Party, "signature_party"))
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    credential_id: Mapped[int] = mapped_column(ForeignKey("signing_credentials.id"))
    intent: Mapped[str] = mapped_column(String(40))  # how intent was proven: password, password+totp
    provider: Mapped[str] = mapped_column(String(40))
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    timestamp: Mapped[datetime | None] = mapped_column(DateTime)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="signatures")
    signer: Mapped[User] = relationship()


class SigningCredential(TimestampMixin, Base):
    """A user's signing key (PKCS#8, encrypted under their signing password) and certificate."""

    __tablename__ = "signing_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(48), unique=True)  # hex
    cert_pem: Mapped[str] = mapped_column(Text)
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()


class ContractAuditEntry(Base):
    """One action on a contract; each entry's hash covers its content and the previous hash."""

    __tablename__ = "contract_audit"
    __table_args__ = (UniqueConstraint("contract_id", "seq", name="uq_contract_audit_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
