"""Jobs finished in groups (jobs/completion.py) against a real database: a lost lease in a
group, a group the database refuses, the size and time bounds, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import insert, select, update

from trustroom.auth.models import RateLimitWindow
from trustroom.db import Database, cross_tenant, utcnow
from trustroom.jobs import service
from trustroom.jobs.completion import LEASE_LOST, Completer
from trustroom.jobs.models import Job, JobStatus
from trustroom.jobs.service import Claimed, JobContext, Task

from .test_runner import enqueue, job_row

recorded: list[list[str]] = []


async def _stage(ctx: JobContext, key: str) -> dict[str, Any]:
    ctx.stage(key)
    return {"key": key}


async def _record(session: Any, staged: Sequence[tuple[Claimed, Any]]) -> None:
    recorded.append([key for _, key in staged])
    now = utcnow()
    await session.execute(insert(RateLimitWindow), [{"key": key, "window_start": now, "count": 1} for _, key in staged])


def grouped_task() -> Task:
    # A task name of its own per test: the claims below take only this test's jobs.
    return Task(f"test.grouped.{uuid4().hex[:8]}", _stage, retry_delays=(0.05,), record=_record)


async def claim(database: Database, worker: str, task: Task) -> list[Claimed]:
    async with database.session() as session:
        claimed = await service.claim(session, worker, limit=50, lease_seconds=60, tasks=[task.name])
        await session.commit()
    return claimed


async def windows(database: Database, keys: Sequence[str]) -> set[str]:
    async with database.session(write=False) as session:
        return set(await session.scalars(select(RateLimitWindow.key).where(RateLimitWindow.key.in_(keys))))


async def complete_all(completer: Completer, task: Task, jobs: Sequence[Claimed]) -> list[str]:
    def one(job: Claimed) -> Any:
        return completer.complete(job, task, service.succeeded({"key": job.args["key"]}), job.args["key"])

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def test_a_lost_lease_leaves_that_job_to_its_new_holder_and_completes_the_others(database: Database) -> None:
    task = grouped_task()
    keys = [f"grouped:{uuid4()}" for _ in range(3)]
    ids = [await enqueue(database, task, key=key) for key in keys]
    claimed = sorted(await claim(database, "worker-a", task), key=lambda job: ids.index(job.id))
    assert [job.id for job in claimed] == ids
    # Worker A stalls past its lease on the second job; worker B takes that job over.
    async with database.session() as session, cross_tenant(session):
        await session.execute(update(Job).where(Job.id == ids[1]).values(visible_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    [taken_over] = await claim(database, "worker-b", task)
    assert taken_over.id == ids[1] and taken_over.attempts == 2

    recorded.clear()
    # A group of three by size: the time bound (a minute) never comes into it.
    completer = Completer(database, "worker-a", size=3, wait=60)
    outcomes = await asyncio.wait_for(complete_all(completer, task, claimed), timeout=10)

    assert outcomes == ["succeeded", LEASE_LOST, "succeeded"]
    assert recorded == [[keys[0], keys[2]]]  # one group, without the lost job's writes
    assert await windows(database, keys) == {keys[0], keys[2]}
    for job_id, key in ((ids[0], keys[0]), (ids[2], keys[2])):
        job = await job_row(database, job_id)
        assert (job.status, job.leased_by, job.result) == (JobStatus.SUCCEEDED, None, {"key": key})
    lost = await job_row(database, ids[1])
    assert (lost.status, lost.leased_by, lost.attempts, lost.result) == (JobStatus.LEASED, "worker-b", 2, None)

    # Worker B still owns it and finishes it, once.
    async with database.session() as session:
        assert await service.succeed(session, taken_over, "worker-b", {"by": "b"})
        await session.commit()
    assert (await job_row(database, ids[1])).result == {"by": "b"}


async def test_a_group_the_database_refuses_is_recorded_one_by_one_and_the_refused_job_retried(
    database: Database,
) -> None:
    task = grouped_task()
    keys = [f"grouped:{uuid4()}" for _ in range(3)]
    ids = [await enqueue(database, task, key=key) for key in keys]
    # The second job's write will hit a primary key that exists: the group's transaction fails.
    async with database.session() as session:
        session.add(RateLimitWindow(key=keys[1], window_start=utcnow(), count=7))
        await session.commit()
    claimed = sorted(await claim(database, "worker-a", task), key=lambda job: ids.index(job.id))

    recorded.clear()
    completer = Completer(database, "worker-a", size=64, wait=0.01)
    outcomes = await asyncio.wait_for(complete_all(completer, task, claimed), timeout=10)

    assert outcomes == ["succeeded", "retrying", "succeeded"]
    assert recorded[0] == keys  # the group, rolled back; then one by one
    assert sorted(recorded[1:]) == sorted([key] for key in keys)
    for job_id in (ids[0], ids[2]):
        assert (await job_row(database, job_id)).status == JobStatus.SUCCEEDED
    refused = await job_row(database, ids[1])
    assert refused.status == JobStatus.PENDING and refused.leased_by is None and refused.attempts == 1
    assert refused.last_error is not None and refused.last_error.startswith("could not record the result")
    assert refused.visible_at < utcnow() + timedelta(seconds=1)  # retried by the task's schedule

    # Once the database accepts it, the retry completes it.
    async with database.session() as session:
        await session.delete(await session.get(RateLimitWindow, keys[1]))
        await session.commit()
    again_claimed: list[Claimed] = []
    for _ in range(100):  # due after its retry delay (0.05 s)
        again_claimed = await claim(database, "worker-a", task)
        if again_claimed:
            break
        await asyncio.sleep(0.02)
    [again] = again_claimed
    assert again.id == ids[1] and again.attempts == 2
    assert await complete_all(completer, task, [again]) == ["succeeded"]
    await completer.close()
    assert await windows(database, keys) == set(keys)


async def test_a_completion_waits_only_for_the_time_bound_and_close_commits_at_once(database: Database) -> None:
    task = grouped_task()
    first, second = f"grouped:{uuid4()}", f"grouped:{uuid4()}"
    ids: list[UUID] = [await enqueue(database, task, key=first), await enqueue(database, task, key=second)]
    claimed = sorted(await claim(database, "worker-a", task), key=lambda job: ids.index(job.id))

    quick = Completer(database, "worker-a", size=64, wait=0.005)
    started = asyncio.get_running_loop().time()
    assert await complete_all(quick, task, claimed[:1]) == ["succeeded"]
    assert asyncio.get_running_loop().time() - started < 2.0

    # With a time bound far away, the completion waits until the worker closes the completer.
    slow = Completer(database, "worker-a", size=64, wait=3600)
    waiting = asyncio.create_task(complete_all(slow, task, claimed[1:]))
    await asyncio.sleep(0.2)
    assert not waiting.done() and (await job_row(database, ids[1])).status == JobStatus.LEASED
    await asyncio.wait_for(slow.close(), timeout=10)
    assert await waiting == ["succeeded"]
    assert (await job_row(database, ids[1])).status == JobStatus.SUCCEEDED
    assert await windows(database, [first, second]) == {first, second}
