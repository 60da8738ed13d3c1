"""The chain vocabulary: industries, products and their relations, patents."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.base import Base, LabelledEnum, _enum


class ProductRelationKind(LabelledEnum):
    UPSTREAM_MATERIAL = ("upstream_material", "上游原材料", "Upstream material")
    DOWNSTREAM_PRODUCT = ("downstream_product", "下游产品", "Downstream product")
    SUBCLASS = ("subclass", "子类", "Subclass")


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
