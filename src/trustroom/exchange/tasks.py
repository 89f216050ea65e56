"""Jobs of secure exchange: the virus scan of uploads in quarantine."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ..jobs.service import JobContext, Task
from ..storage.blobs import store_from_settings
from ..storage.keyring import SealedKeyring
from .clamd import Clamd
from .service import documents, scanning


async def _scan(ctx: JobContext, version_id: str) -> dict[str, Any]:
    assert ctx.tenant_id is not None
    settings = ctx.settings.exchange
    if settings.clamd_url is None:
        # The scanner was switched off after this upload: it waits for one to return.
        ctx.retry_later("no virus scanner configured", at_least=3600)
        return {"waiting": "no scanner"}
    scanner = Clamd(settings.clamd_url, settings.scan_timeout_seconds)
    verdict = await scanning.scan(
        ctx.database,
        SealedKeyring(ctx.keys),
        store_from_settings(ctx.settings),
        scanner,
        ctx.tenant_id,
        UUID(version_id),
    )
    if verdict is None:
        return {"skipped": "not in quarantine"}
    status = await scanning.record(ctx.session, ctx.tenant_id, UUID(version_id), verdict)
    return {"status": status, "finding": verdict.finding}


# clamd being down raises ScannerDown: the job retries (the upload stays in quarantine),
# soon at first, then hourly.
SCAN_RETRY_DELAYS = (30.0, 120.0, 600.0, 1800.0, 3600.0)
SCAN = Task(documents.SCAN.name, _scan, max_attempts=documents.SCAN.max_attempts, retry_delays=SCAN_RETRY_DELAYS)
