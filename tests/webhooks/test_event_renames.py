"""Renamed event types: the migration moves stored filters and waiting events to the new names."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import select
from sqlalchemy.engine import Connection

from trustroom.db import Database, bind_tenant, utcnow
from trustroom.jobs.models import Event
from trustroom.webhooks.models import WebhookEndpoint

from ..factories import TenantFixture

MIGRATION = next((Path(__file__).parents[2] / "migrations" / "versions").glob("*_5e1a7c3b9d20_event_type_renames.py"))


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("event_type_renames", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(connection: Connection, step: Any) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        step()


async def test_the_migration_renames_stored_filters_and_waiting_events(
    database: Database, tenant: TenantFixture
) -> None:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        endpoint = WebhookEndpoint(
            tenant_id=tenant.id,
            url="https://crm.bank.example/hooks",
            event_types=["api_key.created", "member.created", "webhook.test"],
            header_names=[],
        )
        waiting = Event(tenant_id=tenant.id, type="channel.verified", data={})
        sent = Event(tenant_id=tenant.id, type="channel.verified", data={}, dispatched_at=utcnow())
        session.add_all([endpoint, waiting, sent])
        await session.commit()
        ids = endpoint.id, waiting.id, sent.id

    migration = _migration()
    async with database.engine.connect() as connection:
        await connection.run_sync(_run, migration.upgrade)
        await connection.commit()

    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        stored = await session.scalar(select(WebhookEndpoint.event_types).where(WebhookEndpoint.id == ids[0]))
        types = dict((await session.execute(select(Event.id, Event.type).where(Event.id.in_(ids[1:])))).all())
    assert stored == ["apiKey.created", "member.created", "webhookEndpoint.tested"]
    # A dispatched event keeps the name it was delivered under.
    assert types == {ids[1]: "contact.channel.verified", ids[2]: "channel.verified"}

    async with database.engine.connect() as connection:
        await connection.run_sync(_run, migration.downgrade)
        await connection.commit()
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        stored = await session.scalar(select(WebhookEndpoint.event_types).where(WebhookEndpoint.id == ids[0]))
    assert stored == ["api_key.created", "member.created", "webhook.test"]
    # Forward again: the database is shared with the other tests, which expect the new names.
    async with database.engine.connect() as connection:
        await connection.run_sync(_run, migration.upgrade)
        await connection.commit()
