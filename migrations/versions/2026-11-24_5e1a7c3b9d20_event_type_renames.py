"""event type renames: webhook filters and undispatched events use the new names

Revision ID: 5e1a7c3b9d20
Revises: ecf22c84bd04
Create Date: 2026-11-24 09:00:00.000000

Event types were renamed to follow one rule (README, "Events"). Filters keep working
because the API maps the old names for one release; this rewrites what is already stored,
so existing endpoints keep receiving the renamed types, and events still waiting for the
dispatcher go out under their new names. Dispatched events keep the name they had.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e1a7c3b9d20'
down_revision: str | None = 'ecf22c84bd04'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the catalogue may change again, this migration must not.
RENAMED = {
    "api_key.created": "apiKey.created",
    "api_key.revoked": "apiKey.revoked",
    "channel.verified": "contact.channel.verified",
    "changeRequest.stale": "changeRequest.outdated",
    "webhook.endpoint.disabled": "webhookEndpoint.disabled",
    "webhook.test": "webhookEndpoint.tested",
}

endpoints = sa.table("webhook_endpoints", sa.column("id", sa.Uuid()), sa.column("event_types", sa.JSON()))
events = sa.table(
    "events", sa.column("type", sa.String(100)), sa.column("dispatched_at", sa.DateTime(timezone=True))
)


def _rename(mapping: dict[str, str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Both tables are under forced row-level security; a migration spans every tenant.
        bind.execute(sa.text("SELECT set_config('trustroom.rls_bypass', 'on', true)"))
    for endpoint_id, stored in bind.execute(sa.select(endpoints.c.id, endpoints.c.event_types)).all():
        names = json.loads(stored) if isinstance(stored, str) else list(stored or [])
        renamed = sorted({mapping.get(name, name) for name in names})
        if renamed != sorted(set(names)):
            bind.execute(endpoints.update().where(endpoints.c.id == endpoint_id).values(event_types=renamed))
    for old, new in mapping.items():
        bind.execute(events.update().where(events.c.type == old, events.c.dispatched_at.is_(None)).values(type=new))


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
