"""Procurement projects (政府采购 / 分包) posted by large firms, their lots, and the consortium
(联合体) members invited to each lot with their answer and agreed share."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _check_transition, _enum
from marketplace.models.firms import Firm


class ProjectStatus(LabelledEnum):
    OPEN = ("open", "组建中", "Forming")
    AGREED = ("agreed", "已达成", "Agreed")
    CLOSED = ("closed", "已关闭", "Closed")


class MemberStatus(LabelledEnum):
    INVITED = ("invited", "已邀请", "Invited")
    ACCEPTED = ("accepted", "已接受", "Accepted")
    DECLINED = ("declined", "已拒绝", "Declined")
    WITHDRAWN = ("withdrawn", "已撤回", "Withdrawn")


MEMBER_TRANSITIONS: dict[MemberStatus, set[MemberStatus]] = {
    MemberStatus.INVITED: {MemberStatus.ACCEPTED, MemberStatus.DECLINED, MemberStatus.WITHDRAWN},
    MemberStatus.ACCEPTED: {MemberStatus.WITHDRAWN},
    MemberStatus.DECLINED: set(),
    MemberStatus.WITHDRAWN: set(),
}


class ProcurementProject(TimestampMixin, Base):
    """A procurement project whose lots a consortium led by ``owner`` bids for."""

    __tablename__ = "procurement_projects"
    __table_args__ = (CheckConstraint("sme_share >= 0 AND sme_share <= 1", name="ck_project_sme_share"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[str | None] = mapped_column(String(60), index=True)
    sme_share: Mapped[float] = mapped_column(Float, default=0.0)  # reserved for SMEs, of the total budget
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ProjectStatus] = mapped_column(_enum(ProjectStatus, "project_status"), default=ProjectStatus.OPEN)

    owner: Mapped[Firm] = relationship()
    lots: Mapped[list[ProjectLot]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectLot.position"
    )
    members: Mapped[list[ConsortiumMember]] = relationship(back_populates="project", cascade="all, delete-orphan")

    @property
    def budget(self) -> float:
        return sum(lot.budget for lot in self.lots)


class ProjectLot(Base):
    __tablename__ = "project_lots"
    __table_args__ = (
        UniqueConstraint("project_id", "position", name="uq_project_lot_position"),
        CheckConstraint("budget > 0", name="ck_lot_budget_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("procurement_projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    capabilities: Mapped[str] = mapped_column(Text, default="")
    budget: Mapped[float] = mapped_column(Float)  # 万元

    project: Mapped[ProcurementProject] = relationship(back_populates="lots")


class ConsortiumMember(Base):
    """A firm invited to take a lot; ``share`` is the agreed share of the lot's budget (0..1)."""

    __tablename__ = "consortium_members"
    __table_args__ = (
        UniqueConstraint("lot_id", "firm_id", name="uq_consortium_member"),
        CheckConstraint("share > 0 AND share <= 1", name="ck_member_share"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("procurement_projects.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("project_lots.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    share: Mapped[float] = mapped_column(Float, default=1.0)
    is_sme: Mapped[bool] = mapped_column(default=False)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus, "member_status"), default=MemberStatus.INVITED)
    invited_at: Mapped[datetime] = mapped_column(DateTime)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime)

    project: Mapped[ProcurementProject] = relationship(back_populates="members")
    lot: Mapped[ProjectLot] = relationship()
    firm: Mapped[Firm] = relationship()

    def set_status(self, new: MemberStatus) -> None:
        _check_transition("consortium member", self.status, new, MEMBER_TRANSITIONS[self.status])
        self.status = new
