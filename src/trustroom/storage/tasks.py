"""Housekeeping of blob storage."""

from __future__ import annotations

from typing import Any

from ..db import cross_tenant
from ..jobs.service import JobContext, Task
from .blobs import store_from_settings
from .service import sweep_expired


async def _sweep(ctx: JobContext) -> dict[str, Any]:
    async with cross_tenant(ctx.session):
        removed = await sweep_expired(ctx.session, store_from_settings(ctx.settings))
    return {"removed": removed}


SWEEP_EXPIRED = Task("storage.sweep_expired", _sweep, max_attempts=3)
