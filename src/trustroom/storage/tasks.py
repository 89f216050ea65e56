"""Housekeeping of blob storage."""

from __future__ import annotations

from typing import Any

import anyio

from ..db import cross_tenant
from ..jobs.service import JobContext, Task
from .blobs import store_from_settings
from .service import DELETE_CONTENT, sweep_expired


async def _sweep(ctx: JobContext) -> dict[str, Any]:
    async with cross_tenant(ctx.session):
        removed = await sweep_expired(ctx.session, store_from_settings(ctx.settings))
    return {"removed": removed}


SWEEP_EXPIRED = Task("storage.sweep_expired", _sweep, max_attempts=3)


async def _delete_content(ctx: JobContext, blob_ids: list[str]) -> dict[str, Any]:
    store = store_from_settings(ctx.settings)
    for name in blob_ids:
        await anyio.to_thread.run_sync(store.delete, name)
    return {"deleted": len(blob_ids)}


DELETE_CONTENT_TASK = Task(DELETE_CONTENT.name, _delete_content, max_attempts=DELETE_CONTENT.max_attempts)
