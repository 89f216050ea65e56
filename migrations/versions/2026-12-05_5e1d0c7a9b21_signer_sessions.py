"""Signer sessions: the signer's browser session after posting the invite token (issue #14, item 4).

Revision ID: 5e1d0c7a9b21
Revises: c00bd75e24e7
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trustroom.db


revision: str = '5e1d0c7a9b21'
down_revision: str | None = 'c00bd75e24e7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("signer_sessions",)


def upgrade() -> None:
    op.create_table('signer_sessions',
    sa.Column('invite_id', sa.Uuid(), nullable=False),
    sa.Column('invitee_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', trustroom.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', trustroom.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['invite_id'], ['invites.id'], name=op.f('fk_signer_sessions_invite_id_invites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitee_id'], ['invitees.id'], name=op.f('fk_signer_sessions_invitee_id_invitees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_signer_sessions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signer_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_signer_sessions_token_hash'))
    )
    with op.batch_alter_table('signer_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signer_sessions_invite_id'), ['invite_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signer_sessions_invitee_id'), ['invitee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_signer_sessions_tenant_id'), ['tenant_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            for statement in trustroom.db.rls_policy_sql(table):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('signer_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signer_sessions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_signer_sessions_invitee_id'))
        batch_op.drop_index(batch_op.f('ix_signer_sessions_invite_id'))

    op.drop_table('signer_sessions')
