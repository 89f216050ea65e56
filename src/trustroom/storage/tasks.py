"""Housekeeping of blob storage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio

from ..db import cross_tenant, utcnow
from ..jobs.service import JobContext, Task
from .blobs import store_from_settings
from .keyring import SealedKeyring
from .rotation import finish_retired
from .service import DELETE_CONTENT, sweep_expired, sweep_orphans

# Longer than any write takes: younger content may be a commit away from its row.
ORPHAN_GRACE = timedelta(hours=1)
# Longer than any upload a writer began with a KEK that rotation then retired.
RETIRED_KEY_GRACE = timedelta(days=1)


async def _sweep(ctx: JobContext) -> dict[str, Any]:
    async with cross_tenant(ctx.session):
        removed = await sweep_expired(ctx.session, store_from_settings(ctx.settings))
    return {"removed": removed}


SWEEP_EXPIRED = Task("storage.sweep_expired", _sweep, max_attempts=3)


async def _sweep_orphans(ctx: JobContext) -> dict[str, Any]:
    store = store_from_settings(ctx.settings)
    async with cross_tenant(ctx.session):
        orphans, partial = await sweep_orphans(ctx.session, store, before=utcnow() - ORPHAN_GRACE)
        keyring = SealedKeyring(ctx.keys)
        erased = await finish_retired(ctx.session, keyring, retired_before=utcnow() - RETIRED_KEY_GRACE)
    return {"orphans": orphans, "partialWrites": partial, "retiredKeysErased": erased}


SWEEP_ORPHANS = Task("storage.sweep_orphans", _sweep_orphans, max_attempts=3)


async def _delete_content(ctx: JobContext, blob_ids: list[str]) -> dict[str, Any]:
    store = store_from_settings(ctx.settings)
    for name in blob_ids:
        await anyio.to_thread.run_sync(store.delete, name)
    return {"deleted": len(blob_ids)}


DELETE_CONTENT_TASK = Task(DELETE_CONTENT.name, _delete_content, max_attempts=DELETE_CONTENT.max_attempts)
