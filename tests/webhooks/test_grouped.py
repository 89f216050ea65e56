"""Deliveries finished in groups keep every at-least-once guarantee: a lost lease, a group
the database refuses, a group still open when the worker stops."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from trustroom.db import Database, bind_tenant, cross_tenant, utcnow
from trustroom.jobs import service as jobs
from trustroom.jobs.models import Job, JobStatus
from trustroom.jobs.runner import Runner
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks import tasks
from trustroom.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

from ..factories import TenantFixture
from ..receivers import Receiver
from .conftest import QUICK_DELIVER, add_endpoint, emit_members_created, run_until

World = tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]


async def deliveries(database: Database, tenant: TenantFixture) -> list[WebhookDelivery]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def logged_attempts(database: Database, tenant: TenantFixture) -> Counter[Any]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        return Counter(await session.scalars(select(WebhookAttempt.delivery_id)))


async def delivery_jobs(database: Database) -> list[Job]:
    async with database.session(write=False) as session, cross_tenant(session):
        return list(await session.scalars(select(Job).where(Job.task == tasks.DELIVER.name)))


async def expire_lease(database: Database, job_id: Any) -> None:
    async with database.session() as session, cross_tenant(session):
        await session.execute(update(Job).where(Job.id == job_id).values(visible_at=utcnow() - timedelta(seconds=1)))
        await session.commit()


def all_delivered(database: Database, tenant: TenantFixture, count: int) -> Any:
    async def check() -> bool:
        rows = await deliveries(database, tenant)
        return len(rows) == count and all(row.status == DeliveryStatus.DELIVERED for row in rows)

    return check


async def test_a_lost_lease_in_a_group_leaves_that_delivery_to_its_new_holder(local: Settings, world: World) -> None:
    database, keys, tenant, _ = world
    receiver = Receiver([])
    try:
        await add_endpoint(database, keys, local, tenant, receiver.url)
        await emit_members_created(database, tenant, 3)
        # One worker's steps by hand: dispatch, claim and prepare three deliveries.
        runner = Runner(database, local, (QUICK_DELIVER,), subscribers=(tasks.fan_out,), group_size=3, group_wait=60)
        assert runner.dispatcher is not None and await runner.dispatcher.dispatch_batch() == 3
        claimed = await runner._claim(10)
        prepared = await runner._prepare(claimed)
        assert len(claimed) == 3 and set(prepared) == {job.id for job in claimed}
        # This worker stalls past the lease of one; worker B takes that delivery over.
        lost = claimed[1]
        await expire_lease(database, lost.id)
        async with database.session() as session:
            [taken] = await jobs.claim(session, "worker-b", limit=10, lease_seconds=60)
            await session.commit()
        assert taken.id == lost.id

        await asyncio.wait_for(asyncio.gather(*(runner._execute(job, prepared[job.id]) for job in claimed)), 10)

        assert len(receiver.received) == 3  # all three were sent
        lost_delivery = lost.args["delivery_id"]
        rows = {str(row.id): row for row in await deliveries(database, tenant)}
        assert {key: row.status for key, row in rows.items()} == {
            key: DeliveryStatus.PENDING if key == lost_delivery else DeliveryStatus.DELIVERED for key in rows
        }
        assert rows[lost_delivery].attempts == 0
        assert {str(key) for key in await logged_attempts(database, tenant)} == set(rows) - {lost_delivery}
        by_id = {job.id: job for job in await delivery_jobs(database)}
        assert (by_id[lost.id].status, by_id[lost.id].leased_by) == (JobStatus.LEASED, "worker-b")
        assert all(by_id[job.id].status == JobStatus.SUCCEEDED for job in claimed if job.id != lost.id)

        # Worker B dies too: its lease runs out and the delivery is made again, not lost.
        await expire_lease(database, lost.id)
        await run_until(database, local, all_delivered(database, tenant, 3))
    finally:
        receiver.close()
    assert Counter(headers["webhook-id"] for headers, _ in receiver.received).most_common()[0][1] == 2
    assert len(receiver.received) == 4


async def test_attempts_the_database_refuses_to_record_are_delivered_again(local: Settings, world: World) -> None:
    database, keys, tenant, _ = world
    # While `test_refuse` has a row, the database refuses every attempt log row: each
    # group's transaction fails, and so does each completion tried alone.
    async with database.session() as session:
        await session.execute(text("CREATE TABLE test_refuse (reason VARCHAR(20))"))
        await session.execute(text("INSERT INTO test_refuse VALUES ('on')"))
        for statement in _refusing_trigger(database):
            await session.execute(text(statement))
        await session.commit()
    receiver = Receiver([])
    steady = dataclasses.replace(tasks.DELIVER, retry_delays=(0.5,) * len(tasks.RETRY_DELAYS))
    runner = Runner(database, local, (steady,), subscribers=(tasks.fan_out,), concurrency=4)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    try:
        await add_endpoint(database, keys, local, tenant, receiver.url)
        await emit_members_created(database, tenant, 3)

        async def refused() -> bool:
            found = await delivery_jobs(database)
            return len(found) == 3 and all((job.last_error or "").startswith("could not record") for job in found)

        await _wait(refused)
        refused_jobs = await delivery_jobs(database)
        assert all(job.status in (JobStatus.PENDING, JobStatus.LEASED) for job in refused_jobs)
        assert all(row.status == DeliveryStatus.PENDING for row in await deliveries(database, tenant))
        async with database.session() as session:
            await session.execute(text("DELETE FROM test_refuse"))
            await session.commit()
        await _wait(all_delivered(database, tenant, 3))
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
        receiver.close()
    sent = Counter(headers["webhook-id"] for headers, _ in receiver.received)
    assert len(sent) == 3 and all(count >= 2 for count in sent.values())  # sent, unrecorded, sent again
    assert sum((await logged_attempts(database, tenant)).values()) == 3  # only what was recorded
    assert all(job.status == JobStatus.SUCCEEDED for job in await delivery_jobs(database))


def _refusing_trigger(database: Database) -> list[str]:
    if database.is_sqlite:
        return [
            "CREATE TRIGGER test_refuse_attempts BEFORE INSERT ON webhook_attempts "
            "WHEN EXISTS (SELECT 1 FROM test_refuse) BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
    return [
        "CREATE FUNCTION test_refuse_attempts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM test_refuse) THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER test_refuse_attempts BEFORE INSERT ON webhook_attempts "
        "FOR EACH ROW EXECUTE FUNCTION test_refuse_attempts()",
    ]


async def _wait(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_deliveries_in_an_open_group_are_recorded_before_the_worker_stops(local: Settings, world: World) -> None:
    database, keys, tenant, _ = world
    receiver = Receiver([])
    stop = asyncio.Event()
    blocking = asyncio.Event()

    async def block(_: Any) -> None:
        # Another job that runs until the worker stops: a group closes early only when no
        # other job is running.
        blocking.set()
        await stop.wait()

    blocker = jobs.Task(f"test.block.{time.monotonic_ns()}", block)
    # A group would close only by size (64) or after an hour: only the shutdown closes it.
    runner = Runner(
        database, local, (QUICK_DELIVER, blocker), subscribers=(tasks.fan_out,), concurrency=4, group_wait=3600
    )
    worker = asyncio.create_task(runner.run(stop))
    try:
        async with database.session() as session:
            await jobs.enqueue(session, blocker)
            await session.commit()
        await asyncio.wait_for(blocking.wait(), timeout=10)
        await add_endpoint(database, keys, local, tenant, receiver.url)
        await emit_members_created(database, tenant, 3)
        await _wait(lambda: _received(receiver, 3))
        await asyncio.sleep(0.2)
        assert all(row.status == DeliveryStatus.PENDING for row in await deliveries(database, tenant))
        assert len(runner.completer.pending) == 3
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        receiver.close()
    assert await all_delivered(database, tenant, 3)()
    assert len(receiver.received) == 3
    assert sum((await logged_attempts(database, tenant)).values()) == 3
    async with database.session(write=False) as session, cross_tenant(session):
        leased = await session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.LEASED))
    assert leased == 0


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count
