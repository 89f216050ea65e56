"""The worker runs its periodic tasks, records job metrics and stops when asked."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trustroom.auth.keys import ServerKeys
from trustroom.auth.models import PortalSession
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.metrics import Metrics
from trustroom.settings import Settings
from trustroom.worker import PERIODIC_TASKS, PeriodicTask, run_worker

from .factories import TenantFixture, make_member


async def test_worker_purges_expired_sessions_and_stops(
    settings: Settings, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    member = await make_member(database, keys, tenant.id)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        expired = PortalSession(
            tenant_id=tenant.id,
            member_id=member.member.id,
            token_hash="e" * 64,
            stage="active",
            expires_at=utcnow() - timedelta(minutes=1),
        )
        session.add(expired)
        await session.commit()

    metrics = Metrics()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop, database=database, metrics=metrics))
    for _ in range(100):
        if metrics.jobs.labels("auth.purge_expired", "succeeded")._value.get() >= 1:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(worker, timeout=5)

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert await session.scalar(select(PortalSession).where(PortalSession.id == expired.id)) is None
    assert PERIODIC_TASKS[0].name == "auth.purge_expired"


async def test_a_failing_task_is_counted_and_the_worker_goes_on(settings: Settings, database: Database) -> None:
    calls = 0

    async def broken(session: AsyncSession, settings: Settings) -> int:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    metrics = Metrics()
    stop = asyncio.Event()
    fast = settings.model_copy(update={"worker_poll_seconds": 0.01})
    task = PeriodicTask("test.broken", 0.0, broken)
    worker = asyncio.create_task(run_worker(fast, stop, database=database, metrics=metrics, tasks=(task,)))
    while calls < 2:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(worker, timeout=5)
    assert metrics.jobs.labels("test.broken", "failed")._value.get() >= 2
