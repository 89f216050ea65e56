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
from functools import cache
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Insert, Select, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..jobs.models import Event, envelope, message_id
from ..jobs.resources import Resources
from ..keys import ServerKeys
from . import service
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .secret_cache import secret_cache_of


@dataclass(frozen=True)
class DeliveryRow:
    id: UUID
    tenant_id: UUID
    status: str
    attempts: int


@dataclass(frozen=True)
class EndpointRow:
    """What an attempt reads of its endpoint (not the ORM entity: a claim reads many)."""

    id: UUID
    tenant_id: UUID
    url: str
    enabled: bool
    failing_since: datetime | None
    rate_limit: int | None
    headers_sealed: str | None


@dataclass(frozen=True)
class EventRow:
    id: UUID
    tenant_id: UUID
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    @property
    def event_id(self) -> str:
        return message_id(self.id)

    def envelope(self) -> dict[str, Any]:
        return envelope(self.type, self.occurred_at, self.data)


@dataclass(frozen=True)
class Target:
    """A delivery with everything its attempt needs, read before any HTTP."""

    delivery: DeliveryRow
    endpoint: EndpointRow
    event: EventRow
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


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


@cache
def _targets_stmt() -> Select[Any]:
    # Core columns, built once: a claim's read makes no ORM entities.
    deliveries, endpoints, events = _table(WebhookDelivery), _table(WebhookEndpoint), _table(Event)
    delivery, endpoint, event = deliveries.c, endpoints.c, events.c
    columns = (
        *(delivery.id, delivery.tenant_id, delivery.status, delivery.attempts),
        *(endpoint.id, endpoint.tenant_id, endpoint.url, endpoint.enabled, endpoint.failing_since),
        *(endpoint.rate_limit, endpoint.headers_sealed),
        *(event.id, event.tenant_id, event.type, event.occurred_at, event.data),
    )
    return (
        select(*columns)
        .select_from(
            deliveries.join(endpoints, endpoint.id == delivery.endpoint_id).join(events, event.id == delivery.event_id)
        )
        .where(
            delivery.tenant_id.in_(bindparam("tenants", expanding=True)),
            endpoint.tenant_id.in_(bindparam("tenants", expanding=True)),
            event.tenant_id.in_(bindparam("tenants", expanding=True)),
            delivery.id.in_(bindparam("deliveries", expanding=True)),
        )
    )


async def load_targets(
    session: AsyncSession, keys: ServerKeys, resources: Resources, wanted: Mapping[UUID, tuple[UUID, UUID]]
) -> dict[UUID, Target | None]:
    """For each key (a job id) with its (tenant, delivery id): the target, or None when the
    delivery is gone."""
    if not wanted:
        return {}
    tenants = list({tenant for tenant, _ in wanted.values()})
    rows = await session.execute(
        _targets_stmt(), {"tenants": tenants, "deliveries": [delivery for _, delivery in wanted.values()]}
    )
    by_delivery: dict[tuple[UUID, UUID], tuple[DeliveryRow, EndpointRow, EventRow]] = {}
    endpoints: dict[UUID, EndpointRow] = {}
    for row in rows:
        delivery = DeliveryRow(*row[:4])
        endpoint = endpoints.get(row[4]) or EndpointRow(*row[4:11])
        event = EventRow(*row[11:])
        if delivery.tenant_id == endpoint.tenant_id == event.tenant_id:
            endpoints[endpoint.id] = endpoint
            by_delivery[(delivery.tenant_id, delivery.id)] = (delivery, endpoint, event)
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


@cache
def _insert_attempts_stmt() -> Insert:
    return insert(_table(WebhookAttempt))


@cache
def _update_deliveries_stmt() -> Update:
    deliveries = _table(WebhookDelivery)
    return (
        update(deliveries)
        .where(deliveries.c.tenant_id == bindparam("tenant"), deliveries.c.id == bindparam("delivery"))
        .values(
            attempts=bindparam("attempts"),
            last_status_code=bindparam("code"),
            status=func.coalesce(bindparam("status", type_=deliveries.c.status.type), deliveries.c.status),
            delivered_at=func.coalesce(
                bindparam("delivered_at", type_=deliveries.c.delivered_at.type), deliveries.c.delivered_at
            ),
        )
    )


async def record(session: AsyncSession, attempted: Sequence[Attempted]) -> None:
    """Write many attempts in the caller's transaction, in a few statements whatever their number."""
    if not attempted:
        return
    # executemany: one statement compiled once, whatever the number of rows
    await session.execute(_insert_attempts_stmt(), [item.attempt for item in attempted])
    await session.execute(
        _update_deliveries_stmt(),
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
    endpoints = _table(WebhookEndpoint)
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
