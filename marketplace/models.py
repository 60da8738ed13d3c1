"""The domain model: firms and what they make, demands, and the match suggestions between them.

SQLAlchemy 2.0 typed models. The schema changes only through Alembic migrations in
``marketplace/migrations``. Status workflows live here next to the data they guard, so every
caller (CLI, web, importers) goes through the same rules.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
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
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from marketplace.errors import InputError, TransitionError


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[dict[str, Any]]: JSON}


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    """Store enums by value as short strings with a CHECK constraint (portable across databases)."""
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class LabelledEnum(str, enum.Enum):
    """An enum whose members carry a Chinese label for user-facing text."""

    label_zh: str
    label_en: str

    def __new__(cls, value: str, label_zh: str, label_en: str) -> LabelledEnum:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label_zh = label_zh
        obj.label_en = label_en
        return obj

    def label(self, locale: str = "zh") -> str:
        return self.label_en if locale.startswith("en") else self.label_zh

    @classmethod
    def parse(cls, raw: str, field: str) -> LabelledEnum:
        """Accept the code or the Chinese label; raise InputError naming the field otherwise."""
        text = (raw or "").strip()
        for member in cls:
            if text in (member.value, member.label_zh, member.label_en):
                return member
        allowed = ", ".join(f"{m.value} ({m.label_zh})" for m in cls)
        raise InputError(f"{field}: unknown value {raw!r}; use one of {allowed}", field=field)


class FirmKind(LabelledEnum):
    LARGE = ("large", "大型企业", "Large enterprise")
    SME = ("sme", "中小企业", "SME")
    UNKNOWN = ("unknown", "未知", "Unknown")


class Tier(LabelledEnum):
    """Chinese SME quality tiers, lowest to highest."""

    INNOVATIVE = ("innovative", "创新型中小企业", "Innovative SME")
    SPECIALIZED = ("specialized", "专精特新", "Specialized & innovative")
    LITTLE_GIANT = ("little_giant", '专精特新"小巨人"', '"Little giant"')
    SINGLE_CHAMPION = ("single_champion", "制造业单项冠军", "Single champion")

    @property
    def rank(self) -> int:
        return list(Tier).index(self) + 1


class NameKind(LabelledEnum):
    REGISTERED = ("registered", "注册全称", "Registered name")
    SHORT = ("short", "简称", "Short name")
    FORMER = ("former", "曾用名", "Former name")
    ALIAS = ("alias", "别名", "Alias")


class ProductRelationKind(LabelledEnum):
    UPSTREAM_MATERIAL = ("upstream_material", "上游原材料", "Upstream material")
    DOWNSTREAM_PRODUCT = ("downstream_product", "下游产品", "Downstream product")
    SUBCLASS = ("subclass", "子类", "Subclass")


class FirmRelationKind(LabelledEnum):
    SUPPLIES = ("supplies", "供给", "Supplies")
    COOPERATES = ("cooperates", "合作", "Cooperates")
    INVESTS = ("invests", "投资", "Invests")
    COMPETES = ("competes", "竞争", "Competes")
    CONTROLS = ("controls", "母公司/控股", "Controls")
    JOINT_VENTURE = ("joint_venture", "合资", "Joint venture")
    ACQUIRES = ("acquires", "并购", "Acquires")


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


class Role(LabelledEnum):
    LARGE = ("large", "大型企业用户", "Large-firm user")
    SME = ("sme", "中小企业用户", "SME user")
    ORGANIZER = ("organizer", "组织方", "Organizer")
    ADMIN = ("admin", "管理员", "Administrator")


class OrganizationKind(LabelledEnum):
    GOVERNMENT = ("government", "政府部门", "Government body")
    ASSOCIATION = ("association", "行业协会", "Industry association")
    PARK = ("park", "园区运营方", "Park operator")


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


def _check_transition(kind: str, current: enum.Enum, new: enum.Enum, allowed: set) -> None:
    if new not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "none (final state)"
        raise TransitionError(
            f"{kind} cannot go from {current.value} to {new.value}; allowed next: {options}",
            field="status",
        )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# --- Chain vocabulary -----------------------------------------------------------------------


class Industry(Base):
    """An industry: Shenwan 2021 classification (with code) or a named industry from ICKG."""

    __tablename__ = "industries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # "sw:110101" or "name:风电"
    code: Mapped[str | None] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    level: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("industries.id"))
    source: Mapped[str] = mapped_column(String(40))

    parent: Mapped[Industry | None] = relationship(remote_side=[id])


class IndustryUpstream(Base):
    """``upstream`` industry supplies ``industry``; ``support`` counts product links behind it."""

    __tablename__ = "industry_upstream"
    __table_args__ = (UniqueConstraint("industry_id", "upstream_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    industry_id: Mapped[int] = mapped_column(ForeignKey("industries.id"), index=True)
    upstream_id: Mapped[int] = mapped_column(ForeignKey("industries.id"), index=True)
    support: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(40))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(40))


class ProductRelation(Base):
    """``product`` --relation--> ``other``: other is an upstream material, a downstream product
    or a narrower subclass of product."""

    __tablename__ = "product_relations"
    __table_args__ = (UniqueConstraint("product_id", "relation", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    relation: Mapped[ProductRelationKind] = mapped_column(_enum(ProductRelationKind, "product_relation_kind"))
    other_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    source: Mapped[str] = mapped_column(String(40))


class ProductIndustry(Base):
    __tablename__ = "product_industries"
    __table_args__ = (UniqueConstraint("product_id", "industry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    industry_id: Mapped[int] = mapped_column(ForeignKey("industries.id"), index=True)
    source: Mapped[str] = mapped_column(String(40))


class Patent(Base):
    __tablename__ = "patents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500), unique=True)
    source: Mapped[str] = mapped_column(String(40))


# --- Firms ----------------------------------------------------------------------------------


class Firm(TimestampMixin, Base):
    """A company. ``name`` is the registered full name when known, else the best-known name."""

    __tablename__ = "firms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    short_name: Mapped[str | None] = mapped_column(String(120), index=True)
    stock_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    exchange: Mapped[str | None] = mapped_column(String(40))
    listed_on: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[FirmKind] = mapped_column(_enum(FirmKind, "firm_kind"), default=FirmKind.UNKNOWN)
    tier: Mapped[Tier | None] = mapped_column(_enum(Tier, "firm_tier"))
    region: Mapped[str | None] = mapped_column(String(60), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(60))
    # Where each attribute came from, e.g. {"region": "inferred:registered-name", "kind": "chainkg:listed"}
    fact_sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    names: Mapped[list[FirmName]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    products: Mapped[list[FirmProduct]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    industries: Mapped[list[FirmIndustry]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    patents: Mapped[list[FirmPatent]] = relationship(back_populates="firm", cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        return self.short_name or self.name


class FirmName(Base):
    """Every name a firm is known by: registered, short (stock) name, former names, aliases."""

    __tablename__ = "firm_names"
    __table_args__ = (UniqueConstraint("firm_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[NameKind] = mapped_column(_enum(NameKind, "firm_name_kind"))
    source: Mapped[str] = mapped_column(String(40))

    firm: Mapped[Firm] = relationship(back_populates="names")


class FirmProduct(Base):
    __tablename__ = "firm_products"
    __table_args__ = (UniqueConstraint("firm_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    # Share of revenue as reported (None when unknown). Annual reports carry offset lines, so a
    # few shares are negative or above 1; they are kept as reported and matching clamps them.
    weight: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(40))

    firm: Mapped[Firm] = relationship(back_populates="products")
    product: Mapped[Product] = relationship()


class FirmIndustry(Base):
    __tablename__ = "firm_industries"
    __table_args__ = (UniqueConstraint("firm_id", "industry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    industry_id: Mapped[int] = mapped_column(ForeignKey("industries.id"), index=True)
    source: Mapped[str] = mapped_column(String(40))

    firm: Mapped[Firm] = relationship(back_populates="industries")
    industry: Mapped[Industry] = relationship()


class FirmPatent(Base):
    __tablename__ = "firm_patents"
    __table_args__ = (UniqueConstraint("firm_id", "patent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    patent_id: Mapped[int] = mapped_column(ForeignKey("patents.id"), index=True)
    observed_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40))

    firm: Mapped[Firm] = relationship(back_populates="patents")
    patent: Mapped[Patent] = relationship()


class FirmRelation(Base):
    """A firm–firm fact from ICKG: ``firm`` supplies/cooperates with/invests in ... ``other``."""

    __tablename__ = "firm_relations"
    __table_args__ = (UniqueConstraint("firm_id", "relation", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    relation: Mapped[FirmRelationKind] = mapped_column(_enum(FirmRelationKind, "firm_relation_kind"))
    other_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    observed_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40))


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
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
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
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)

    firm: Mapped[Firm | None] = relationship()
    organization: Mapped[Organization | None] = relationship()


@event.listens_for(Session, "before_flush")
def _no_self_suggestion(session: Session, _ctx: object, _instances: object) -> None:
    """A firm is never suggested for its own demand, whichever code path adds the row."""
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, MatchSuggestion):
            continue
        demand = obj.demand if obj.demand is not None else session.get(Demand, obj.demand_id)
        firm_id = obj.firm.id if obj.firm is not None else obj.firm_id
        if demand is not None and firm_id is not None and demand.owner_firm_id == firm_id:
            raise InputError(
                f"firm {firm_id} owns demand {demand.id} and cannot be suggested for it",
                field="firm_id",
            )
