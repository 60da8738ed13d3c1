"""Firms: names, what they make, their industries, patents and firm–firm relations."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date
from functools import cache
from typing import Any

import disarm
import opencc
from sqlalchemy import JSON, Date, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _enum
from marketplace.models.chain import Industry, Patent, Product


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


class FirmRelationKind(LabelledEnum):
    SUPPLIES = ("supplies", "供给", "Supplies")
    COOPERATES = ("cooperates", "合作", "Cooperates")
    INVESTS = ("invests", "投资", "Invests")
    COMPETES = ("competes", "竞争", "Competes")
    CONTROLS = ("controls", "母公司/控股", "Controls")
    JOINT_VENTURE = ("joint_venture", "合资", "Joint venture")
    ACQUIRES = ("acquires", "并购", "Acquires")


# --- Firms ----------------------------------------------------------------------------------


NAME_KEY_LENGTH = 255  # the width of the key columns


@cache
def _to_simplified() -> opencc.OpenCC:
    """OpenCC's Traditional → Simplified converter (its phrase and character tables), loaded once."""
    return opencc.OpenCC("t2s.json")


def name_key(name: str | None) -> str:
    """A firm name as compared for sameness — two names with one key look alike to a reader:

    1. NFKC (full-width brackets and letters become ASCII), without spaces and invisible
       characters (zero-width, direction marks): 测试隔膜科技(上海)有限公司 is 测试隔膜科技（上海）有限公司;
    2. Traditional characters as Simplified (OpenCC ``t2s``): 寧德時代 is 宁德时代, 比亞迪 is 比亚迪;
    3. the Unicode TR39 confusable skeleton, case folded (``disarm.skeleton_key``, Unicode's
       confusables data; ``digit_policy="tr39"`` also folds 1/l/I and 0/O): Cyrillic ТСL is TCL,
       Greek Αcme is Acme, "ACME CO" is "Acme Co".

    Stored, indexed, next to every firm name (set whenever the name is), so that finding a firm by
    it is one lookup. The key depends on the pinned versions of ``opencc`` and ``disarm``: a change
    of either (or of this function) needs a migration that recomputes the stored keys, as 0014
    does. A key longer than its column keeps its head and a digest of the whole."""
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc"))
    if not text:
        return ""
    text = _to_simplified().convert(text)
    # a name made only of characters the skeleton drops (private use, say) keeps its own key
    key = "".join(disarm.skeleton_key(text, digit_policy="tr39").split()) or text.casefold()
    if len(key) > NAME_KEY_LENGTH:
        digest = hashlib.sha256(key.encode()).hexdigest()
        key = key[: NAME_KEY_LENGTH - len(digest) - 1] + "#" + digest
    return key


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
    # the recognised tier (policies, buyers' filters and rankings rely on it); a firm's own users can
    # only claim one (``tier_claim``), which an organizer of its region or an admin recognises
    tier: Mapped[Tier | None] = mapped_column(_enum(Tier, "firm_tier"))
    tier_claim: Mapped[Tier | None] = mapped_column(_enum(Tier, "firm_tier_claim"))
    region: Mapped[str | None] = mapped_column(String(60), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(60))
    # Where each attribute came from, e.g. {"region": "inferred:registered-name", "kind": "chainkg:listed"}
    fact_sources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # name_key() of name and short_name, kept by the validator below
    name_key: Mapped[str | None] = mapped_column(String(NAME_KEY_LENGTH), index=True)
    short_name_key: Mapped[str | None] = mapped_column(String(NAME_KEY_LENGTH), index=True)

    names: Mapped[list[FirmName]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    products: Mapped[list[FirmProduct]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    industries: Mapped[list[FirmIndustry]] = relationship(back_populates="firm", cascade="all, delete-orphan")
    patents: Mapped[list[FirmPatent]] = relationship(back_populates="firm", cascade="all, delete-orphan")

    @validates("name", "short_name")
    def _keep_name_keys(self, attribute: str, value: str | None) -> str | None:
        if attribute == "name":
            self.name_key = name_key(value)
        else:
            self.short_name_key = name_key(value) if value else None
        return value

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
    name_key: Mapped[str | None] = mapped_column(String(NAME_KEY_LENGTH), index=True)  # name_key(name)

    firm: Mapped[Firm] = relationship(back_populates="names")

    @validates("name")
    def _keep_name_key(self, _attribute: str, value: str) -> str:
        self.name_key = name_key(value)
        return value


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
