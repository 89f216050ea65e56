"""The outbox relay: hands committed events to the subscribers, in batches.

Each worker runs one. It takes the oldest undispatched events (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two workers take different ones; on SQLite the writer lock serializes),
gives the whole batch to every subscriber (the webhook fan-out writes the deliveries and
their jobs) and marks the events dispatched, all in one transaction: an event is
dispatched exactly when what the subscribers wrote for it is committed. It wakes when an
event is committed (PostgreSQL NOTIFY, or in-process) and polls as a backstop.

A batch that fails is retried event by event; an event that fails alone is set aside for
a minute (`dispatch_after`) and tried again, so one bad event never holds up the others
and none is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, cross_tenant, utcnow
from ..metrics import Metrics
from ..settings import Settings
from .models import Event

log = logging.getLogger("trustroom.jobs")

# Handed each batch of committed events in the dispatching transaction.
Subscriber = Callable[[AsyncSession, Settings, Sequence[Event]], Awaitable[None]]
BATCH_SIZE = 200
SET_ASIDE = timedelta(minutes=1)
METRIC_NAME = "events.dispatch"


class Dispatcher:
    def __init__(
        self, database: Database, settings: Settings, subscribers: Sequence[Subscriber], metrics: Metrics
    ) -> None:
        self.database = database
        self.settings = settings
        self.subscribers = subscribers
        self.metrics = metrics
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        peek = _Undispatched(self.database)
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    # On SQLite every commit wakes the dispatcher (the worker's own too): a
                    # glance on a read-only connection spares the write transaction when
                    # nothing waits.
                    if peek() and await self.dispatch_batch() == BATCH_SIZE:
                        continue  # more are waiting
                except Exception:
                    log.exception("could not dispatch events")
                waiters = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
                await asyncio.wait(
                    waiters, timeout=self.settings.worker_poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            peek.close()

    async def dispatch_batch(self) -> int:
        """Dispatch up to a batch of events; how many were taken."""
        started = time.perf_counter()
        try:
            async with self.database.session() as session, cross_tenant(session):
                events = await self._take(session, BATCH_SIZE)
                if events:
                    await self._hand_over(session, events)
                await session.commit()
        except Exception:
            log.warning("a batch of events failed; dispatching them one by one", exc_info=True)
            return await self._one_by_one()
        if events:
            self.metrics.observe_job(METRIC_NAME, "succeeded", time.perf_counter() - started)
        return len(events)

    async def _take(self, session: AsyncSession, size: int) -> list[Event]:
        now = utcnow()
        return list(
            await session.scalars(
                select(Event)
                .where(Event.dispatched_at.is_(None), or_(Event.dispatch_after.is_(None), Event.dispatch_after <= now))
                .order_by(Event.occurred_at, Event.id)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
        )

    async def _hand_over(self, session: AsyncSession, events: Sequence[Event]) -> None:
        for subscriber in self.subscribers:
            await subscriber(session, self.settings, events)
        await session.execute(
            update(Event)
            .where(Event.id.in_([event.id for event in events]))
            .values(dispatched_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def _one_by_one(self) -> int:
        taken = 0
        for _ in range(BATCH_SIZE):
            async with self.database.session() as session, cross_tenant(session):
                events = await self._take(session, 1)
                if not events:
                    break
                taken += 1
                failed = events[0].id
                try:
                    await self._hand_over(session, events)
                    await session.commit()
                    continue
                except Exception:
                    log.exception("an event could not be dispatched; trying again later", extra={"event": str(failed)})
                    await session.rollback()
            await self._set_aside(failed)
        return taken

    async def _set_aside(self, event_id: UUID) -> None:
        async with self.database.session() as session, cross_tenant(session):
            await session.execute(
                update(Event)
                .where(Event.id == event_id, Event.dispatched_at.is_(None))
                .values(dispatch_after=utcnow() + SET_ASIDE)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        self.metrics.observe_job(METRIC_NAME, "retrying", 0.0)


class _Undispatched:
    """Whether an event may await dispatch: on SQLite one SELECT on a lean read-only
    connection, inline (in WAL mode a reader never waits for the writer; busy timeout 0, as
    for the cache generations of ADR 0012); True whenever it cannot tell, and always on
    PostgreSQL, whose workers are woken by NOTIFY only when events are committed."""

    SQL = "SELECT EXISTS (SELECT 1 FROM events WHERE dispatched_at IS NULL)"

    def __init__(self, database: Database) -> None:
        self.path = make_url(database.url).database if database.is_sqlite else None
        self.connection: sqlite3.Connection | None = None

    def __call__(self) -> bool:
        if not self.path or self.path == ":memory:":
            return True
        try:
            if self.connection is None:
                uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
                self.connection = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
            return bool(self.connection.execute(self.SQL).fetchone()[0])
        except sqlite3.Error:
            self.close()
            return True

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()
