"""Enqueueing, claiming and finishing jobs; every statement the runner needs."""

from __future__ import annotations

import json
import random
import traceback
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Select, Table, Update, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor
from ..db import Database, bind_tenant, cross_tenant, scoped, utcnow, uuid7
from ..keys import ServerKeys
from ..settings import Settings
from .catalogue import EventType
from .errors import JobNotFound
from .models import CLAIMABLE, Event, Job, JobStatus
from .resources import Resources

NOTIFY_CHANNEL = "trustroom_jobs"
ERROR_EXCERPT = 4000
MAX_BACKOFF_SECONDS = 3600.0
NOT_PREPARED: Any = object()


@dataclass
class JobContext:
    """What a task gets: the job's own transaction, the settings, and a progress reporter.

    `database` opens other short sessions, e.g. to read before slow outside work without
    holding the job's transaction (on SQLite: the write lock) open meanwhile.
    """

    session: AsyncSession
    database: Database
    settings: Settings
    keys: ServerKeys
    job_id: UUID
    tenant_id: UUID | None
    attempt: int
    report_progress: Callable[[dict[str, Any]], Awaitable[None]]
    resources: Resources
    retry: tuple[str, float | None] | None = None
    deferred: float | None = None
    # What the task's `prepare` read for this job when it was claimed; NOT_PREPARED if that
    # read failed or the task has none (the task then reads for itself).
    prepared: Any = NOT_PREPARED
    staged: Any = None

    def stage(self, writes: Any) -> None:
        """Leave this job's writes to the task's `record`, which the runner calls for many
        finished jobs in one transaction. A task that stages writes nothing through `session`."""
        self.staged = writes

    def retry_later(self, reason: str, *, at_least: float | None = None) -> None:
        """Commit what the task wrote, but run the job again by the task's schedule (not
        sooner than `at_least` seconds); unlike raising, the task's writes (an attempt log) stay."""
        self.retry = (reason, at_least)

    def defer(self, seconds: float) -> None:
        """Run the job again in `seconds` without counting this try (e.g. rate-limited); the
        task's writes are kept."""
        self.deferred = seconds


TaskFunction = Callable[..., Awaitable[dict[str, Any] | None]]
# Reads, in one transaction lifted above row-level security, what each of a group of
# claimed jobs needs; a job missing from the answer was not prepared.
# Reads what a group of claimed jobs needs, in one read transaction; the worker's resources
# hold what outlives a job (connections, caches).
Prepare = Callable[[AsyncSession, ServerKeys, Resources, Sequence["Claimed"]], Awaitable[dict[UUID, Any]]]
# Writes what a group of finished jobs staged, in the transaction that completes them.
Record = Callable[[AsyncSession, Sequence[tuple["Claimed", Any]]], Awaitable[None]]


@dataclass(frozen=True)
class Task:
    """A unit of background work under a stable name; `run(ctx, **args)` returns the result."""

    name: str
    run: TaskFunction
    max_attempts: int = 5
    # Seconds before each retry; the last value repeats. None: exponential from 2 s.
    retry_delays: Sequence[float] | None = None
    # The group path (jobs/completion.py): one read for all jobs of a claim, one write
    # transaction for many completions. Each works without the other.
    prepare: Prepare | None = None
    record: Record | None = None

    def retry_delay(self, attempt: int) -> float:
        if self.retry_delays:
            base = self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]
        else:
            base = min(MAX_BACKOFF_SECONDS, 2.0**attempt)
        return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class TaskRef:
    """Enough of a task to enqueue it, for code that must not import the task's module."""

    name: str
    max_attempts: int = 5


@dataclass(frozen=True)
class Schedule:
    """Run `task` once every `every_seconds` (ticks aligned to the Unix epoch)."""

    task: Task
    every_seconds: int

    def tick(self, now: datetime) -> int:
        return int(now.timestamp()) // self.every_seconds

    def dedupe_key(self, tick: int) -> str:
        return f"schedule:{self.task.name}:{tick}"


@dataclass(frozen=True)
class Claimed:
    id: UUID
    task: str
    args: dict[str, Any]
    tenant_id: UUID | None
    attempts: int
    max_attempts: int


@dataclass
class Registry:
    """The tasks a worker can run, by name; built by the composition root."""

    tasks: dict[str, Task] = field(default_factory=dict)

    @classmethod
    def of(cls, tasks: Sequence[Task]) -> Registry:
        registry = cls()
        for task in tasks:
            if task.name in registry.tasks:
                raise ValueError(f"two tasks are named {task.name}")
            registry.tasks[task.name] = task
        return registry


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class NewJob:
    """A job to add: for whom, with which arguments, under which concurrency key."""

    tenant_id: UUID | None
    args: dict[str, Any]
    concurrency_key: str | None = None
    concurrency_limit: int | None = None

    def row(self, task: Task | TaskRef, visible_at: datetime) -> dict[str, Any]:
        return {
            "id": uuid7(),
            "tenant_id": self.tenant_id,
            "task": task.name,
            "args": json.loads(json.dumps(self.args, default=str)),
            "status": JobStatus.PENDING,
            "visible_at": visible_at,
            "attempts": 0,
            "max_attempts": task.max_attempts,
            "concurrency_key": self.concurrency_key,
            "concurrency_limit": self.concurrency_limit if self.concurrency_key else None,
            "created_at": utcnow(),
        }


async def enqueue(
    session: AsyncSession,
    task: Task | TaskRef,
    *,
    tenant_id: UUID | None = None,
    run_at: datetime | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
    **args: Any,
) -> Job:
    """Add a job in the caller's transaction; it exists exactly when the transaction commits.

    Jobs with the same `concurrency_key` run at most `concurrency_limit` at once.
    """
    new = NewJob(tenant_id, args, concurrency_key, concurrency_limit)
    job = Job(**new.row(task, run_at or utcnow()))
    session.add(job)
    await session.flush()
    await _announce(session)
    return job


async def enqueue_many(session: AsyncSession, task: Task | TaskRef, jobs: Sequence[NewJob]) -> None:
    """Add many jobs of one task in the caller's transaction, in one statement."""
    if not jobs:
        return
    now = utcnow()
    await session.execute(insert(_jobs()), [job.row(task, now) for job in jobs])  # Core: no ORM bulk machinery
    await _announce(session)


async def _announce(session: AsyncSession) -> None:
    # After commit: PostgreSQL delivers the NOTIFY to listening workers; on SQLite the
    # session's after-commit hook wakes the workers of this process (db.Database).
    session.info["jobs_enqueued"] = True
    if _dialect(session) == "postgresql":
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


async def emit(
    session: AsyncSession,
    event_type: EventType,
    data: BaseModel | dict[str, Any],
    *,
    tenant_id: UUID,
    dispatch: bool = True,
) -> Event:
    """Record an event in the caller's transaction; once committed, the dispatcher hands it
    to the subscribers (the webhook fan-out).

    `dispatch=False` records it for one addressee only (e.g. an endpoint's test event): the
    caller delivers it, the dispatcher leaves it alone.
    """
    event = Event(
        id=uuid7(),
        tenant_id=tenant_id,
        type=event_type.name,
        data=event_type.payload(data),
        dispatched_at=None if dispatch else utcnow(),
    )
    session.add(event)
    await session.flush()
    if dispatch:
        await _announce(session)
    return event


async def schedule_tick(session: AsyncSession, schedule: Schedule, now: datetime) -> bool:
    """Insert this tick's job unless some worker already did; True when this call did."""
    tick = schedule.tick(now)
    due = datetime.fromtimestamp(tick * schedule.every_seconds, UTC)
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    stmt = (
        insert(Job)
        .values(
            id=uuid7(),
            tenant_id=None,
            task=schedule.task.name,
            args={},
            status=JobStatus.PENDING,
            visible_at=due,
            attempts=0,
            max_attempts=schedule.task.max_attempts,
            dedupe_key=schedule.dedupe_key(tick),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job.id)
    )
    async with cross_tenant(session):
        inserted = (await session.execute(stmt)).first()
    if inserted is not None:
        await _announce(session)
    return inserted is not None


CLAIM_ROUNDS = 4


def _jobs() -> Table:
    return cast(Table, Job.__table__)


@cache
def _running_stmt() -> Select[Any]:
    jobs = _jobs()
    return (
        select(jobs.c.concurrency_key, func.count(), func.max(jobs.c.concurrency_limit))
        .where(
            jobs.c.status == JobStatus.LEASED,
            jobs.c.concurrency_key.is_not(None),
            jobs.c.visible_at > bindparam("now", type_=jobs.c.visible_at.type),
        )
        .group_by(jobs.c.concurrency_key)
    )


@cache
def _due_stmt(*, skip_chosen: bool, skip_full: bool, only_tasks: bool) -> Select[Any]:
    # Statements built once per shape keep their cache key: building and keying one per
    # claim cost more than running it.
    jobs = _jobs()
    due = (
        select(jobs.c.id, jobs.c.concurrency_key, jobs.c.concurrency_limit)
        .where(jobs.c.status.in_(CLAIMABLE), jobs.c.visible_at <= bindparam("now", type_=jobs.c.visible_at.type))
        .order_by(jobs.c.visible_at, jobs.c.id)
        .limit(bindparam("wanted"))
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer lock serializes claims
    )
    if skip_chosen:
        due = due.where(jobs.c.id.not_in(bindparam("chosen", expanding=True)))
    if skip_full:
        due = due.where(
            or_(jobs.c.concurrency_key.is_(None), jobs.c.concurrency_key.not_in(bindparam("full", expanding=True)))
        )
    if only_tasks:
        due = due.where(jobs.c.task.in_(bindparam("tasks", expanding=True)))
    return due


@cache
def _lease_stmt() -> Update:
    jobs = _jobs()
    return (
        update(jobs)
        .where(jobs.c.id.in_(bindparam("chosen", expanding=True)))
        .values(
            status=JobStatus.LEASED,
            visible_at=bindparam("lease_end", type_=jobs.c.visible_at.type),
            attempts=jobs.c.attempts + 1,
            leased_by=bindparam("worker", type_=jobs.c.leased_by.type),
        )
        .returning(jobs.c.id, jobs.c.task, jobs.c.args, jobs.c.tenant_id, jobs.c.attempts, jobs.c.max_attempts)
    )


async def claim(
    session: AsyncSession, worker: str, *, limit: int, lease_seconds: float, tasks: Collection[str] | None = None
) -> list[Claimed]:
    """Lease up to `limit` due jobs (pending, or leased with an expired lease) to `worker`,
    oldest first, leaving out jobs whose concurrency key is at its limit.

    `tasks` names the tasks the worker can run: during a rolling upgrade an older worker
    leaves a newer task's jobs to the workers that know it, instead of failing them.
    """
    now = utcnow()
    async with cross_tenant(session):
        running = await _running_by_key(session, now)
        chosen: list[UUID] = []
        # A key that reaches its limit in one round is left out of the next, so a backlog
        # of one key at the head of the queue cannot keep the other keys waiting.
        for _ in range(CLAIM_ROUNDS):
            wanted = limit - len(chosen)
            full = [key for key, (count, key_limit) in running.items() if count >= key_limit]
            due = _due_stmt(skip_chosen=bool(chosen), skip_full=bool(full), only_tasks=tasks is not None)
            params: dict[str, Any] = {"now": now, "wanted": wanted}
            if chosen:
                params["chosen"] = chosen
            if full:
                params["full"] = full
            if tasks is not None:
                params["tasks"] = list(tasks)
            candidates = (await session.execute(due, params)).all()
            for job_id, key, key_limit in candidates:
                if key is not None:
                    count, _ = running.get(key, (0, key_limit or 1))
                    if count >= (key_limit or 1):
                        continue
                    running[key] = (count + 1, key_limit or 1)
                chosen.append(job_id)
            if len(candidates) < wanted or len(chosen) >= limit:
                break
        if not chosen:
            return []
        params = {"chosen": chosen, "lease_end": now + timedelta(seconds=lease_seconds), "worker": worker}
        rows = (await session.execute(_lease_stmt(), params)).all()
    by_id = {row[0]: Claimed(*row) for row in rows}
    return [by_id[job_id] for job_id in chosen]


async def _running_by_key(session: AsyncSession, now: datetime) -> dict[str, tuple[int, int]]:
    """(jobs under a live lease, limit) per concurrency key."""
    rows = await session.execute(_running_stmt(), {"now": now})
    return {key: (count, key_limit or 1) for key, count, key_limit in rows if key is not None}


@dataclass(frozen=True)
class Finish:
    """How an attempt ends: the job row's new values and the outcome the metrics count."""

    outcome: str
    values: dict[str, Any]


def succeeded(result: dict[str, Any] | None) -> Finish:
    stored = json.loads(json.dumps(result, default=str)) if result is not None else None
    return Finish("succeeded", {"status": JobStatus.SUCCEEDED, "result": stored, "finished_at": utcnow()})


def failed(job: Claimed, task: Task | None, error: str, *, delay: float | None = None) -> Finish:
    """The retry by the task's schedule (not sooner than `delay`), or a dead job with its
    last error when attempts are spent."""
    if task is None or job.attempts >= job.max_attempts:
        return Finish("dead", {"status": JobStatus.DEAD, "last_error": error, "finished_at": utcnow()})
    retry_at = utcnow() + timedelta(seconds=max(task.retry_delay(job.attempts), delay or 0.0))
    return Finish("retrying", {"status": JobStatus.PENDING, "visible_at": retry_at, "last_error": error})


def released(job: Claimed, *, delay: float = 0.0) -> Finish:
    """Given back unfinished (shutdown, deferral): due after `delay`, this try not counted."""
    values = {"status": JobStatus.PENDING, "visible_at": utcnow() + timedelta(seconds=delay)}
    return Finish("deferred", {**values, "attempts": job.attempts - 1})


def fenced(job: Claimed, worker: str) -> Any:
    """An UPDATE of the job that matches only while `worker` holds this attempt's lease."""
    return (
        update(Job)
        .where(Job.id == job.id, Job.leased_by == worker, Job.attempts == job.attempts)
        .execution_options(synchronize_session=False)
    )


async def _fenced_update(session: AsyncSession, job: Claimed, worker: str, **values: Any) -> bool:
    if job.tenant_id is not None:
        await bind_tenant(session, job.tenant_id)
    async with cross_tenant(session):
        result = await session.execute(fenced(job, worker).values(**values))
    return bool(getattr(result, "rowcount", 0))


async def finish(session: AsyncSession, job: Claimed, worker: str, end: Finish) -> bool:
    """End the attempt in the caller's transaction; False when the lease was lost (roll back then)."""
    return await _fenced_update(session, job, worker, **end.values, leased_by=None)


async def succeed(session: AsyncSession, job: Claimed, worker: str, result: dict[str, Any] | None) -> bool:
    """Finish in the job's own transaction; False when the lease was lost (roll back then)."""
    return await finish(session, job, worker, succeeded(result))


def describe_error(error: BaseException) -> str:
    text_ = "".join(traceback.format_exception_only(type(error), error)).strip()
    return text_[:ERROR_EXCERPT]


async def fail(
    session: AsyncSession, job: Claimed, worker: str, task: Task | None, error: str, *, delay: float | None = None
) -> JobStatus | None:
    """Schedule the retry, or bury the job with its last error when attempts are spent.

    None when the lease was lost meanwhile (the newer attempt owns the job).
    """
    end = failed(job, task, error, delay=delay)
    return JobStatus(end.values["status"]) if await finish(session, job, worker, end) else None


async def release(session: AsyncSession, job: Claimed, worker: str, *, delay: float = 0.0) -> bool:
    """Give a job back unfinished (shutdown, deferral): due after `delay`, this try not counted."""
    return await finish(session, job, worker, released(job, delay=delay))


async def renew_leases(session: AsyncSession, jobs: Sequence[Claimed], worker: str, lease: float) -> int:
    """The worker's heartbeat: extend the leases of the jobs it still runs."""
    async with cross_tenant(session):
        result = await session.execute(
            update(Job)
            .where(Job.id.in_([job.id for job in jobs]), Job.leased_by == worker, Job.status == JobStatus.LEASED)
            .values(visible_at=utcnow() + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def extend_lease(
    session: AsyncSession, job: Claimed, worker: str, progress: dict[str, Any], lease: float
) -> bool:
    return await _fenced_update(session, job, worker, progress=progress, visible_at=utcnow() + timedelta(seconds=lease))


async def get(session: AsyncSession, actor: Actor, job_id: UUID) -> Job:
    job: Job | None = await session.scalar(scoped(select(Job), actor).where(Job.id == job_id))
    if job is None:
        raise JobNotFound()
    return job


async def purge_finished(session: AsyncSession, older_than: timedelta) -> int:
    """Forget succeeded and dead jobs (and their schedule keys) after a while."""
    async with cross_tenant(session):
        result = await session.execute(
            delete(Job)
            .where(Job.status.in_((JobStatus.SUCCEEDED, JobStatus.DEAD)), Job.finished_at < utcnow() - older_than)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_events(session: AsyncSession, older_than: timedelta) -> int:
    """Forget dispatched events (webhook payloads) and, by cascade, their deliveries."""
    async with cross_tenant(session):
        result = await session.execute(
            delete(Event)
            .where(Event.dispatched_at.is_not(None), Event.occurred_at < utcnow() - older_than)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def with_session(database: Database, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with database.session(write=True) as session:
        outcome = await work(session)
        await session.commit()
        return outcome
