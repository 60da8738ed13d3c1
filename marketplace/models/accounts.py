"""People: users with their role, and the organizations organizers belong to."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _enum
from marketplace.models.firms import Firm


class Role(LabelledEnum):
    LARGE = ("large", "大型企业用户", "Large-firm user")
    SME = ("sme", "中小企业用户", "SME user")
    ORGANIZER = ("organizer", "组织方", "Organizer")
    ADMIN = ("admin", "管理员", "Administrator")


class Membership(LabelledEnum):
    """Whether a firm user's membership of its firm is approved (only active members act for it)."""

    ACTIVE = ("active", "已加入", "Active")
    PENDING = ("pending", "待审批", "Pending approval")
    REJECTED = ("rejected", "已拒绝", "Rejected")


class OrganizationKind(LabelledEnum):
    GOVERNMENT = ("government", "政府部门", "Government body")
    ASSOCIATION = ("association", "行业协会", "Industry association")
    PARK = ("park", "园区运营方", "Park operator")


# --- People --------------------------------------------------------------------------------


class Organization(TimestampMixin, Base):
    """An organizer: government body, industry association or park operator."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[OrganizationKind] = mapped_column(_enum(OrganizationKind, "organization_kind"))
    region: Mapped[str | None] = mapped_column(String(60))


class User(TimestampMixin, Base):
    """A person who signs in. Firm users belong to a firm, organizers to an organization."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('large', 'sme') AND firm_id IS NOT NULL) OR "
            "(role = 'organizer' AND organization_id IS NOT NULL) OR role = 'admin'",
            name="user_belongs_somewhere",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    firm_id: Mapped[int | None] = mapped_column(ForeignKey("firms.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    # A firm's admin users approve who else may act for the firm; the first user of a firm is one.
    is_firm_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    membership: Mapped[Membership] = mapped_column(
        _enum(Membership, "user_membership"), default=Membership.ACTIVE, server_default=Membership.ACTIVE.value
    )
    # part of every sign-in session's id: bumped by a password change or a sign-out, it ends every
    # session (and remember-me cookie) issued before
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    firm: Mapped[Firm | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
