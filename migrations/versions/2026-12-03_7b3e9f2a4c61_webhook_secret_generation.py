"""webhook secrets cached per worker, emptied by a trigger-bumped generation

Revision ID: 7b3e9f2a4c61
Revises: e327763d5434
Create Date: 2026-12-03 09:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from trustroom import generations

revision: str = "7b3e9f2a4c61"
down_revision: str | None = "e327763d5434"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What webhooks.secret_cache holds: each endpoint's sealed secrets and their ends. An insert
# counts too: a rotation adds the new current secret.
COLUMNS = ("tenant_id", "endpoint_id", "secret_sealed", "expires_at")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(generations.seed_sql(generations.WEBHOOK_SECRETS))
    for statement in generations.bump_trigger_sql(
        dialect, generations.WEBHOOK_SECRETS, "webhook_secrets", COLUMNS, on_insert=True
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in generations.drop_trigger_sql(dialect, generations.WEBHOOK_SECRETS, "webhook_secrets"):
        op.execute(statement)
    op.execute(f"DELETE FROM cache_generations WHERE name = '{generations.WEBHOOK_SECRETS}'")  # noqa: S608 - a constant
