"""exchange owners

Revision ID: 6dd35dbe83eb
Revises: ecf22c84bd04
Create Date: 2026-12-03 08:03:42.137396
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trustroom.db import BYPASS_SETTING


revision: str = '6dd35dbe83eb'
down_revision: str | None = '40b2bac40287'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.add_column('exchanges', sa.Column('owner_member_id', sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f('fk_exchanges_owner_member_id_members'),
            'exchanges',
            'members',
            ['owner_member_id'],
            ['id'],
        )
    else:
        # A plain ADD COLUMN, not Alembic's batch copy: that drops the old table, and with
        # foreign keys on, the drop would cascade into every folder and document. (SQLite
        # does not report the name or actions of a column's REFERENCES: the model has none.)
        op.execute('ALTER TABLE exchanges ADD COLUMN owner_member_id CHAR(32) REFERENCES members (id)')
    op.create_index(op.f('ix_exchanges_owner_member_id'), 'exchanges', ['owner_member_id'], unique=False)
    # Exchanges a member made stay visible to them: their maker becomes their owner.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"SELECT set_config('{BYPASS_SETTING}', 'on', true)")
        op.execute(
            "UPDATE exchanges SET owner_member_id = members.id FROM members "
            "WHERE members.tenant_id = exchanges.tenant_id AND exchanges.created_by = 'member:' || members.id::text"
        )
        op.execute(f"SELECT set_config('{BYPASS_SETTING}', 'off', true)")
    else:  # SQLite keeps a UUID as 32 hex digits
        op.execute(
            "UPDATE exchanges SET owner_member_id = (SELECT members.id FROM members "
            "WHERE members.tenant_id = exchanges.tenant_id "
            "AND members.id = replace(substr(exchanges.created_by, 8), '-', '')) "
            "WHERE exchanges.created_by LIKE 'member:%'"
        )


def downgrade() -> None:
    op.drop_index(op.f('ix_exchanges_owner_member_id'), table_name='exchanges')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('fk_exchanges_owner_member_id_members'), 'exchanges', type_='foreignkey')
        op.drop_column('exchanges', 'owner_member_id')
    else:  # SQLite (3.35+) drops a column that only a column-level REFERENCES names
        op.execute('ALTER TABLE exchanges DROP COLUMN owner_member_id')
