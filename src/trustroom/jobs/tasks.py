"""Housekeeping of the jobs table itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .service import JobContext, Task, purge_events, purge_finished


async def _purge(ctx: JobContext) -> dict[str, Any]:
    removed = await purge_finished(ctx.session, timedelta(seconds=ctx.settings.job_retention_seconds))
    return {"removed": removed}


PURGE_FINISHED = Task("jobs.purge_finished", _purge, max_attempts=3)


async def _purge_events(ctx: JobContext) -> dict[str, Any]:
    removed = await purge_events(ctx.session, timedelta(seconds=ctx.settings.event_retention_seconds))
    return {"removed": removed}


PURGE_EVENTS = Task("events.purge", _purge_events, max_attempts=3)
