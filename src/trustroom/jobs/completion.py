"""Finishing jobs in groups: many completions in one transaction, each still fenced.

A task with a `record` function (the webhook delivery) stages its writes instead of
opening its own write transaction; the runner hands the finished job here. Completions
gather until no other job that started less than `wait` seconds ago is still running (the
runner tells), `size` have gathered, or `wait` seconds after the first (a group that
arrives while the previous one commits waits likewise), and are then committed
together: one SELECT … FOR UPDATE that checks which
leases this worker still holds, one executemany UPDATE of the jobs per kind of ending,
and the task's own multi-row statements, all in one transaction.

Guarantees, the same as one transaction per job:
- A job whose lease was lost (another worker took it over) is left out of the group: it
  is not completed twice and its staged writes are dropped; the new lease holder runs it.
  The others of the group are completed.
- A completion is reported only after its commit. If the group's transaction fails, each
  completion is tried alone; one that still fails is scheduled for a retry (a fenced
  `fail` in a fresh transaction), and if even that cannot be written, the job stays
  leased, its lease is no longer renewed, and it is claimed again after the lease.
- On shutdown (`close`) everything pending is committed before the worker stops.

A group's transaction may also take the next jobs (`Refill`): the runner claims as many
as the group frees, and reads what they need, before the same COMMIT, so one write
transaction ends one wave of jobs and starts the next. If that fails, the group is
committed again without it (and the runner claims on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, cast
from uuid import UUID

from sqlalchemy import CursorResult, Select, Table, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, lift_tenancy
from . import service
from .models import Job, JobStatus
from .service import Claimed, Finish, Task

log = logging.getLogger("trustroom.jobs")
GROUP_SIZE = 64
# A group is committed when no other job that started less than this long ago is still
# running (a wave of jobs is gathered whole), at the size, or this long after its first.
GROUP_WAIT_SECONDS = 0.1
# After a group failed together with the next claim, groups go without one this long.
REFILL_PAUSE_SECONDS = 10.0
LEASE_LOST = "lease_lost"


class LeaseLost(Exception):
    """A fenced group update matched fewer jobs than it was given."""


@dataclass
class Completion:
    job: Claimed
    task: Task
    end: Finish
    staged: Any
    handed_at: float = 0.0
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Refill(Protocol):
    """Takes the next jobs in a group's transaction; told afterwards whether it committed."""

    async def claim(self, session: AsyncSession, completing: Sequence[Claimed]) -> Any: ...

    def committed(self, taken: Any) -> None: ...

    def abandoned(self, taken: Any) -> None: ...


def _jobs() -> Table:
    return cast(Table, Job.__table__)


@cache
def _still_leased_stmt() -> Select[Any]:
    jobs = _jobs()
    return (
        select(jobs.c.id, jobs.c.attempts)
        .where(jobs.c.id.in_(bindparam("ids", expanding=True)), jobs.c.leased_by == bindparam("worker"))
        .with_for_update()
    )


async def still_leased(session: AsyncSession, jobs: Sequence[Claimed], worker: str) -> set[UUID]:
    """The jobs whose attempt `worker` still holds, locked until the transaction ends (on
    SQLite the write transaction holds the database lock anyway)."""
    attempts = {job.id: job.attempts for job in jobs}
    rows = await session.execute(_still_leased_stmt(), {"ids": list(attempts), "worker": worker})
    return {job_id for job_id, attempt in rows if attempts.get(job_id) == attempt}


@cache
def _finish_stmt(columns: tuple[str, ...]) -> Update:
    # Built once per kind of ending: a statement object reused keeps its cache key.
    table = _jobs()
    return (
        update(table)
        .where(
            table.c.id == bindparam("fence_id", type_=table.c.id.type),
            table.c.leased_by == bindparam("fence_worker", type_=table.c.leased_by.type),
            table.c.attempts == bindparam("fence_attempts", type_=table.c.attempts.type),
        )
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
    )


async def finish_many(session: AsyncSession, worker: str, items: Sequence[tuple[Claimed, Finish]]) -> None:
    """End many attempts with one executemany UPDATE per kind of ending (succeeded,
    retrying, dead, given back), each row fenced on (worker, attempt) as `service.finish`."""
    kinds: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for job, end in items:
        values = {**end.values, "leased_by": None}
        row = {"fence_id": job.id, "fence_worker": worker, "fence_attempts": job.attempts}
        row.update({f"new_{name}": value for name, value in values.items()})
        kinds[tuple(sorted(values))].append(row)
    for columns, rows in kinds.items():
        result = cast(CursorResult[Any], await session.execute(_finish_stmt(columns), rows))
        if result.rowcount != len(rows):
            raise LeaseLost(f"{len(rows) - result.rowcount} of {len(rows)} jobs are no longer leased")


class Completer:
    """Gathers finished jobs and commits them in groups; see the module docstring."""

    def __init__(
        self,
        database: Database,
        worker: str,
        *,
        size: int = GROUP_SIZE,
        wait: float = GROUP_WAIT_SECONDS,
        refill: Refill | None = None,
        nothing_else_running: Callable[[Collection[UUID], float], bool] | None = None,
    ) -> None:
        self.database = database
        self.worker = worker
        self.size = size
        self.wait = wait
        self.refill = refill
        # Given the jobs handed in, whether no other job has been running for less than
        # `wait` seconds: then waiting for the group to grow would only delay it (a job
        # running longer, say for a slow receiver, is not waited for).
        self.nothing_else_running = nothing_else_running
        self.pending: list[Completion] = []
        self.handed: set[UUID] = set()  # jobs whose completion is pending or being committed
        self.closing = False
        self._refill_paused_until = 0.0
        self._timer: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def complete(self, job: Claimed, task: Task, end: Finish, staged: Any) -> str:
        """Queue a finished job; its outcome once committed (`lease_lost` if it was not)."""
        completion = Completion(job, task, end, staged, asyncio.get_running_loop().time())
        self.pending.append(completion)
        self.handed.add(job.id)
        if self._flusher is None or self._flusher.done():
            self._schedule()
        # (while a group commits, the flusher decides about the next group when it is done)
        # Shielded: a job cancelled at shutdown leaves its completion to be committed anyway
        # (its give-back is fenced, so at most one of the two takes effect).
        return await asyncio.shield(completion.done)

    async def close(self) -> None:
        """Commit everything pending now, and every later completion at once."""
        self.closing = True
        self._cancel_timer()
        while self.pending or (self._flusher is not None and not self._flusher.done()):
            self._kick()
            assert self._flusher is not None
            await asyncio.shield(self._flusher)

    def _deadline(self) -> float:
        return self.pending[0].handed_at + self.wait

    def _due(self) -> bool:
        """Whether the pending completions should be committed now: at shutdown, at the
        size, when no other recent job is still running, or `wait` after the oldest."""
        if not self.pending:
            return False
        return (
            self.closing
            or len(self.pending) >= self.size
            or (self.nothing_else_running is not None and self.nothing_else_running(self.handed, self.wait))
            or asyncio.get_running_loop().time() >= self._deadline()
        )

    def _schedule(self) -> None:
        """Commit now if due, or else be woken at the deadline (and check again then)."""
        if self._due():
            self._kick()
        elif self.pending and self._timer is None:
            self._timer = asyncio.create_task(self._check_at(self._deadline()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _check_at(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
        self._timer = None
        if self._flusher is None or self._flusher.done():
            self._schedule()

    def _kick(self) -> None:
        self._cancel_timer()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())

    async def _flush_all(self) -> None:
        first = True
        # Completions that arrived while a group committed form the next group, when due.
        while self.pending and (first or self._due()):
            first = False
            group, self.pending = self.pending[: self.size], self.pending[self.size :]
            try:
                outcomes = await self._commit_group(group)
            finally:
                self.handed.difference_update(completion.job.id for completion in group)
            for completion in group:
                if not completion.done.done():
                    completion.done.set_result(outcomes[completion.job.id])
        if self.pending:  # not due yet: be woken at its deadline
            self._cancel_timer()
            self._timer = asyncio.create_task(self._check_at(self._deadline()))

    async def _commit_group(self, group: Sequence[Completion]) -> dict[UUID, str]:
        loop = asyncio.get_running_loop()
        refill = self.refill if not self.closing and loop.time() >= self._refill_paused_until else None
        try:
            return await self._commit(group, refill)
        except Exception:
            if refill is not None:
                # Perhaps the next jobs' claim or read failed, not the group: once more
                # without them (the runner claims on its own meanwhile).
                log.warning("a group of completions failed with the next claim; again without it", exc_info=True)
                self._refill_paused_until = loop.time() + REFILL_PAUSE_SECONDS
                with contextlib.suppress(Exception):
                    return await self._commit(group, None)
            log.warning("a group of completions failed; recording them one by one", exc_info=True)
            return {completion.job.id: await self._alone(completion) for completion in group}

    async def _commit(self, group: Sequence[Completion], refill: Refill | None = None) -> dict[UUID, str]:
        taken: Any = None
        async with self.database.session() as session:
            # One lift for the whole transaction: rows of many tenants, each matched to its
            # job's tenant by the statements themselves.
            await lift_tenancy(session)
            held = await still_leased(session, [c.job for c in group], self.worker)
            kept = [c for c in group if c.job.id in held]
            await finish_many(session, self.worker, [(c.job, c.end) for c in kept])
            by_task: dict[str, list[Completion]] = defaultdict(list)
            for completion in kept:
                by_task[completion.task.name].append(completion)
            for completions in by_task.values():
                record = completions[0].task.record
                assert record is not None  # only tasks with `record` stage writes
                await record(session, [(c.job, c.staged) for c in completions])
            if refill is not None:
                taken = await refill.claim(session, [c.job for c in group])
            try:
                await session.commit()
            except BaseException:
                if refill is not None:
                    refill.abandoned(taken)
                raise
            if refill is not None:
                refill.committed(taken)
        for completion in group:
            if completion.job.id not in held:
                log.warning("lease lost; result dropped", extra={"job": str(completion.job.id)})
        return {c.job.id: c.end.outcome if c.job.id in held else LEASE_LOST for c in group}

    async def _alone(self, completion: Completion) -> str:
        try:
            return (await self._commit([completion]))[completion.job.id]
        except Exception as error:
            job = completion.job
            log.warning("could not record a finished job; it will run again", extra={"job": str(job.id)}, exc_info=True)
            reason = f"could not record the result: {service.describe_error(error)}"
            with contextlib.suppress(Exception):  # then the lease runs out and the job is claimed again
                async with self.database.session() as session:
                    status = await service.fail(session, job, self.worker, completion.task, reason)
                    await session.commit()
                return {None: LEASE_LOST, JobStatus.DEAD: "dead"}.get(status, "retrying")
            return "unrecorded"
