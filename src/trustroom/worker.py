"""The background worker: runs each periodic task on its interval until asked to stop.

It runs inside `trustroom serve` (embedded mode) or alone as `trustroom worker`. Each run
is one transaction. On SIGTERM/SIGINT the worker finishes the task at hand and exits.
Every task is safe to run in several workers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from .auth import tasks as auth_tasks
from .db import Database
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger("trustroom.worker")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_seconds: float
    run: Callable[[AsyncSession, Settings], Awaitable[int]]


PERIODIC_TASKS = (PeriodicTask("auth.purge_expired", 300, auth_tasks.purge_expired),)


async def run_task(task: PeriodicTask, database: Database, settings: Settings, metrics: Metrics) -> None:
    started = time.perf_counter()
    try:
        async with database.session(write=True) as session:
            affected = await task.run(session, settings)
            await session.commit()
    except Exception:
        metrics.observe_job(task.name, "failed", time.perf_counter() - started)
        log.exception("periodic task failed", extra={"task": task.name})
        return
    metrics.observe_job(task.name, "succeeded", time.perf_counter() - started)
    log.info("periodic task done", extra={"task": task.name, "affected": affected})


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    database: Database | None = None,
    metrics: Metrics | None = None,
    tasks: tuple[PeriodicTask, ...] = PERIODIC_TASKS,
) -> None:
    own_database = database is None
    database = database or Database(settings.resolved_database_url)
    metrics = metrics or Metrics()
    next_run = dict.fromkeys((task.name for task in tasks), 0.0)
    log.info("worker started", extra={"tasks": [task.name for task in tasks]})
    try:
        while not stop.is_set():
            for task in tasks:
                if stop.is_set():
                    break
                if time.monotonic() >= next_run[task.name]:
                    await run_task(task, database, settings, metrics)
                    next_run[task.name] = time.monotonic() + task.every_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.worker_poll_seconds)
    finally:
        if own_database:
            await database.dispose()
        log.info("worker stopped")
