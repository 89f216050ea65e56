"""The webhook fan-out (a subscriber of every event) and the delivery task."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import bind_tenant, utcnow, uuid7
from ..jobs import service as jobs
from ..jobs.models import Event
from ..jobs.resources import Resources
from ..jobs.service import NOT_PREPARED, Claimed, JobContext, Task
from ..keys import ServerKeys
from ..settings import Settings
from . import attempts, delivery, events, service, signing
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

# Immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (each ±20 % by the job engine).
RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
MAX_ATTEMPTS = service.DELIVERY.max_attempts
assert len(RETRY_DELAYS) + 1 == MAX_ATTEMPTS


async def fan_out(session: AsyncSession, settings: Settings, batch: Sequence[Event]) -> None:
    """One delivery, and one delivery job, per enabled endpoint that wants each event."""
    by_tenant: dict[UUID, list[Event]] = defaultdict(list)
    for event in batch:
        by_tenant[event.tenant_id].append(event)
    for tenant_id, tenant_events in by_tenant.items():
        endpoints = list(
            await session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled)
            )
        )
        pairs = [
            (event, endpoint)
            for event in tenant_events
            for endpoint in endpoints
            if not endpoint.event_types or event.type in endpoint.event_types
        ]
        await service.queue_deliveries(session, settings.webhooks, pairs)


async def _prepare(
    session: AsyncSession, keys: ServerKeys, resources: Resources, claimed: Sequence[Claimed]
) -> dict[UUID, Any]:
    """At claim time: one read for all claimed deliveries (lifted above row-level security,
    each row matched to its job's tenant)."""
    wanted = {job.id: (job.tenant_id, UUID(job.args["delivery_id"])) for job in claimed if job.tenant_id is not None}
    return dict(await attempts.load_targets(session, keys, resources, wanted))


async def _target(ctx: JobContext, delivery_id: str) -> attempts.Target | None:
    if ctx.prepared is not NOT_PREPARED:
        prepared: attempts.Target | None = ctx.prepared
        return prepared
    # The read at claim time failed: read alone, in a short read transaction, so no write
    # lock is held over HTTP.
    assert ctx.tenant_id is not None
    async with ctx.database.session(write=False) as read:
        await bind_tenant(read, ctx.tenant_id)
        wanted = {ctx.job_id: (ctx.tenant_id, UUID(delivery_id))}
        return (await attempts.load_targets(read, ctx.keys, ctx.resources, wanted))[ctx.job_id]


async def _deliver(ctx: JobContext, delivery_id: str, manual: bool = False) -> dict[str, Any]:
    """One attempt. A manual resend (`manual`) tries once whatever the status, and neither
    retries nor counts towards disabling the endpoint.

    The attempt's writes are staged (`ctx.stage`): the runner records them with other
    finished deliveries in one transaction (`_record`). Only the rare endpoint changes
    (cancelling, disabling) write through the job's own session.
    """
    loaded = await _target(ctx, delivery_id)
    if loaded is None:
        return {"skipped": "deleted"}
    target, endpoint, event = loaded.delivery, loaded.endpoint, loaded.event
    if target.status != DeliveryStatus.PENDING and not manual:
        return {"skipped": target.status}
    if not endpoint.enabled and manual:
        return {"skipped": "endpoint disabled"}
    if not endpoint.enabled:
        await _cancel(ctx, target.id)
        return {"skipped": "endpoint disabled"}

    if endpoint.rate_limit:
        await asyncio.sleep(await _send_slot(ctx, endpoint.id, endpoint.rate_limit))
    body = json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {**loaded.headers, **signing.headers(loaded.secrets, event.event_id, int(time.time()), body)}
    started_at = utcnow()
    pool = await ctx.resources.get(delivery.ConnectionPool)
    outcome = await pool.post(endpoint.url, headers, body, ctx.settings.webhooks)

    def stage(status: DeliveryStatus | None, *, failing: bool | None = None) -> None:
        number = target.attempts + 1
        row = {
            "id": uuid7(),
            "tenant_id": target.tenant_id,
            "delivery_id": target.id,
            "attempt": number,
            "started_at": started_at,
            "duration_ms": outcome.duration_ms,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "response_excerpt": outcome.excerpt,
            "trigger": "manual" if manual else "scheduled",
        }
        delivered_at = utcnow() if status == DeliveryStatus.DELIVERED else None
        ctx.stage(
            attempts.Attempted(
                row, target.id, target.tenant_id, number, status, outcome.status_code, delivered_at,
                endpoint.id, failing, started_at,
            )
        )  # fmt: skip

    if outcome.delivered:
        stage(DeliveryStatus.DELIVERED, failing=False if endpoint.failing_since is not None else None)
        return {"delivered": True, "statusCode": outcome.status_code}
    if manual:
        stage(None)
        return {"delivered": False, "statusCode": outcome.status_code, "error": outcome.error}
    if outcome.status_code == 410:
        stage(DeliveryStatus.FAILED)
        await _disable(ctx, endpoint, "gone (410)")
        return {"delivered": False, "statusCode": 410}
    failing_since = endpoint.failing_since or started_at
    limit = timedelta(seconds=ctx.settings.webhooks.disable_after_failing_seconds)
    if utcnow() - failing_since >= limit:
        stage(DeliveryStatus.FAILED, failing=True)
        await _disable(ctx, endpoint, f"failing since {failing_since.isoformat()}")
        return {"delivered": False}
    final = ctx.attempt >= MAX_ATTEMPTS
    stage(DeliveryStatus.FAILED if final else None, failing=True)
    reason = outcome.error or f"answered {outcome.status_code}"
    if not final:
        ctx.retry_later(reason, at_least=outcome.retry_after)
    return {"delivered": False, "statusCode": outcome.status_code, "error": reason}


async def _record(session: AsyncSession, staged: Sequence[tuple[Claimed, Any]]) -> None:
    await attempts.record(session, [writes for _, writes in staged])


RATE_BURST_SECONDS = 1.0


async def _send_slot(ctx: JobContext, endpoint_id: UUID, rate: int) -> float:
    """Reserve this delivery's slot under the endpoint's rate limit; seconds until it opens.

    The generic cell rate algorithm over one column shared by every worker: up to one
    second's worth of deliveries go at once, then one every 1/rate seconds. Only
    `endpoint_concurrency` deliveries of an endpoint run at once, so a wait stays short.
    """
    assert ctx.tenant_id is not None
    async with ctx.database.session() as session:
        await bind_tenant(session, ctx.tenant_id)
        where = (WebhookEndpoint.tenant_id == ctx.tenant_id, WebhookEndpoint.id == endpoint_id)
        booked = await session.scalar(select(WebhookEndpoint.next_send_at).where(*where).with_for_update())
        now = utcnow()
        slot = max(booked or now, now)
        await session.execute(
            update(WebhookEndpoint)
            .where(*where)
            .values(next_send_at=slot + timedelta(seconds=1 / rate))
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return max(0.0, (slot - now).total_seconds() - RATE_BURST_SECONDS)


async def _cancel(ctx: JobContext, delivery_id: UUID) -> None:
    await ctx.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.tenant_id == ctx.tenant_id, WebhookDelivery.id == delivery_id)
        .values(status=DeliveryStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


async def _set_endpoint(ctx: JobContext, endpoint_id: UUID, **values: Any) -> None:
    await ctx.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == ctx.tenant_id, WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def _disable(ctx: JobContext, endpoint: attempts.EndpointRow, reason: str) -> None:
    await _set_endpoint(ctx, endpoint.id, enabled=False, disabled_reason=reason)
    await jobs.emit(
        ctx.session,
        events.ENDPOINT_DISABLED,
        {"endpoint_id": endpoint.id, "reason": reason},
        tenant_id=endpoint.tenant_id,
    )


DELIVER = Task(
    service.DELIVERY.name,
    _deliver,
    max_attempts=MAX_ATTEMPTS,
    retry_delays=RETRY_DELAYS,
    prepare=_prepare,
    record=_record,
)
