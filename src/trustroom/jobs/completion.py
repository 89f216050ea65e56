"""Finishing jobs in groups: many completions in one transaction, each still fenced.

A task with a `record` function (the webhook delivery) stages its writes instead of
opening its own write transaction; the runner hands the finished job here. Completions
wait at most `wait` seconds (or until `size` have gathered, or while the previous group
commits) and are then committed together: one SELECT … FOR UPDATE that checks which
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, cross_tenant
from . import service
from .models import Job, JobStatus
from .service import Claimed, Finish, Task

log = logging.getLogger("trustroom.jobs")
GROUP_SIZE = 64
GROUP_WAIT_SECONDS = 0.002
LEASE_LOST = "lease_lost"


class LeaseLost(Exception):
    """A fenced group update matched fewer jobs than it was given."""


@dataclass
class Completion:
    job: Claimed
    task: Task
    end: Finish
    staged: Any
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


async def still_leased(session: AsyncSession, jobs: Sequence[Claimed], worker: str) -> set[UUID]:
    """The jobs whose attempt `worker` still holds, locked until the transaction ends (on
    SQLite the write transaction holds the database lock anyway)."""
    attempts = {job.id: job.attempts for job in jobs}
    rows = await session.execute(
        select(Job.id, Job.attempts).where(Job.id.in_(list(attempts)), Job.leased_by == worker).with_for_update()
    )
    return {job_id for job_id, attempt in rows if attempts.get(job_id) == attempt}


async def finish_many(session: AsyncSession, worker: str, items: Sequence[tuple[Claimed, Finish]]) -> None:
    """End many attempts with one executemany UPDATE per kind of ending (succeeded,
    retrying, dead, given back), each row fenced on (worker, attempt) as `service.finish`."""
    table = cast(Table, Job.__table__)
    kinds: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for job, end in items:
        values = {**end.values, "leased_by": None}
        row = {"fence_id": job.id, "fence_attempts": job.attempts}
        row.update({f"new_{name}": value for name, value in values.items()})
        kinds[tuple(sorted(values))].append(row)
    for columns, rows in kinds.items():
        stmt = (
            update(table)
            .where(
                table.c.id == bindparam("fence_id", type_=table.c.id.type),
                table.c.leased_by == worker,
                table.c.attempts == bindparam("fence_attempts", type_=table.c.attempts.type),
            )
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
        )
        result = cast(CursorResult[Any], await session.execute(stmt, rows))
        if result.rowcount != len(rows):
            raise LeaseLost(f"{len(rows) - result.rowcount} of {len(rows)} jobs are no longer leased")


class Completer:
    """Gathers finished jobs and commits them in groups; see the module docstring."""

    def __init__(
        self, database: Database, worker: str, *, size: int = GROUP_SIZE, wait: float = GROUP_WAIT_SECONDS
    ) -> None:
        self.database = database
        self.worker = worker
        self.size = size
        self.wait = wait
        self.pending: list[Completion] = []
        self.closing = False
        self._timer: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def complete(self, job: Claimed, task: Task, end: Finish, staged: Any) -> str:
        """Queue a finished job; its outcome once committed (`lease_lost` if it was not)."""
        completion = Completion(job, task, end, staged)
        self.pending.append(completion)
        if self.closing or len(self.pending) >= self.size:
            self._kick()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())
        # Shielded: a job cancelled at shutdown leaves its completion to be committed anyway
        # (its give-back is fenced, so at most one of the two takes effect).
        return await asyncio.shield(completion.done)

    async def close(self) -> None:
        """Commit everything pending now, and every later completion at once."""
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self.pending or (self._flusher is not None and not self._flusher.done()):
            self._kick()
            assert self._flusher is not None
            await asyncio.shield(self._flusher)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.wait)
        self._timer = None
        self._kick()

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())

    async def _flush_all(self) -> None:
        # Completions that arrive while a group commits form the next group at once.
        while self.pending:
            group, self.pending = self.pending[: self.size], self.pending[self.size :]
            try:
                outcomes = await self._commit(group)
            except Exception:
                log.warning("a group of completions failed; recording them one by one", exc_info=True)
                outcomes = {}
                for completion in group:
                    outcomes[completion.job.id] = await self._alone(completion)
            for completion in group:
                if not completion.done.done():
                    completion.done.set_result(outcomes[completion.job.id])

    async def _commit(self, group: Sequence[Completion]) -> dict[UUID, str]:
        async with self.database.session() as session:
            async with cross_tenant(session):
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
            await session.commit()
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
