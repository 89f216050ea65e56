"""The SQLite read driver: inline within a budget, on a thread beyond it or when locked.

These run on a SQLite database of their own whichever database the suite runs on: they
are about the driver, not the schema.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from trustroom.db import Database

SUM_TO = 3_000_000
LONG_READ = text(
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :top) SELECT sum(i) FROM c"
).bindparams(top=SUM_TO)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}")
    async with database.session() as session:
        await session.execute(text("CREATE TABLE numbers (n INTEGER NOT NULL)"))
        await session.execute(text("INSERT INTO numbers (n) VALUES (1), (2), (3)"))
        await session.commit()
    yield database
    await database.dispose()


async def _timed_with_ticks(work: Awaitable[Any]) -> tuple[Any, float, float]:
    """`work`'s result, how long it took, and the longest the event loop went without a tick."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.005)
    started = time.perf_counter()
    try:
        result = await work
    finally:
        took = time.perf_counter() - started
        done.set()
        await ticker
    return result, took, max(gaps)


async def _read(database: Database, statement: Any) -> Any:
    async with database.session(write=False) as session:
        return await session.scalar(statement)


async def test_a_short_read_runs_and_answers(sqlite_db: Database) -> None:
    assert await _read(sqlite_db, text("SELECT sum(n) FROM numbers")) == 6
    async with sqlite_db.session(write=False) as session:
        result = await session.execute(text("SELECT n FROM numbers ORDER BY n"))
        assert [row.n for row in result.fetchmany(2)] == [1, 2]
        assert [row.n for row in result.fetchmany(2)] == [3]
        assert result.fetchmany(2) == []
        assert len((await session.execute(text("SELECT n FROM numbers"))).all()) == 3
        assert (await session.execute(text("SELECT n FROM numbers WHERE n > 3"))).first() is None
        await session.commit()


async def test_a_long_read_moves_off_the_event_loop(sqlite_db: Database) -> None:
    total, took, longest_gap = await _timed_with_ticks(_read(sqlite_db, LONG_READ))
    assert total == SUM_TO * (SUM_TO + 1) // 2
    assert took > 0.1, "the statement was meant to run long"
    # Inline all the way, one gap would be as long as the statement.
    assert longest_gap < took / 3, (longest_gap, took)


async def test_a_read_session_cannot_write(sqlite_db: Database) -> None:
    async with sqlite_db.session(write=False) as session:
        with pytest.raises(OperationalError, match="readonly"):
            await session.execute(text("INSERT INTO numbers (n) VALUES (4)"))


async def test_a_read_does_not_wait_for_an_open_write_transaction(sqlite_db: Database) -> None:
    async with sqlite_db.session() as writer:
        await writer.execute(text("INSERT INTO numbers (n) VALUES (4)"))  # BEGIN IMMEDIATE holds the lock
        started = time.perf_counter()
        assert await _read(sqlite_db, text("SELECT count(*) FROM numbers")) == 3
        assert time.perf_counter() - started < 1.0
        await writer.commit()
    assert await _read(sqlite_db, text("SELECT count(*) FROM numbers")) == 4


async def test_a_locked_database_is_waited_for_on_a_thread(sqlite_db: Database, tmp_path: Path) -> None:
    # An exclusive-mode connection keeps every other connection out, readers too, until it
    # closes: inline, the reader meets SQLITE_BUSY at once and must wait on a thread.
    await sqlite_db.dispose()  # the pooled connections would keep the locker out
    locker = sqlite3.connect(tmp_path / "reads.db", isolation_level=None, check_same_thread=False)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("INSERT INTO numbers (n) VALUES (10)")
    locker.execute("COMMIT")
    asyncio.get_running_loop().call_later(0.3, locker.close)
    total, took, longest_gap = await _timed_with_ticks(_read(sqlite_db, text("SELECT sum(n) FROM numbers")))
    assert total == 16
    assert took >= 0.25
    assert longest_gap < 0.2, longest_gap


async def test_a_stream_reads_in_chunks(sqlite_db: Database) -> None:
    async with sqlite_db.session() as session:
        more = "WITH RECURSIVE c(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) SELECT i FROM c"
        await session.execute(text(f"INSERT INTO numbers (n) {more}"))
        await session.commit()
    async with sqlite_db.session(write=False) as session:
        result = await session.stream_scalars(
            text("SELECT n FROM numbers ORDER BY n").columns().execution_options(yield_per=250)
        )
        seen = [n async for n in result]
        first = await (await session.stream(text("SELECT n FROM numbers ORDER BY n DESC"))).first()
        everything = await (await session.stream(text("SELECT n FROM numbers"))).all()
    assert seen == list(range(1, 5001))
    assert first is not None and first.n == 5000
    assert len(everything) == 5000
