"""Fixed-window attempt counters in the database, shared by every process."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case
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
    stmt = insert(RateLimitWindow).values(key=key, window_start=start, count=1)
    same_window = RateLimitWindow.window_start == stmt.excluded.window_start
    upsert = stmt.on_conflict_do_update(
        index_elements=[RateLimitWindow.key],
        set_={
            "count": case((same_window, RateLimitWindow.count + 1), else_=1),
            "window_start": stmt.excluded.window_start,
        },
    ).returning(RateLimitWindow.count)
    count = int((await session.execute(upsert)).scalar_one())
    if count <= limit:
        return None
    return max(1, int(start.timestamp()) + window_seconds - int(now.timestamp()))
