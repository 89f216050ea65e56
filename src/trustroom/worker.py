"""The background worker: the job runner with every task and schedule of the platform.

It runs inside `trustroom serve` (embedded mode) or alone as `trustroom worker`, as many
processes as needed. On SIGTERM/SIGINT it stops claiming, lets running jobs finish within
the grace period and gives the rest back.
"""

from __future__ import annotations

import asyncio

from .auth import tasks as auth_tasks
from .clients import tasks as clients_tasks
from .db import Database
from .exchange import tasks as exchange_tasks
from .jobs import tasks as jobs_tasks
from .jobs.dispatcher import Subscriber
from .jobs.runner import Runner
from .jobs.service import Schedule, Task
from .messaging import tasks as messaging_tasks
from .metrics import Metrics
from .settings import Settings
from .signing import tasks as signing_tasks
from .storage import tasks as storage_tasks
from .webhooks import tasks as webhooks_tasks

# Handed every committed event by the dispatcher; the webhook fan-out subscribes here.
SUBSCRIBERS: tuple[Subscriber, ...] = (webhooks_tasks.fan_out,)
TASKS: tuple[Task, ...] = (
    auth_tasks.PURGE_EXPIRED,
    jobs_tasks.PURGE_FINISHED,
    jobs_tasks.PURGE_EVENTS,
    webhooks_tasks.DELIVER,
    messaging_tasks.SEND_MESSAGE,
    clients_tasks.EXPORT,
    clients_tasks.IMPORT,
    storage_tasks.SWEEP_EXPIRED,
    storage_tasks.DELETE_CONTENT_TASK,
    storage_tasks.SWEEP_ORPHANS,
    exchange_tasks.SCAN,
    *signing_tasks.TASKS,
)
SCHEDULES: tuple[Schedule, ...] = (
    Schedule(auth_tasks.PURGE_EXPIRED, every_seconds=300),
    Schedule(jobs_tasks.PURGE_FINISHED, every_seconds=3600),
    Schedule(jobs_tasks.PURGE_EVENTS, every_seconds=3600),
    Schedule(storage_tasks.SWEEP_EXPIRED, every_seconds=900),
    Schedule(storage_tasks.SWEEP_ORPHANS, every_seconds=3600),
    Schedule(signing_tasks.ARCHIVE_TIMESTAMPS, every_seconds=3600),
)


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    database: Database | None = None,
    metrics: Metrics | None = None,
    concurrency: int | None = None,
    tasks: tuple[Task, ...] = TASKS,
    schedules: tuple[Schedule, ...] = SCHEDULES,
    subscribers: tuple[Subscriber, ...] = SUBSCRIBERS,
) -> None:
    own_database = database is None
    database = database or Database(settings.resolved_database_url)
    runner = Runner(
        database, settings, tasks, schedules, subscribers=subscribers, metrics=metrics, concurrency=concurrency
    )
    try:
        await runner.run(stop)
    finally:
        if own_database:
            await database.dispose()
