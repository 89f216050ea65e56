"""The job engine against a real database: transactional enqueue, leases, fencing,
retries, dead jobs, delays, schedules across two workers, wake-up and shutdown."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import select, update

from trustroom.auth.models import RateLimitWindow
from trustroom.db import Database, cross_tenant, utcnow
from trustroom.jobs import service
from trustroom.jobs.models import Job, JobStatus
from trustroom.jobs.runner import Runner
from trustroom.jobs.service import JobContext, Schedule, Task
from trustroom.metrics import Metrics
from trustroom.settings import Settings

from ..factories import TenantFixture

calls: Counter[str] = Counter()


async def _echo(ctx: JobContext, **args: Any) -> dict[str, Any]:
    calls["echo"] += 1
    await ctx.report_progress({"done": 1, "total": 1})
    return {"echo": args, "tenant": str(ctx.tenant_id)}


async def _flaky(ctx: JobContext, key: str) -> dict[str, Any]:
    calls[key] += 1
    if calls[key] < 2:
        raise RuntimeError(f"first try of {key} fails")
    return {"tries": calls[key]}


async def _broken(ctx: JobContext) -> None:
    raise ValueError("always broken")


async def _slow(ctx: JobContext) -> None:
    await asyncio.sleep(30)


async def _polite(ctx: JobContext, key: str) -> dict[str, Any]:
    # Writes a row on every attempt; the first asks to be run again, keeping its row.
    ctx.session.add(RateLimitWindow(key=f"{key}:{ctx.attempt}", window_start=utcnow(), count=ctx.attempt))
    if ctx.attempt == 1:
        ctx.retry_later("receiver busy")
    return {"attempt": ctx.attempt}


async def _tick(ctx: JobContext) -> None:
    calls["tick"] += 1


ECHO = Task("test.echo", _echo)
FLAKY = Task("test.flaky", _flaky, retry_delays=(0.05,))
BROKEN = Task("test.broken", _broken, max_attempts=2, retry_delays=(0.05,))
SLOW = Task("test.slow", _slow)
TICK = Task("test.tick", _tick)
POLITE = Task("test.polite", _polite, retry_delays=(0.05,))
TASKS = (ECHO, FLAKY, BROKEN, SLOW, POLITE)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_poll_seconds": 0.05, "worker_shutdown_grace_seconds": 0.2})


async def enqueue(database: Database, task: Task, **kwargs: Any) -> UUID:
    async with database.session() as session:
        job = await service.enqueue(session, task, **kwargs)
        await session.commit()
    return job.id


async def job_row(database: Database, job_id: UUID) -> Job:
    async with database.session(write=False) as session, cross_tenant(session):
        job = await session.scalar(select(Job).where(Job.id == job_id))
    assert job is not None
    return job


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running(fast: Settings, database: Database) -> AsyncIterator[Runner]:
    runner = Runner(database, fast, TASKS, metrics=Metrics(), concurrency=4)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    yield runner
    stop.set()
    await asyncio.wait_for(worker, timeout=10)


async def finished(database: Database, job_id: UUID) -> bool:
    return (await job_row(database, job_id)).status in (JobStatus.SUCCEEDED, JobStatus.DEAD)


async def test_a_rolled_back_enqueue_leaves_no_job(database: Database) -> None:
    async with database.session() as session:
        job = await service.enqueue(session, ECHO, note="never")
        await session.rollback()
    async with database.session(write=False) as session, cross_tenant(session):
        assert await session.scalar(select(Job).where(Job.id == job.id)) is None


async def test_a_committed_job_runs_and_is_readable_by_its_tenant(
    running: Runner, database: Database, client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    job_id = await enqueue(database, ECHO, tenant_id=tenant.id, note="hello")
    await wait_for(lambda: finished(database, job_id))
    job = await job_row(database, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert job.result == {"echo": {"note": "hello"}, "tenant": str(tenant.id)}
    assert job.progress == {"done": 1, "total": 1}

    shown = await client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers)
    assert shown.status_code == 200
    assert shown.json()["status"] == "succeeded" and shown.json()["result"]["echo"] == {"note": "hello"}
    assert (await client.get(f"/api/v1/jobs/{job_id}", headers=other_tenant.headers)).status_code == 404


async def test_enqueue_wakes_the_worker_in_the_same_process(settings: Settings, database: Database) -> None:
    slow_poll = settings.model_copy(update={"worker_poll_seconds": 30})
    runner = Runner(database, slow_poll, TASKS, concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0.2)  # the worker is now waiting out its 30 s poll
    job_id = await enqueue(database, ECHO, note="wake")
    await wait_for(lambda: finished(database, job_id), within=5)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)


async def test_a_job_committed_elsewhere_wakes_the_worker(settings: Settings, database: Database) -> None:
    # Another Database is another process's connection pool: no in-process hook reaches the
    # worker, only PostgreSQL NOTIFY or, on SQLite, the watch on `PRAGMA data_version`.
    slow_poll = settings.model_copy(update={"worker_poll_seconds": 30})
    runner = Runner(database, slow_poll, TASKS, concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0.3)  # the worker is now waiting out its 30 s poll
    elsewhere = Database(settings.resolved_database_url)
    try:
        job_id = await enqueue(elsewhere, ECHO, note="from another process")
        await wait_for(lambda: finished(database, job_id), within=5)
    finally:
        await elsewhere.dispose()
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def test_failures_retry_with_backoff_then_succeed(running: Runner, database: Database) -> None:
    job_id = await enqueue(database, FLAKY, key="flaky-1")
    await wait_for(lambda: finished(database, job_id))
    job = await job_row(database, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert job.last_error is not None and "first try of flaky-1 fails" in job.last_error


async def test_retry_later_keeps_what_the_attempt_wrote(running: Runner, database: Database) -> None:
    job_id = await enqueue(database, POLITE, key="polite-1")
    await wait_for(lambda: finished(database, job_id))
    job = await job_row(database, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2 and job.last_error == "receiver busy"
    async with database.session(write=False) as session:
        keys = set(await session.scalars(select(RateLimitWindow.key).where(RateLimitWindow.key.like("polite-1:%"))))
    assert keys == {"polite-1:1", "polite-1:2"}


async def test_spent_attempts_leave_a_dead_job_with_its_last_error(running: Runner, database: Database) -> None:
    job_id = await enqueue(database, BROKEN)
    await wait_for(lambda: finished(database, job_id))
    job = await job_row(database, job_id)
    assert job.status == JobStatus.DEAD and job.attempts == 2
    assert job.last_error == "ValueError: always broken"
    assert running.metrics.jobs.labels("test.broken", "dead")._value.get() == 1


async def test_a_worker_leaves_tasks_it_does_not_know_to_others(running: Runner, database: Database) -> None:
    # During a rolling upgrade an older worker must not claim (and fail) a newer task's jobs.
    unknown = await enqueue(database, Task("test.nobody-runs-this", _broken, max_attempts=5))
    known = await enqueue(database, ECHO, value=1)
    await wait_for(lambda: finished(database, known))
    job = await job_row(database, unknown)
    assert job.status == JobStatus.PENDING and job.attempts == 0 and job.leased_by is None


async def test_a_delayed_job_waits_for_its_time(database: Database) -> None:
    later = await enqueue(database, ECHO, run_at=utcnow() + timedelta(hours=1))
    now = await enqueue(database, ECHO)
    async with database.session() as session:
        claimed = await service.claim(session, "w", limit=100, lease_seconds=60)
        await session.commit()
    ids = {job.id for job in claimed}
    assert now in ids and later not in ids


async def test_completion_is_fenced_on_the_attempt(database: Database) -> None:
    job_id = await enqueue(database, ECHO, run_at=utcnow() - timedelta(days=400))

    async def claim(worker: str) -> service.Claimed:
        async with database.session() as session:
            [claimed] = [c for c in await service.claim(session, worker, limit=50, lease_seconds=60) if c.id == job_id]
            await session.commit()
        return claimed

    first = await claim("worker-a")
    async with database.session() as session, cross_tenant(session):  # worker A's lease runs out
        await session.execute(update(Job).where(Job.id == job_id).values(visible_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    second = await claim("worker-b")
    assert (first.attempts, second.attempts) == (1, 2)

    async with database.session() as session:
        assert await service.succeed(session, first, "worker-a", {"by": "a"}) is False
        await session.rollback()
    async with database.session() as session:
        assert await service.succeed(session, second, "worker-b", {"by": "b"}) is True
        await session.commit()
    assert (await job_row(database, job_id)).result == {"by": "b"}


async def test_schedules_fire_once_per_tick_with_two_workers(fast: Settings) -> None:
    schedule = Schedule(TICK, every_seconds=1)
    calls["tick"] = 0
    databases = [Database(fast.resolved_database_url) for _ in range(2)]
    runners = [Runner(db, fast, (), (schedule,), concurrency=2) for db in databases]
    stop = asyncio.Event()
    workers = [asyncio.create_task(runner.run(stop)) for runner in runners]
    await asyncio.sleep(3.5)
    stop.set()
    await asyncio.gather(*workers)
    async with databases[0].session(write=False) as session, cross_tenant(session):
        keys = list(await session.scalars(select(Job.dedupe_key).where(Job.task == TICK.name)))
    for db in databases:
        await db.dispose()
    assert 3 <= len(keys) <= 5
    assert len(set(keys)) == len(keys)
    assert calls["tick"] == len(keys)


async def test_shutdown_gives_back_what_did_not_finish(fast: Settings, database: Database) -> None:
    runner = Runner(database, fast, TASKS, concurrency=1)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    job_id = await enqueue(database, SLOW)
    await wait_for(lambda: _leased(database, job_id))
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    job = await job_row(database, job_id)
    assert job.status == JobStatus.PENDING and job.attempts == 0 and job.leased_by is None


async def _leased(database: Database, job_id: UUID) -> bool:
    return (await job_row(database, job_id)).status == JobStatus.LEASED


async def test_a_claim_keeps_each_concurrency_key_within_its_limit(database: Database) -> None:
    key_a, key_b = f"a:{uuid4()}", f"b:{uuid4()}"
    long_ago = utcnow() - timedelta(days=1000)
    SECOND = timedelta(seconds=1)  # noqa: N806
    # Key A's backlog is oldest: it must not crowd out key B or the jobs without a key.
    a_jobs = [
        await enqueue(database, ECHO, run_at=long_ago, concurrency_key=key_a, concurrency_limit=2) for _ in range(6)
    ]
    b_jobs = [
        await enqueue(
            database, ECHO, run_at=long_ago + timedelta(seconds=1), concurrency_key=key_b, concurrency_limit=1
        )
        for _ in range(2)
    ]
    free = [await enqueue(database, ECHO, run_at=long_ago + 2 * SECOND) for _ in range(3)]
    ours = {*a_jobs, *b_jobs, *free}

    async def claim(limit: int) -> list[service.Claimed]:
        async with database.session() as session:
            claimed = await service.claim(session, "w", limit=limit, lease_seconds=60)
            await session.commit()
        return [job for job in claimed if job.id in ours]

    first = {job.id for job in await claim(6)}
    assert first == {*a_jobs[:2], b_jobs[0], *free}
    assert await claim(10) == []  # A and B are at their limits

    done = await _as_claimed(database, a_jobs[0])
    async with database.session() as session:
        assert await service.succeed(session, done, "w", None)
        await session.commit()
    assert [job.id for job in await claim(10)] == [a_jobs[2]]


async def _as_claimed(database: Database, job_id: UUID) -> service.Claimed:
    job = await job_row(database, job_id)
    return service.Claimed(job.id, job.task, job.args, job.tenant_id, job.attempts, job.max_attempts)


async def _deferring(ctx: JobContext) -> dict[str, Any]:
    if ctx.attempt == 1 and not calls["deferred"]:
        calls["deferred"] += 1
        deferred_at.append(utcnow())
        ctx.defer(0.3)
    return {"attempt": ctx.attempt}


DEFERRING = Task("test.deferring", _deferring, max_attempts=1)
deferred_at: list[datetime] = []


async def test_a_deferred_job_runs_later_without_spending_an_attempt(fast: Settings, database: Database) -> None:
    calls["deferred"] = 0
    deferred_at.clear()
    runner = Runner(database, fast, (DEFERRING,), concurrency=1)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    job_id = await enqueue(database, DEFERRING)
    await wait_for(lambda: _pending_again(database, job_id))
    waiting = await job_row(database, job_id)
    # Measured from the moment the task deferred, not from now: on a loaded machine the
    # 0.3 s may already have passed by the time this line runs.
    assert waiting.attempts == 0
    assert waiting.visible_at >= deferred_at[0] + timedelta(seconds=0.29)
    await wait_for(lambda: finished(database, job_id))
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    job = await job_row(database, job_id)
    # max_attempts=1: had the deferral counted, the second run would not have happened.
    assert job.status == JobStatus.SUCCEEDED and job.result == {"attempt": 1}


async def _pending_again(database: Database, job_id: UUID) -> bool:
    return calls["deferred"] == 1 and (await job_row(database, job_id)).status == JobStatus.PENDING


async def test_a_running_job_keeps_its_lease_beyond_the_lease_time(fast: Settings, database: Database) -> None:
    short = fast.model_copy(update={"worker_lease_seconds": 1.0})
    runner = Runner(database, short, TASKS, concurrency=1)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    job_id = await enqueue(database, SLOW)
    await wait_for(lambda: _leased(database, job_id))
    first_lease = (await job_row(database, job_id)).visible_at
    await asyncio.sleep(2.0)  # twice the lease: only the heartbeat keeps it
    renewed = await job_row(database, job_id)
    assert renewed.status == JobStatus.LEASED and renewed.visible_at > first_lease
    assert renewed.visible_at > utcnow()
    async with database.session() as session:  # so nobody else can take it meanwhile
        assert [c.id for c in await service.claim(session, "other", limit=100, lease_seconds=60)].count(job_id) == 0
        await session.rollback()
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
