"""meetings: the reason a meeting is on the waiting list, stored as a message

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:40:00

``unscheduled_detail`` holds the reason as a message (template and values, see
``marketplace.errors.to_data``) so that pages render it in the reader's language;
``unscheduled_reason`` keeps its English text for the API and the exports. Reasons written before
this revision were "中文 / English" text and stay as they are (shown whole) until the next
scheduling run rewrites them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event_meetings", sa.Column("unscheduled_detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    # in place, not in batch mode: a batch copies and drops the table, which outcomes reference
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE event_meetings DROP COLUMN unscheduled_detail")
        return
    op.drop_column("event_meetings", "unscheduled_detail")
