"""tier claims: a firm claims a tier, an organizer of its region or an admin recognises it

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-26 15:15:00

The column is added in place, not in batch mode: on SQLite a batch copies and drops ``firms``, which
every firm table references, and with foreign keys on (as migrations run) that fails on any database
that holds firms. SQLite adds a column with its CHECK inline and drops it again (3.35+).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIERS = ("innovative", "specialized", "little_giant", "single_champion")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        allowed = ", ".join(f"'{t}'" for t in TIERS)
        op.execute(
            "ALTER TABLE firms ADD COLUMN tier_claim VARCHAR(24) "
            f"CONSTRAINT firm_tier_claim CHECK (tier_claim IN ({allowed}))"
        )
        return
    op.add_column(
        "firms",
        sa.Column(
            "tier_claim",
            sa.Enum(*TIERS, name="firm_tier_claim", native_enum=False, create_constraint=True, length=24),
            nullable=True,
        ),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE firms DROP COLUMN tier_claim")
        return
    op.drop_column("firms", "tier_claim")
