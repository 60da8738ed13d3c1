"""firms, firm_names: the name comparison key also folds Traditional characters and look-alike letters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:30:00

Sign-up accepted 寧德時代新能源科技股份有限公司 (Traditional characters) and ТСL集团股份有限公司 (Cyrillic
Т and С) beside the firms already here, and made the registrant the admin of the look-alike. The key
``marketplace.models.firms.name_key`` now converts Traditional to Simplified (OpenCC) and takes the
Unicode TR39 confusable skeleton; the keys stored by 0013 are recomputed here (only the rows whose
key changes are written). No column changes. Downgrading puts back the keys of 0013 (NFKC,
without spaces and invisible characters, case folded).
"""

import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from marketplace.models.firms import name_key

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("firms", "name_key", "name"), ("firms", "short_name_key", "short_name"), ("firm_names", "name_key", "name"))


def _key_0013(name: str | None) -> str:
    """The key as 0013 stored it."""
    text = unicodedata.normalize("NFKC", name or "")
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc")).casefold()


def _rekey(key: Callable[[str | None], str]) -> None:
    bind = op.get_bind()
    for table, column, source in COLUMNS:
        rows = bind.execute(sa.text(f"SELECT id, {source}, {column} FROM {table} WHERE {source} IS NOT NULL")).all()
        keys = [(row_id, key(value), stored) for row_id, value, stored in rows]
        changed = [{"id": row_id, "key": new} for row_id, new, stored in keys if new != stored]
        if changed:
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :key WHERE id = :id"), changed)


def upgrade() -> None:
    _rekey(name_key)


def downgrade() -> None:
    _rekey(_key_0013)
