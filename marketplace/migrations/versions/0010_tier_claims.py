"""tier claims: a firm claims a tier, an organizer of its region or an admin recognises it

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-26 15:15:00
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
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "tier_claim",
                sa.Enum(*TIERS, name="firm_tier_claim", native_enum=False, create_constraint=True, length=24),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_column("tier_claim")
