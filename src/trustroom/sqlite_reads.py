"""The SQLite read driver: read statements run inline on the event loop, within a budget.

aiosqlite runs every statement on a thread of its own connection: BEGIN, each query,
each fetch and COMMIT are separate hand-offs to that thread and back, and under load
those hand-offs, not SQLite, are what a short read costs (ADR 0012; the lab measured a
10-row page at ~6 µs in `sqlite3` and ~500 µs through the async adapter). A WAL reader
never waits for the writer, so a short read can simply run on the event loop.

What keeps that safe:
- **Read-only connections.** `PRAGMA query_only` makes any write on them fail loudly;
  the write engine (aiosqlite, `BEGIN IMMEDIATE`, ADR 0004) is the only writer.
- **A time budget.** A progress handler interrupts a statement that runs longer than
  `INLINE_BUDGET_SECONDS` on the loop; it then runs again, from the start, on a thread
  (a SELECT has no effects, and its transaction and snapshot survive the interrupt).
  So one statement holds the loop for at most the budget, whatever it reads.
- **No waiting on the loop.** The busy timeout is 0 inline; if SQLite ever answers
  busy (WAL recovery, a checkpoint restarting the log) the statement goes to a thread
  with the usual 30 s timeout.
- **Streams go to a thread.** `stream()`/`yield_per` results (audit verification, large
  reads) use a cursor that runs and fetches on a thread, chunk by chunk.

Every result is fetched completely before `execute` returns, as the aiosqlite adapter
does, so a slow fetch is covered by the same budget.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.util.concurrency import await_

DRIVER = "trustroom_reads"
# Long enough for any indexed page, short enough that a scan cannot stall other requests.
# Counted in CPU time of the loop's thread: on a busy machine the thread may be descheduled
# in the middle of a 100 µs read, and a wall-clock budget would then send short reads to a
# thread exactly when the machine can least afford it. Reads that wait on the disk use no
# CPU, so a wall-clock limit, ten times longer, bounds those.
INLINE_BUDGET_SECONDS = 0.002
INLINE_WALL_LIMIT_SECONDS = 0.02
# How often (in SQLite VM instructions) the progress handler looks at the clock: a few
# microseconds of checks for a page of rows.
PROGRESS_STEPS = 2000
# As long as the write engine's timeout: off the loop, a reader may wait like any other.
THREAD_BUSY_TIMEOUT_MS = 30_000

# The read engine's connections: WAL is set by the writers (a mode change writes); no
# wait for locks on the loop (see `ReadConnection.run`); and no writes at all.
PRAGMAS = ("foreign_keys=ON", "busy_timeout=0", "query_only=ON")

T = TypeVar("T")


async def _finished() -> None:
    """An awaitable that completes without suspending (see `ReadConnection.run`)."""


def _must_leave_loop(error: sqlite3.OperationalError) -> bool:
    """Interrupted by the budget, or busy with the busy timeout at 0."""
    code = getattr(error, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_BUSY) or "interrupted" in str(error)


class ReadConnection:
    """A DB-API connection over one read-only `sqlite3` connection."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self._deadline = 0.0
        self._wall_deadline = 0.0
        raw.set_progress_handler(self._over_budget, PROGRESS_STEPS)

    def _over_budget(self) -> int:
        if not self._deadline:
            return 0
        return 1 if time.thread_time() > self._deadline or time.perf_counter() > self._wall_deadline else 0

    def run(self, work: Callable[[], T]) -> T:
        """`work` inline within the budget; when it runs over or meets a lock, on a thread."""
        self._deadline = time.thread_time() + INLINE_BUDGET_SECONDS
        self._wall_deadline = time.perf_counter() + INLINE_WALL_LIMIT_SECONDS
        try:
            done = work()
            # SQLAlchemy's AsyncConnection refuses a statement that never awaited (its guard
            # against sync drivers); awaiting a finished coroutine satisfies it for the cost
            # of two greenlet switches, without a turn of the event loop.
            await_(_finished())
            return done
        except sqlite3.OperationalError as error:
            if not _must_leave_loop(error):
                raise
        finally:
            self._deadline = 0.0
        return self.run_on_thread(work)

    def run_on_thread(self, work: Callable[[], T]) -> T:
        def patiently() -> T:
            self.raw.execute(f"PRAGMA busy_timeout = {THREAD_BUSY_TIMEOUT_MS}")
            try:
                return work()
            finally:
                self.raw.execute("PRAGMA busy_timeout = 0")

        return await_(asyncio.to_thread(patiently))

    def cursor(self, server_side: bool = False) -> ReadCursor:
        return StreamCursor(self) if server_side else ReadCursor(self)

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self.raw.isolation_level = value


class ReadCursor:
    """Runs a statement and fetches all of its rows in one go (inline or on a thread)."""

    arraysize = 1

    def __init__(self, connection: ReadConnection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()
        self._rows: list[Any] = []
        self._position = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> ReadCursor:
        self._remember(self._connection.run(lambda: self._execute_all(statement, parameters)))
        return self

    def _execute_all(self, statement: str, parameters: Sequence[Any]) -> tuple[list[Any], Any]:
        self._cursor.execute(statement, parameters)
        return self._cursor.fetchall(), self._cursor.description

    def _remember(self, outcome: tuple[list[Any], Any]) -> None:
        self._rows, self.description = outcome
        self._position = 0
        self.rowcount = self._cursor.rowcount
        self.lastrowid = self._cursor.lastrowid

    def fetchone(self) -> Any:
        if self._position >= len(self._rows):
            return None
        row = self._rows[self._position]
        self._position += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._position + (size or self.arraysize)
        rows = self._rows[self._position : end]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._position :]
        self._position = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows = []
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's asyncio results before they are read: rows are in memory
        already (a stream reads on when asked), so there is nothing to settle."""


class StreamCursor(ReadCursor):
    """A server-side cursor: the statement and each chunk of rows are read on a thread."""

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> ReadCursor:
        self._connection.run_on_thread(lambda: self._cursor.execute(statement, parameters))
        self.description = self._cursor.description
        return self

    def fetchone(self) -> Any:
        return self._connection.run_on_thread(self._cursor.fetchone)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._connection.run_on_thread(lambda: self._cursor.fetchmany(size or self.arraysize))

    def fetchall(self) -> list[Any]:
        return self._connection.run_on_thread(self._cursor.fetchall)


class _ExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor(server_side=True)


class SQLiteReadDialect(SQLiteDialect_pysqlite):
    """`sqlite+trustroom_reads://`: pysqlite's dialect, driven from asyncio without a thread."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = _ExecutionContext

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        # Used from the loop and, for a statement that leaves it, from a worker thread;
        # never from two at once (the session holds the connection while it waits).
        return ReadConnection(sqlite3.connect(*args, **{**kwargs, "check_same_thread": False}))

    def get_driver_connection(self, connection: Any) -> Any:
        return connection


def register() -> None:
    """Make `sqlite+trustroom_reads://` known to `create_async_engine` (idempotent)."""
    registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteReadDialect")


def read_url(url: str) -> str:
    """The read engine's URL for the database URL of a SQLite database."""
    return make_url(url).set(drivername=f"sqlite+{DRIVER}").render_as_string(hide_password=False)
