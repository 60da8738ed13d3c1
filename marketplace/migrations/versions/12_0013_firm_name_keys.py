"""firms, firm_names: an indexed comparison key next to every firm name

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 00:40:00

Sign-up and firm creation refuse a name that another firm already goes by, compared after NFKC
without spaces and invisible characters, case folded (``marketplace.models.firms.name_key``). That
comparison scanned every name in Python (half a second on the full data); the key is now stored
next to each name, kept by the models, and indexed. Existing rows are filled here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from marketplace.models.firms import name_key

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("firms", "name_key", "name"), ("firms", "short_name_key", "short_name"), ("firm_names", "name_key", "name"))


def upgrade() -> None:
    for table, column, _source in COLUMNS:
        op.add_column(table, sa.Column(column, sa.String(length=255), nullable=True))
    bind = op.get_bind()
    for table, column, source in COLUMNS:
        rows = bind.execute(sa.text(f"SELECT id, {source} FROM {table} WHERE {source} IS NOT NULL")).all()
        if rows:
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = :key WHERE id = :id"),
                [{"id": row_id, "key": name_key(value)} for row_id, value in rows],
            )
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, _source in reversed(COLUMNS):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        if sqlite:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
