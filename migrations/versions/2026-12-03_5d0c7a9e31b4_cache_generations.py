"""cache generations bumped by triggers (per-process caches invalidated across processes)

Revision ID: 5d0c7a9e31b4
Revises: ecf22c84bd04
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trustroom import generations

revision: str = "5d0c7a9e31b4"
down_revision: str | None = "5e1a7c3b9d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the auth cache holds (auth.service.api_keys): a key's tenant, scopes, hash, expiry and
# revocation; the tenant's default language; an acting member's id, email, role and state.
# NOTE: an SQLite batch_alter_table on one of these tables rebuilds it without its triggers;
# such a migration must create them again (tests/auth/test_auth_cache.py proves they exist).
AUTH_TRIGGERS = (
    ("api_keys", ("tenant_id", "key_hash", "secret_id", "scopes", "expires_at", "revoked_at")),
    ("tenants", ("default_language",)),
    ("members", ("tenant_id", "email", "role", "disabled_at")),
)


def upgrade() -> None:
    op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )
    dialect = op.get_bind().dialect.name
    op.execute(generations.seed_sql(generations.AUTH))
    for table, columns in AUTH_TRIGGERS:
        for statement in generations.bump_trigger_sql(dialect, generations.AUTH, table, columns):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, _columns in AUTH_TRIGGERS:
        for statement in generations.drop_trigger_sql(dialect, generations.AUTH, table):
            op.execute(statement)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS trustroom_bump_generation()")
    op.drop_table("cache_generations")
