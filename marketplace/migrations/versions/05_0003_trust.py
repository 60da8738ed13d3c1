"""trust: demand invitations, named expiring API tokens, organizer invitations, firm membership

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('demand_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('firm_id', sa.Integer(), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name='fk_demand_invitations_demand_id', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['firm_id'], ['firms.id'], name='fk_demand_invitations_firm_id', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name='fk_demand_invitations_invited_by_id', ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('demand_id', 'firm_id', name='uq_demand_invitations_demand_firm')
    )
    with op.batch_alter_table('demand_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_invitations_demand_id'), ['demand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_demand_invitations_firm_id'), ['firm_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_api_tokens_user_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', name='uq_api_tokens_token_hash')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('organizer_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name='fk_organizer_invitations_organization_id', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name='fk_organizer_invitations_invited_by_id', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['used_by_id'], ['users.id'], name='fk_organizer_invitations_used_by_id', ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', name='uq_organizer_invitations_token_hash')
    )
    with op.batch_alter_table('organizer_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organizer_invitations_organization_id'), ['organization_id'], unique=False)

    # Existing firm users become members of their firm; the first user of each firm its admin.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_firm_admin', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('membership', sa.Enum('active', 'pending', 'rejected', name='user_membership', native_enum=False, create_constraint=True, length=24), server_default='active', nullable=False))
        batch_op.drop_column('api_token_hash')
    op.execute(
        "UPDATE users SET is_firm_admin = true WHERE firm_id IS NOT NULL AND id IN "
        "(SELECT MIN(id) FROM users WHERE firm_id IS NOT NULL GROUP BY firm_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_hash', sa.String(length=64), nullable=True))
        batch_op.drop_constraint('user_membership', type_='check')
        batch_op.drop_column('membership')
        batch_op.drop_column('is_firm_admin')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_users_api_token_hash', ['api_token_hash'])

    with op.batch_alter_table('organizer_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organizer_invitations_organization_id'))
    op.drop_table('organizer_invitations')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')
    with op.batch_alter_table('demand_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_invitations_firm_id'))
        batch_op.drop_index(batch_op.f('ix_demand_invitations_demand_id'))
    op.drop_table('demand_invitations')
