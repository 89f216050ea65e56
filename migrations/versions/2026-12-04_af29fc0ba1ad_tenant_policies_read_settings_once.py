"""tenant policies read their settings once per statement, not once per row

Revision ID: af29fc0ba1ad
Revises: 081688c6a870
Create Date: 2026-12-04 09:00:00.000000

The policies compared every row with `current_setting(...)` called for that row; wrapped in
sub-selects (`db.rls_rule`), the settings are read once per statement as init plans. The
rule itself is unchanged: the bound tenant's rows, or every row while the bypass is on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trustroom.db import BYPASS_SETTING, TENANT_SETTING, rls_rule

revision: str = "af29fc0ba1ad"
down_revision: str | None = "081688c6a870"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _old_rule(column: str) -> str:
    current = f"nullif(current_setting('{TENANT_SETTING}', true), '')::uuid"
    bypass = f"current_setting('{BYPASS_SETTING}', true) = 'on'"
    return f"({column} = {current} OR {bypass})"


def _alter(rule: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    tables = bind.scalars(
        sa.text(
            "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() "
            "AND policyname = 'tenant_isolation' ORDER BY tablename"
        )
    ).all()
    for table in tables:
        condition = rule.format(column="id" if table == "tenants" else "tenant_id")
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}")


def upgrade() -> None:
    _alter(rls_rule("{column}"))


def downgrade() -> None:
    _alter(_old_rule("{column}"))
