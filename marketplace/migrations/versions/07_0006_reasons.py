"""match suggestion reasons as structured data instead of Chinese sentences

Older rows hold sentences such as "匹配产品：光伏玻璃、EVA胶膜"; they are read back into reason dicts
(marketplace/reasons.py). A sentence that cannot be read (a chain path, which names no node ids,
or anything unrecognised) is kept as ``{"kind": "legacy", "text": ...}``. Downgrade renders the
dicts back into Chinese sentences.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_suggestions = sa.table('match_suggestions', sa.column('id', sa.Integer()), sa.column('reasons', sa.JSON()))


def _rewrite(convert) -> None:  # noqa: ANN001
    bind = op.get_bind()
    rows = bind.execute(sa.select(_suggestions.c.id, _suggestions.c.reasons)).all()
    for row_id, reasons in rows:
        new = convert(list(reasons or []))
        if new != reasons:
            bind.execute(_suggestions.update().where(_suggestions.c.id == row_id).values(reasons=new))


def upgrade() -> None:
    from marketplace.matching.reasons import parse_legacy

    _rewrite(lambda reasons: [parse_legacy(r) if isinstance(r, str) else r for r in reasons])


def downgrade() -> None:
    from marketplace.matching.reasons import render

    _rewrite(lambda reasons: [render(r, 'zh') for r in reasons])
