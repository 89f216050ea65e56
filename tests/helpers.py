"""Helpers tests of several domains share: events, running jobs, the blob store on disk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from trustroom.db import Database, bind_tenant
from trustroom.jobs.models import CLAIMABLE, Event, Job
from trustroom.jobs.runner import Runner
from trustroom.jobs.service import Task
from trustroom.settings import Settings

from .factories import TenantFixture


@contextmanager
def sql_statements(database: Database, keep: Callable[[str], bool] = lambda _statement: True) -> Iterator[list[str]]:
    """Every SQL statement (that `keep` accepts) any of the database's engines sends in the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if keep(statement):
            seen.append(statement)

    engines = [engine.sync_engine for engine in database.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)


async def events_of(database: Database, tenant: TenantFixture, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The tenant's events whose type starts with `prefix`, oldest first: (type, data)."""
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        rows = await session.scalars(
            select(Event).where(Event.tenant_id == tenant.id, Event.type.startswith(prefix)).order_by(Event.id)
        )
        return [(row.type, row.data) for row in rows]


async def run_jobs(
    database: Database, settings: Settings, tenant: TenantFixture, *tasks: Task, within: float = 60
) -> None:
    """Run a worker with `tasks` until none of the tenant's jobs of those tasks is left to do."""
    names = [task.name for task in tasks]

    async def waiting() -> int:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            count = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.tenant_id == tenant.id, Job.task.in_(names), Job.status.in_(CLAIMABLE))
            )
            return int(count or 0)

    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    runner = Runner(database, fast, tasks, concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + within
    try:
        while await waiting():
            assert time.monotonic() < deadline, "jobs still waiting"
            assert not worker.done(), worker
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


def stored_blobs(settings: Settings) -> dict[str, bytes]:
    """Every file of the local blob store, by name, as it lies on disk."""
    root = Path(settings.data_dir, "blobs")
    return {path.name: path.read_bytes() for path in root.rglob("*") if path.is_file()}
