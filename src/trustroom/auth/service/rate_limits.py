"""Attempt counters in the database, shared by every process.

A sliding-window estimate over two fixed windows: the current window's count plus the
previous window's, weighted by how much of it still lies within the last `window`
seconds. Plain fixed windows would let twice the limit through around a boundary
(the limit at the end of one window, again at the start of the next).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import utcnow
from ..models import RateLimitWindow


async def hit(session: AsyncSession, key: str, *, limit: int, window_seconds: int) -> int | None:
    """Count one attempt; answer the seconds to wait when `limit` is exceeded, else None."""
    now = utcnow()
    start = datetime.fromtimestamp(int(now.timestamp()) // window_seconds * window_seconds, UTC)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(RateLimitWindow).values(key=key, window_start=start, count=1, previous_count=0)
    same_window = RateLimitWindow.window_start == stmt.excluded.window_start
    next_window = RateLimitWindow.window_start == start - timedelta(seconds=window_seconds)
    upsert = stmt.on_conflict_do_update(
        index_elements=[RateLimitWindow.key],
        set_={
            "count": case((same_window, RateLimitWindow.count + 1), else_=1),
            "previous_count": case(
                (same_window, RateLimitWindow.previous_count), (next_window, RateLimitWindow.count), else_=0
            ),
            "window_start": stmt.excluded.window_start,
        },
    ).returning(RateLimitWindow.count, RateLimitWindow.previous_count)
    count, previous = (await session.execute(upsert)).one()
    return _wait(now, start, count, previous, limit=limit, window_seconds=window_seconds)


async def peek(session: AsyncSession, key: str, *, limit: int, window_seconds: int) -> int | None:
    """Like `hit` without counting: the seconds to wait while `key` is over `limit`, else None
    (for limits on failures only, checked before an attempt that may succeed)."""
    now = utcnow()
    start = datetime.fromtimestamp(int(now.timestamp()) // window_seconds * window_seconds, UTC)
    row = (
        await session.execute(
            select(RateLimitWindow.window_start, RateLimitWindow.count, RateLimitWindow.previous_count).where(
                RateLimitWindow.key == key
            )
        )
    ).one_or_none()
    if row is None:
        return None
    window_start, stored, stored_previous = row
    if window_start == start:
        count, previous = stored, stored_previous
    elif window_start == start - timedelta(seconds=window_seconds):
        count, previous = 0, stored
    else:
        return None
    return _wait(now, start, count, previous, limit=limit, window_seconds=window_seconds)


def _wait(now: datetime, start: datetime, count: int, previous: int, *, limit: int, window_seconds: int) -> int | None:
    elapsed = (now - start).total_seconds()
    estimate = count + previous * (1 - elapsed / window_seconds)
    if estimate <= limit:
        return None
    if count > limit:
        return max(1, int(start.timestamp()) + window_seconds - int(now.timestamp()))
    # Over only through the previous window: wait until enough of it has slid out.
    needed = (count + previous - limit) / previous if previous else 1.0
    return max(1, int(needed * window_seconds - elapsed) + 1)
