"""The delivery task's SQL, for many deliveries at a time: what claimed deliveries need
(one query, plus one for their secrets) and what their attempts write (one multi-row
INSERT of the attempt log, one executemany UPDATE of the deliveries).

Both run lifted above row-level security for a group of jobs of several tenants, so every
row is matched to its job's tenant here: by the tenant in the WHERE clause and again by
comparing each row's tenant with its job's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..jobs.models import Event
from ..jobs.resources import Resources
from ..keys import ServerKeys
from . import service
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .secret_cache import secret_cache_of


@dataclass(frozen=True)
class Target:
    """A delivery with everything its attempt needs, read before any HTTP."""

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    event: Event
    secrets: list[str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Attempted:
    """What one attempt writes: its log row, the delivery's new state, and whether the
    endpoint now works again (False), started failing (True) or neither (None)."""

    attempt: dict[str, Any]
    delivery_id: UUID
    tenant_id: UUID
    attempts: int
    status: str | None
    status_code: int | None
    delivered_at: datetime | None
    endpoint_id: UUID
    endpoint_failing: bool | None
    started_at: datetime


async def load_targets(
    session: AsyncSession, keys: ServerKeys, resources: Resources, wanted: Mapping[UUID, tuple[UUID, UUID]]
) -> dict[UUID, Target | None]:
    """For each key (a job id) with its (tenant, delivery id): the target, or None when the
    delivery is gone."""
    if not wanted:
        return {}
    tenants = {tenant for tenant, _ in wanted.values()}
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint, Event)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.tenant_id.in_(tenants),
            WebhookEndpoint.tenant_id.in_(tenants),
            Event.tenant_id.in_(tenants),
            WebhookDelivery.id.in_([delivery for _, delivery in wanted.values()]),
        )
    )
    by_delivery = {}
    for delivery, endpoint, event in rows:
        if delivery.tenant_id == endpoint.tenant_id == event.tenant_id:
            by_delivery[(delivery.tenant_id, delivery.id)] = (delivery, endpoint, event)
    endpoints = {endpoint.id: endpoint for _, endpoint, _ in by_delivery.values()}
    database_url = session.get_bind().engine.url.render_as_string(hide_password=False)
    secret_cache = await resources.get(secret_cache_of(database_url))
    secrets = await secret_cache.signing_secrets(session, keys, list(endpoints.values()))
    headers = {endpoint_id: service.custom_headers(endpoint, keys) for endpoint_id, endpoint in endpoints.items()}
    targets: dict[UUID, Target | None] = {}
    for key, owner in wanted.items():
        found = by_delivery.get(owner)
        if found is None:
            targets[key] = None
            continue
        delivery, endpoint, event = found
        targets[key] = Target(delivery, endpoint, event, secrets[endpoint.id], headers[endpoint.id])
    return targets


async def record(session: AsyncSession, attempted: Sequence[Attempted]) -> None:
    """Write many attempts in the caller's transaction, in a few statements whatever their number."""
    if not attempted:
        return
    await session.execute(insert(cast(Table, WebhookAttempt.__table__)).values([item.attempt for item in attempted]))
    deliveries = cast(Table, WebhookDelivery.__table__)
    await session.execute(
        update(deliveries)
        .where(deliveries.c.tenant_id == bindparam("tenant"), deliveries.c.id == bindparam("delivery"))
        .values(
            attempts=bindparam("attempts"),
            last_status_code=bindparam("code"),
            status=func.coalesce(bindparam("status", type_=deliveries.c.status.type), deliveries.c.status),
            delivered_at=func.coalesce(
                bindparam("delivered_at", type_=deliveries.c.delivered_at.type), deliveries.c.delivered_at
            ),
        ),
        [
            {
                "tenant": item.tenant_id,
                "delivery": item.delivery_id,
                "attempts": item.attempts,
                "code": item.status_code,
                "status": item.status,
                "delivered_at": item.delivered_at,
            }
            for item in attempted
        ],
    )
    await _record_endpoint_health(session, attempted)


async def _record_endpoint_health(session: AsyncSession, attempted: Sequence[Attempted]) -> None:
    """An endpoint that answered any delivery of the group works again; one that only
    failed has been failing since its first failure (an earlier start is kept)."""
    working = {(item.tenant_id, item.endpoint_id) for item in attempted if item.endpoint_failing is False}
    failing: dict[tuple[UUID, UUID], datetime] = {}
    for item in attempted:
        key = (item.tenant_id, item.endpoint_id)
        if item.endpoint_failing and key not in working:
            failing[key] = min(failing.get(key, item.started_at), item.started_at)
    endpoints = cast(Table, WebhookEndpoint.__table__)
    where = (endpoints.c.tenant_id == bindparam("tenant"), endpoints.c.id == bindparam("endpoint"))
    if working:
        await session.execute(
            update(endpoints).where(*where).values(failing_since=None),
            [{"tenant": tenant, "endpoint": endpoint} for tenant, endpoint in working],
        )
    if failing:
        since = bindparam("since", type_=endpoints.c.failing_since.type)
        await session.execute(
            update(endpoints).where(*where).values(failing_since=func.coalesce(endpoints.c.failing_since, since)),
            [{"tenant": tenant, "endpoint": endpoint, "since": at} for (tenant, endpoint), at in failing.items()],
        )
