"""Periodic housekeeping of the auth domain: forget what has expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import IdempotencyRecord, cross_tenant, utcnow
from ..jobs.service import JobContext, Task
from ..settings import Settings
from .models import PortalSession, RateLimitWindow

RATE_WINDOW_RETENTION = timedelta(hours=1)


async def purge_expired(session: AsyncSession, settings: Settings) -> int:
    """Delete expired portal sessions, old rate-limit windows and idempotency records."""
    now = utcnow()
    idempotency_cutoff = now - timedelta(seconds=settings.auth.idempotency_ttl_seconds)
    removed = 0
    async with cross_tenant(session):
        for stmt in (
            delete(PortalSession).where(PortalSession.expires_at <= now),
            delete(RateLimitWindow).where(RateLimitWindow.window_start < now - RATE_WINDOW_RETENTION),
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < idempotency_cutoff),
        ):
            result = await session.execute(stmt)
            removed += getattr(result, "rowcount", 0) or 0
    return removed


async def _purge(ctx: JobContext) -> dict[str, Any]:
    return {"removed": await purge_expired(ctx.session, ctx.settings)}


PURGE_EXPIRED = Task("auth.purge_expired", _purge, max_attempts=3)
