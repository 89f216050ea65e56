"""The worker engine: schedules, claims, runs and finishes jobs with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, bind_tenant, cross_tenant, lift_tenancy, utcnow
from ..keys import ServerKeys
from ..metrics import Metrics
from ..settings import Settings
from . import service
from .completion import GROUP_SIZE, GROUP_WAIT_SECONDS, LEASE_LOST, Completer
from .dispatcher import Dispatcher, Subscriber
from .models import JobStatus
from .resources import Resources
from .service import NOT_PREPARED, Claimed, Finish, JobContext, Registry, Schedule, Task

log = logging.getLogger("trustroom.jobs")
SQLITE_WATCH_SECONDS = 0.05
CLAIM_GATHER_SECONDS = 0.005


class Runner:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        tasks: Sequence[Task],
        schedules: Sequence[Schedule] = (),
        *,
        subscribers: Sequence[Subscriber] = (),
        metrics: Metrics | None = None,
        concurrency: int | None = None,
        group_size: int = GROUP_SIZE,
        group_wait: float = GROUP_WAIT_SECONDS,
    ) -> None:
        self.database = database
        self.settings = settings
        self.registry = Registry.of([*tasks, *(s.task for s in schedules if s.task not in tasks)])
        self.schedules = schedules
        self.metrics = metrics or Metrics()
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = settings.worker_lease_seconds
        self.resources = Resources()
        self.keys = ServerKeys.from_settings(settings)
        self.wake = asyncio.Event()
        self.dispatcher = Dispatcher(database, settings, subscribers, self.metrics) if subscribers else None
        self.running: dict[asyncio.Task[None], Claimed] = {}
        # Slots promised to a claim in progress (the runner's own, or one in a group's
        # transaction), so that two claims at once never take more than the free slots.
        self.reserved = 0
        self.claiming = False  # while `run` claims (a group's transaction claims only then)
        # Jobs whose slots a group's transaction has already offered to the next jobs: their
        # end needs no claim of the runner's own.
        self.reoffered: set[Any] = set()
        self.started: dict[Any, float] = {}  # when each running job started (event-loop time)
        # Finished jobs of tasks with a `record` function are committed in groups; a
        # group's transaction also claims the jobs that take the freed slots.
        self.completer = Completer(
            database,
            self.worker_id,
            size=group_size,
            wait=group_wait,
            refill=_NextJobs(self),
            nothing_else_running=self._nothing_else_running,
        )
        self._ticks: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then finish or give back what is running."""
        self.database.job_listeners.append(self._wake_all)
        helpers = [asyncio.create_task(self._heartbeat())]
        helpers.append(asyncio.create_task(self._watch_sqlite() if self.database.is_sqlite else self._listen()))
        dispatching = asyncio.create_task(self.dispatcher.run(stop)) if self.dispatcher is not None else None
        log.info("worker started", extra={"worker": self.worker_id, "tasks": sorted(self.registry.tasks)})
        self.claiming = True
        try:
            while not stop.is_set():
                await self._step(stop)
        finally:
            self.claiming = False
            if dispatching is not None:
                # It stops between batches when `stop` is set; cancelling it mid-batch would
                # only make the batch's events go again.
                stop.set()
                _, late = await asyncio.wait([dispatching], timeout=self.settings.worker_shutdown_grace_seconds)
                helpers.extend(late)  # cancelled below with the others
            await self._drain()
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            await self.resources.aclose()
            self.database.job_listeners.remove(self._wake_all)
            log.info("worker stopped", extra={"worker": self.worker_id})

    def _wake_all(self) -> None:
        self.wake.set()
        if self.dispatcher is not None:
            self.dispatcher.wake.set()

    async def _step(self, stop: asyncio.Event) -> None:
        self.wake.clear()
        free = 0
        claimed: list[Claimed] = []
        try:
            await self._fire_schedules(utcnow())
            free = self._free()  # after the await: a group's transaction may have taken slots
            if free > 0:
                self.reserved += free
                try:
                    claimed, prepared = await self._claim_and_prepare(free)
                finally:
                    self.reserved -= free
                self._start(claimed, prepared)
        except Exception:
            log.exception("could not schedule or claim jobs", extra={"worker": self.worker_id})
        if claimed and len(claimed) == free:
            return  # there may be more due right away
        await self._wait_for_work(stop)
        free = self._free()
        if self.running and 0 < free < max(1, self.concurrency // 4) and not stop.is_set():
            # A slot came free while others still run: wait a moment for more, so that one
            # claim (and one read) fills several slots instead of one each.
            await asyncio.wait(self.running, timeout=CLAIM_GATHER_SECONDS)
            self._forget_done()

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        """Wait until a claim may find something: a wake-up (jobs committed), the poll
        interval, or a job that ended without a group's transaction taking its slot again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.worker_poll_seconds
        while True:
            waiters = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(
                [*waiters, *self.running], timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
            slot_left_free = self._forget_done()
            if slot_left_free or self.wake.is_set() or stop.is_set() or loop.time() >= deadline:
                return

    def _forget_done(self) -> bool:
        """Drop ended jobs; whether one of them left its slot free (no group's transaction
        took it again)."""
        slot_left_free = False
        for task in [task for task in self.running if task.done()]:
            job = self.running.pop(task)
            self.started.pop(job.id, None)
            if job.id in self.reoffered:
                self.reoffered.discard(job.id)
            else:
                slot_left_free = True
        return slot_left_free

    def _free(self) -> int:
        return self.concurrency - len(self.running) - self.reserved

    def _start(self, claimed: Sequence[Claimed], prepared: dict[Any, Any]) -> None:
        now = asyncio.get_running_loop().time()
        for job in claimed:
            self.started[job.id] = now
            self.running[asyncio.create_task(self._execute(job, prepared.get(job.id, NOT_PREPARED)))] = job

    def _nothing_else_running(self, handed: Collection[Any], recent: float) -> bool:
        """Whether every job that started less than `recent` seconds ago has handed its
        completion in (`handed`); one running longer (a slow receiver) is not waited for."""
        since = asyncio.get_running_loop().time() - recent
        return not any(
            job.id not in handed and self.started.get(job.id, since) > since
            for task, job in self.running.items()
            if not task.done()
        )

    async def _fire_schedules(self, now: datetime) -> None:
        for schedule in self.schedules:
            tick = schedule.tick(now)
            if self._ticks.get(schedule.task.name) == tick:
                continue
            await service.with_session(self.database, partial(service.schedule_tick, schedule=schedule, now=now))
            self._ticks[schedule.task.name] = tick

    async def _claim_and_prepare(self, limit: int) -> tuple[list[Claimed], dict[Any, Any]]:
        """Claim, and read what the claimed jobs need, in one transaction. If the read
        fails, the claim goes with it: claim again, then read apart (or each job alone)."""
        try:
            async with self.database.session() as session:
                await lift_tenancy(session)
                claimed, prepared = await self.claim_within(session, limit)
                await session.commit()
            return claimed, prepared
        except _PrepareFailed:
            log.exception("could not read ahead for claimed jobs; claiming again", extra={"worker": self.worker_id})
        claimed = await self._claim(limit)
        return claimed, await self._prepare(claimed)

    async def claim_within(self, session: AsyncSession, limit: int) -> tuple[list[Claimed], dict[Any, Any]]:
        """Claim up to `limit` jobs in the caller's transaction (lifted above row-level
        security) and read ahead for them there; `_PrepareFailed` if that read fails."""
        claimed = await service.claim(
            session,
            self.worker_id,
            limit=limit,
            lease_seconds=self.lease_seconds,
            tasks=list(self.registry.tasks),
        )
        prepared: dict[Any, Any] = {}
        for name, jobs in self._by_prepared_task(claimed).items():
            prepare = self.registry.tasks[name].prepare
            assert prepare is not None
            try:
                prepared.update(await prepare(session, self.keys, self.resources, jobs))
            except Exception as error:
                raise _PrepareFailed(name) from error
        return claimed, prepared

    def _by_prepared_task(self, claimed: Sequence[Claimed]) -> dict[str, list[Claimed]]:
        by_task: dict[str, list[Claimed]] = defaultdict(list)
        for job in claimed:
            if self.registry.tasks[job.task].prepare is not None:
                by_task[job.task].append(job)
        return by_task

    async def _claim(self, limit: int) -> list[Claimed]:
        claimed: list[Claimed] = await service.with_session(
            self.database,
            partial(
                service.claim,
                worker=self.worker_id,
                limit=limit,
                lease_seconds=self.lease_seconds,
                tasks=list(self.registry.tasks),
            ),
        )
        return claimed

    async def _prepare(self, claimed: Sequence[Claimed]) -> dict[Any, Any]:
        """One read per task for all the jobs just claimed (instead of one per job); if it
        fails, each job reads for itself."""
        prepared: dict[Any, Any] = {}
        for name, jobs in self._by_prepared_task(claimed).items():
            prepare = self.registry.tasks[name].prepare
            assert prepare is not None
            try:
                async with self.database.session(write=False) as session, cross_tenant(session):
                    prepared.update(await prepare(session, self.keys, self.resources, jobs))
            except Exception:
                log.exception("could not prepare claimed jobs; each reads alone", extra={"task": name})
        return prepared

    async def _execute(self, job: Claimed, prepared: Any = NOT_PREPARED) -> None:
        started = time.perf_counter()
        task = self.registry.tasks[job.task]  # a worker claims only tasks it has
        try:
            outcome = await self._run(job, task, prepared)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning(
                "job failed", extra={"job": str(job.id), "task": job.task, "attempt": job.attempts}, exc_info=True
            )
            failure = partial(
                service.fail, job=job, worker=self.worker_id, task=task, error=service.describe_error(error)
            )
            status = await service.with_session(self.database, failure)
            outcome = "dead" if status is JobStatus.DEAD else "retrying"
        self.metrics.observe_job(job.task, outcome, time.perf_counter() - started)

    async def _run(self, job: Claimed, task: Task, prepared: Any) -> str:
        async with self.database.session(write=True) as session:
            if job.tenant_id is not None:
                await bind_tenant(session, job.tenant_id)
            context = JobContext(
                session=session,
                database=self.database,
                settings=self.settings,
                keys=self.keys,
                job_id=job.id,
                tenant_id=job.tenant_id,
                attempt=job.attempts,
                report_progress=lambda progress: self._progress(job, progress),
                resources=self.resources,
                prepared=prepared,
            )
            result = await task.run(context, **job.args)
            end = self._end(job, task, context, result)
            grouped = context.staged is not None and task.record is not None
            if not grouped or session.in_transaction():
                # Finish in the job's own transaction, with what it wrote through its session.
                if grouped:
                    assert task.record is not None
                    await task.record(session, [(job, context.staged)])
                if not await service.finish(session, job, self.worker_id, end):
                    await session.rollback()
                    log.warning("lease lost; result dropped", extra={"job": str(job.id), "task": job.task})
                    return LEASE_LOST
                await session.commit()
                return end.outcome
        # Nothing written through the session: finish with other jobs, in one transaction.
        return await self.completer.complete(job, task, end, context.staged)

    @staticmethod
    def _end(job: Claimed, task: Task, context: JobContext, result: dict[str, Any] | None) -> Finish:
        if context.deferred is not None:
            return service.released(job, delay=context.deferred)
        if context.retry is not None:
            reason, after = context.retry
            return service.failed(job, task, reason, delay=after)
        return service.succeeded(result)

    async def _progress(self, job: Claimed, progress: dict[str, Any]) -> None:
        # A short transaction of its own; report progress before the task writes through
        # its own session (on SQLite that session holds the single write lock).
        await service.with_session(
            self.database,
            partial(service.extend_lease, job=job, worker=self.worker_id, progress=progress, lease=self.lease_seconds),
        )

    async def _drain(self) -> None:
        """On shutdown: commit finished jobs at once, let running jobs finish within the
        grace period, give back the rest."""
        self.completer.closing = True
        await self.completer.close()
        if not self.running:
            return
        _, pending = await asyncio.wait(self.running, timeout=self.settings.worker_shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.completer.close()  # what a cancelled job had handed over
        for task in pending:
            job = self.running[task]
            release = partial(service.release, job=job, worker=self.worker_id)
            if await service.with_session(self.database, release):
                log.info("job given back at shutdown", extra={"job": str(job.id), "task": job.task})
        self.running.clear()
        self.reoffered.clear()
        self.started.clear()

    async def _heartbeat(self) -> None:
        """Renew the leases of running jobs every third of a lease, so a job may run longer
        than its lease while a crashed worker's jobs are taken up within one lease."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not self.running:
                continue
            try:
                await service.with_session(
                    self.database,
                    partial(
                        service.renew_leases,
                        jobs=list(self.running.values()),
                        worker=self.worker_id,
                        lease=self.lease_seconds,
                    ),
                )
            except Exception:
                log.exception("could not renew leases", extra={"worker": self.worker_id})

    async def _watch_sqlite(self) -> None:
        """SQLite has no NOTIFY: notice commits of other processes (an API process beside
        this worker) by `PRAGMA data_version`, which changes whenever another connection
        commits; polling stays the backstop if this fails."""
        path = make_url(self.database.url).database
        if not path:
            return
        try:
            connection = await asyncio.to_thread(sqlite3.connect, path, check_same_thread=False)
        except sqlite3.Error:
            log.exception("cannot watch the SQLite database; relying on polling", extra={"worker": self.worker_id})
            return
        # When the worker stops, this task is cancelled while a read may still run in its
        # thread; closing the connection under it crashes the process, so the close waits.
        in_use = threading.Lock()

        def data_version() -> int:
            with in_use:
                return int(connection.execute("PRAGMA data_version").fetchone()[0])

        try:
            seen = None
            while True:
                version = await asyncio.to_thread(data_version)
                if seen is not None and version != seen:
                    self._wake_all()
                seen = version
                await asyncio.sleep(SQLITE_WATCH_SECONDS)
        except sqlite3.Error:
            log.exception("cannot watch the SQLite database; relying on polling", extra={"worker": self.worker_id})
        finally:
            with in_use:  # a PRAGMA read takes microseconds
                connection.close()

    async def _listen(self) -> None:
        """PostgreSQL LISTEN/NOTIFY wake-up; polling stays the backstop if this fails."""
        url = self.database.url.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await connection.execute(f"LISTEN {service.NOTIFY_CHANNEL}")
                async for _ in connection.notifies():
                    self._wake_all()
        except (OSError, psycopg.Error):
            log.exception("LISTEN failed; relying on polling", extra={"worker": self.worker_id})


class _PrepareFailed(Exception):
    """A task's read ahead failed inside a claim's transaction."""


class _NextJobs:
    """The runner's side of a group's transaction (`completion.Refill`): claim as many
    jobs as the group frees (not at shutdown), read ahead for them, start them once the
    transaction has committed."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def claim(self, session: AsyncSession, completing: Sequence[Claimed]) -> Any:
        runner = self.runner
        if not runner.claiming or runner.completer.closing:
            return None
        running = {job.id for task, job in runner.running.items() if not task.done()}
        free = runner._free() + sum(1 for job in completing if job.id in running)
        if free <= 0:
            return None
        runner.reserved += free
        try:
            claimed, prepared = await runner.claim_within(session, free)
        except BaseException:
            runner.reserved -= free
            raise
        return free, claimed, prepared, completing

    def committed(self, taken: Any) -> None:
        if taken is not None:
            free, claimed, prepared, completing = taken
            self.runner.reserved -= free
            self.runner.reoffered.update(job.id for job in completing)
            self.runner._start(claimed, prepared)

    def abandoned(self, taken: Any) -> None:
        if taken is not None:
            self.runner.reserved -= taken[0]
