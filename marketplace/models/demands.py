"""Demands and the match suggestions between a demand and a firm, with their workflows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from marketplace.errors import InputError, msg
from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _check_transition, _enum, utcnow
from marketplace.models.firms import Firm


class DemandType(LabelledEnum):
    RD = ("rd", "技术研发", "R&D")
    SUPPLY_CHAIN = ("supply_chain", "供应链/采购", "Supply chain")
    INVESTMENT = ("investment", "投资", "Investment")
    INCUBATION = ("incubation", "孵化", "Incubation")
    SERVICE = ("service", "服务", "Services")


class DemandStatus(LabelledEnum):
    DRAFT = ("draft", "草稿", "Draft")
    OPEN = ("open", "征集中", "Open")
    MATCHED = ("matched", "已匹配", "Matched")
    CLOSED = ("closed", "已关闭", "Closed")
    WITHDRAWN = ("withdrawn", "已撤回", "Withdrawn")


class Visibility(LabelledEnum):
    PUBLIC = ("public", "公开", "Public")
    INVITED = ("invited", "仅受邀企业", "Invited firms only")
    PRIVATE = ("private", "仅本企业", "Own firm only")


class SuggestionStatus(LabelledEnum):
    SUGGESTED = ("suggested", "已推荐", "Suggested")
    ACCEPTED = ("accepted", "已接受", "Accepted")
    DECLINED = ("declined", "已拒绝", "Declined")
    CONTACTED = ("contacted", "已对接", "Contacted")


class OwnerAction(LabelledEnum):
    """What the demand owner did with a suggested firm."""

    NONE = ("none", "未处理", "No action")
    SHORTLISTED = ("shortlisted", "已入围", "Shortlisted")
    INVITED = ("invited", "已邀请洽谈", "Invited to talk")
    REJECTED = ("rejected", "已婉拒", "Declined")


DEMAND_TRANSITIONS: dict[DemandStatus, set[DemandStatus]] = {
    DemandStatus.DRAFT: {DemandStatus.OPEN, DemandStatus.WITHDRAWN},
    DemandStatus.OPEN: {DemandStatus.MATCHED, DemandStatus.CLOSED, DemandStatus.WITHDRAWN},
    DemandStatus.MATCHED: {DemandStatus.CLOSED, DemandStatus.WITHDRAWN},
    DemandStatus.CLOSED: set(),
    DemandStatus.WITHDRAWN: set(),
}

SUGGESTION_TRANSITIONS: dict[SuggestionStatus, set[SuggestionStatus]] = {
    SuggestionStatus.SUGGESTED: {SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED},
    SuggestionStatus.ACCEPTED: {SuggestionStatus.CONTACTED},
    SuggestionStatus.DECLINED: set(),
    SuggestionStatus.CONTACTED: set(),
}


# --- Demands and matches --------------------------------------------------------------------


class Demand(TimestampMixin, Base):
    """A need published by a (usually large) firm."""

    __tablename__ = "demands"
    __table_args__ = (
        CheckConstraint(
            "budget_min IS NULL OR budget_max IS NULL OR budget_min <= budget_max",
            name="budget_range_ordered",
        ),
        Index("ix_demands_status_type", "status", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    type: Mapped[DemandType] = mapped_column(_enum(DemandType, "demand_type"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    wanted_products: Mapped[list[str]] = mapped_column(JSON, default=list)
    wanted_industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    wanted_technologies: Mapped[list[str]] = mapped_column(JSON, default=list)
    region_preference: Mapped[str | None] = mapped_column(String(60))
    budget_min: Mapped[float | None] = mapped_column(Float)  # 万元 (10,000 CNY)
    budget_max: Mapped[float | None] = mapped_column(Float)
    deadline: Mapped[date | None] = mapped_column(Date)
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility, "demand_visibility"), default=Visibility.PUBLIC)
    status: Mapped[DemandStatus] = mapped_column(_enum(DemandStatus, "demand_status"), default=DemandStatus.DRAFT)
    # Type-specific fields (R&D: ip_terms; supply chain: quantity, quality_standard, delivery; ...)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    owner: Mapped[Firm] = relationship()
    suggestions: Mapped[list[MatchSuggestion]] = relationship(back_populates="demand", cascade="all, delete-orphan")

    def transition(self, new: DemandStatus) -> None:
        current = self.status or DemandStatus.DRAFT
        _check_transition("demand", current, new, DEMAND_TRANSITIONS[current])
        self.status = new
        if new is DemandStatus.OPEN:
            self.published_at = utcnow()
        if new in (DemandStatus.CLOSED, DemandStatus.WITHDRAWN):
            self.closed_at = utcnow()

    def match_text(self) -> str:
        """The text the matching engine reads for this demand."""
        parts = [self.title, self.description or ""]
        parts += list(self.wanted_products or []) + list(self.wanted_technologies or [])
        parts += list(self.wanted_industries or [])
        return "\n".join(p for p in parts if p)


class MatchSuggestion(TimestampMixin, Base):
    """A firm suggested for a demand, with the score and the reasons behind it."""

    __tablename__ = "match_suggestions"
    __table_args__ = (UniqueConstraint("demand_id", "firm_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # marketplace/matching/reasons.py
    status: Mapped[SuggestionStatus] = mapped_column(
        _enum(SuggestionStatus, "suggestion_status"), default=SuggestionStatus.SUGGESTED
    )
    owner_action: Mapped[OwnerAction] = mapped_column(
        _enum(OwnerAction, "owner_action"), default=OwnerAction.NONE, server_default=OwnerAction.NONE.value
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime)

    demand: Mapped[Demand] = relationship(back_populates="suggestions")
    firm: Mapped[Firm] = relationship()

    def transition(self, new: SuggestionStatus) -> None:
        current = self.status or SuggestionStatus.SUGGESTED
        _check_transition("suggestion", current, new, SUGGESTION_TRANSITIONS[current])
        self.status = new
        if new in (SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED):
            self.decided_at = utcnow()
        if new is SuggestionStatus.CONTACTED:
            self.contacted_at = utcnow()


@event.listens_for(Session, "before_flush")
def _no_self_suggestion(session: Session, _ctx: object, _instances: object) -> None:
    """A firm is never suggested for its own demand, whichever code path adds the row."""
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, MatchSuggestion):
            continue
        # what the row points at, from the relationship where code set (or loaded) it, else from the
        # column: never a lazy load per row (saving 20 suggestions must not cost 20 SELECTs)
        demand = obj.__dict__.get("demand") or session.get(Demand, obj.demand_id)
        firm = obj.__dict__.get("firm")
        firm_id = firm.id if firm is not None else obj.firm_id
        if demand is not None and firm_id is not None and demand.owner_firm_id == firm_id:
            raise InputError(
                msg(
                    "firm %(firm)s owns demand %(demand)s and cannot be suggested for it",
                    firm=firm_id,
                    demand=demand.id,
                ),
                field="firm_id",
            )
