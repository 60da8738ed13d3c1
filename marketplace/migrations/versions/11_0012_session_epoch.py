"""users: a session epoch, so that a password change or a sign-out ends every session

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 21:30:00

Sessions are signed cookies holding the user id; the id now carries the user's session epoch,
which a password change or a sign-out bumps. Added in place, not in batch mode (a batch copies and
drops ``users``, which other tables reference). Sessions issued before this revision end once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN session_epoch")
        return
    op.drop_column("users", "session_epoch")
