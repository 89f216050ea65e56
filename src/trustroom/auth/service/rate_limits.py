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
    table = RateLimitWindow.__table__
    stmt = insert(table).values(key=key, window_start=start, count=1)
    same_window = table.c.window_start == stmt.excluded.window_start
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((same_window, table.c.count + 1), else_=1),
            "window_start": stmt.excluded.window_start,
        },
    ).returning(table.c.count)
    count = (await session.execute(stmt)).scalar_one()
    if count <= limit:
        return None
    return max(1, int(start.timestamp()) + window_seconds - int(now.timestamp()))
