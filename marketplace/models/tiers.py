"""Tier readiness: the figures a firm reports for the quality-SME gradient (梯度培育).

The criteria themselves are data (``marketplace/tier_criteria/<year>.yaml``); this table only
keeps what each firm filled in, one row per firm and criteria edition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.models.base import Base, TimestampMixin
from marketplace.models.firms import Firm


class TierFigures(TimestampMixin, Base):
    """A firm's own figures (revenue, R&D share, IP ...) for one edition of the tier criteria."""

    __tablename__ = "tier_figures"
    __table_args__ = (UniqueConstraint("firm_id", "criteria_year", name="uq_tier_figures_firm_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    criteria_year: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(120), default="")

    firm: Mapped[Firm] = relationship()
