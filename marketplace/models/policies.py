"""Enterprise policies (惠企政策) published by organizers, with structured eligibility rules, and
the firms each policy applies to (so a changed policy notifies only the firms it newly reaches)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.accounts import Organization
from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _enum, utcnow


class PolicyStatus(LabelledEnum):
    DRAFT = ("draft", "草稿", "Draft")
    PUBLISHED = ("published", "已发布", "Published")
    WITHDRAWN = ("withdrawn", "已撤回", "Withdrawn")


class Policy(TimestampMixin, Base):
    """One support policy: who issued it, where and when it applies, what it gives, and the
    eligibility rules (validated by ``marketplace.enterprise.policy_rules.validate_rules``)."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    issuer: Mapped[str] = mapped_column(String(255))
    document_number: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(60), index=True)  # None: nationwide
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    benefit: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    original_text: Mapped[str] = mapped_column(Text, default="")
    source_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[PolicyStatus] = mapped_column(_enum(PolicyStatus, "policy_status"), default=PolicyStatus.DRAFT)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)

    organization: Mapped[Organization | None] = relationship()


class PolicyReach(Base):
    """A firm a published policy applies to, and when the firm was told."""

    __tablename__ = "policy_reach"
    __table_args__ = (UniqueConstraint("policy_id", "firm_id", name="uq_policy_reach"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    notified_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
