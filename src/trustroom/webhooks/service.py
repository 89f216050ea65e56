"""Creating, changing and removing webhook endpoints; their signing secrets."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor
from ..audit import service as audit
from ..db import paginate, scoped, utcnow, uuid7
from ..errors import ConcurrencyTokenMismatch
from ..jobs import service as jobs
from ..jobs.models import Event
from ..jobs.service import TaskRef
from ..keys import ServerKeys
from ..schemas import Paging, Slice, SortOrder
from ..settings import WebhookSettings
from . import events
from .errors import (
    EndpointNotFound,
    HeaderNotAllowed,
    MessageNotFound,
    UnknownEventType,
    UrlAddressNotAllowed,
    UrlInvalid,
    UrlSchemeNotAllowed,
)
from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookSecret
from .schemas import AttemptRead, EndpointCreate, EndpointUpdate, MessageDetail, MessageRead
from .signing import SECRET_PREFIX

SECRET_BYTES = 32
# Set by the delivery itself; a custom header may not replace them.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, settings: WebhookSettings) -> bool:
    """Public addresses always; private, loopback and link-local ones only inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    internal = (
        address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified
    )  # fmt: skip
    return not internal or any(address in ipaddress.ip_network(net, strict=False) for net in settings.allowed_networks)


def check_url(url: str, settings: WebhookSettings) -> str:
    """Refuse URLs that cannot or may not receive webhooks (the resolved address is checked at delivery)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise UrlInvalid() from exc
    if not parts.hostname or parts.username or parts.password or parts.scheme not in ("http", "https"):
        raise UrlInvalid()
    if parts.scheme == "http" and not settings.allow_http:
        raise UrlSchemeNotAllowed()
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url  # a name; resolved and checked when delivering
    if not address_allowed(literal, settings):
        raise UrlAddressNotAllowed()
    return url


def _check_event_types(event_types: list[str], known: Mapping[str, str]) -> list[str]:
    """The filter as stored: known names only, a former name replaced by the current one."""
    for name in event_types:
        if name not in known:
            raise UnknownEventType(event_type=name)
    return sorted({known[name] for name in event_types})


def _seal_headers(endpoint: WebhookEndpoint, headers: dict[str, str], keys: ServerKeys) -> None:
    for name in headers:
        if name.lower() in RESERVED_HEADERS:
            raise HeaderNotAllowed(header=name)
    endpoint.header_names = sorted(headers)
    endpoint.headers_sealed = (
        keys.seal(json.dumps(headers), context=f"webhook-headers:{endpoint.id}") if headers else None
    )


class EndpointKey(Protocol):
    """An endpoint as far as its secrets go: the ORM entity or a row a claim read."""

    @property
    def id(self) -> UUID: ...

    @property
    def tenant_id(self) -> UUID: ...


class SealedHeaders(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def headers_sealed(self) -> str | None: ...


def custom_headers(endpoint: SealedHeaders, keys: ServerKeys) -> dict[str, str]:
    if not endpoint.headers_sealed:
        return {}
    headers: dict[str, str] = json.loads(keys.unseal(endpoint.headers_sealed, context=f"webhook-headers:{endpoint.id}"))
    return headers


async def _add_secret(session: AsyncSession, endpoint: WebhookEndpoint, keys: ServerKeys) -> str:
    secret = new_secret()
    row = WebhookSecret(tenant_id=endpoint.tenant_id, endpoint_id=endpoint.id, secret_sealed="")
    session.add(row)
    await session.flush()
    row.secret_sealed = keys.seal(secret, context=f"webhook-secret:{row.id}")
    return secret


async def create(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: WebhookSettings,
    known_types: Mapping[str, str],
    data: EndpointCreate,
) -> tuple[WebhookEndpoint, str]:
    endpoint = WebhookEndpoint(
        tenant_id=actor.tenant_id,
        url=check_url(data.url, settings),
        description=data.description,
        event_types=_check_event_types(data.event_types, known_types),
        enabled=data.enabled,
        rate_limit=data.rate_limit,
        header_names=[],
    )
    session.add(endpoint)
    await session.flush()
    _seal_headers(endpoint, data.headers or {}, keys)
    secret = await _add_secret(session, endpoint, keys)
    await session.flush()
    await audit.record(
        session,
        actor,
        "webhooks.endpoint.created",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        data={"url": endpoint.url, "eventTypes": endpoint.event_types, "headers": endpoint.header_names},
    )
    return endpoint, secret


async def get(session: AsyncSession, actor: Actor, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint: WebhookEndpoint | None = await session.scalar(
        scoped(select(WebhookEndpoint), actor).where(WebhookEndpoint.id == endpoint_id)
    )
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint


async def list_endpoints(session: AsyncSession, actor: Actor, paging: Paging) -> Slice[WebhookEndpoint]:
    order = WebhookEndpoint.id.asc() if paging.sort_order is SortOrder.ASCENDING else WebhookEndpoint.id.desc()
    return await paginate(session, scoped(select(WebhookEndpoint), actor), paging, order)


async def update_endpoint(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: WebhookSettings,
    known_types: Mapping[str, str],
    endpoint_id: UUID,
    data: EndpointUpdate,
    *,
    concurrency_token: str | None,
) -> WebhookEndpoint:
    endpoint = await get(session, actor, endpoint_id)
    ConcurrencyTokenMismatch.check(concurrency_token, endpoint.concurrency_token)
    changed: list[str] = []
    if data.url is not None and data.url != endpoint.url:
        endpoint.url = check_url(data.url, settings)
        changed.append("url")
    if data.description is not None and data.description != endpoint.description:
        endpoint.description = data.description
        changed.append("description")
    if data.event_types is not None:
        endpoint.event_types = _check_event_types(data.event_types, known_types)
        changed.append("eventTypes")
    if data.enabled is not None and data.enabled != endpoint.enabled:
        endpoint.enabled = data.enabled
        endpoint.disabled_reason = None if data.enabled else "disabled by the tenant"
        changed.append("enabled")
    if "rate_limit" in data.model_fields_set and data.rate_limit != endpoint.rate_limit:
        endpoint.rate_limit = data.rate_limit
        changed.append("rateLimit")
    if data.headers is not None:
        _seal_headers(endpoint, data.headers, keys)
        changed.append("headers")
    if changed:
        await session.flush()
        await audit.record(
            session,
            actor,
            "webhooks.endpoint.updated",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data={"changed": changed},
        )
    return endpoint


async def delete(session: AsyncSession, actor: Actor, endpoint_id: UUID) -> None:
    endpoint = await get(session, actor, endpoint_id)
    await session.delete(endpoint)
    await audit.record(
        session, actor, "webhooks.endpoint.deleted", target_type="webhook_endpoint", target_id=endpoint_id
    )


async def signing_secrets(
    session: AsyncSession, keys: ServerKeys, endpoints: Collection[EndpointKey]
) -> dict[UUID, list[str]]:
    """Every secret that signs each endpoint's deliveries now (the current one first, then
    those in their overlap), in one query for all of them."""
    now = utcnow()
    return {
        endpoint_id: [secret for secret, expires_at in entries if expires_at is None or expires_at > now]
        for endpoint_id, entries in (await secret_entries(session, keys, endpoints)).items()
    }


async def secret_entries(
    session: AsyncSession, keys: ServerKeys, endpoints: Collection[EndpointKey]
) -> dict[UUID, list[tuple[str, datetime | None]]]:
    """Each endpoint's unexpired secrets with their ends, the current one first: what a cache
    may keep (its user drops the ones that end meanwhile)."""
    owners = {endpoint.id: endpoint.tenant_id for endpoint in endpoints}
    if not owners:
        return {}
    rows = await session.scalars(
        select(WebhookSecret)
        .where(
            WebhookSecret.tenant_id.in_(set(owners.values())),
            WebhookSecret.endpoint_id.in_(list(owners)),
            (WebhookSecret.expires_at.is_(None)) | (WebhookSecret.expires_at > utcnow()),
        )
        .order_by(WebhookSecret.endpoint_id, WebhookSecret.expires_at.is_not(None), WebhookSecret.id.desc())
    )
    found: dict[UUID, list[tuple[str, datetime | None]]] = {endpoint_id: [] for endpoint_id in owners}
    for row in rows:
        if owners[row.endpoint_id] == row.tenant_id:  # each endpoint's own tenant only
            secret = keys.unseal(row.secret_sealed, context=f"webhook-secret:{row.id}")
            found[row.endpoint_id].append((secret, row.expires_at))
    return found


async def active_secrets(session: AsyncSession, endpoint: WebhookEndpoint, keys: ServerKeys) -> list[str]:
    """Every secret that signs the endpoint's deliveries now, the current one first."""
    return (await signing_secrets(session, keys, [endpoint]))[endpoint.id]


async def current_secret(session: AsyncSession, actor: Actor, keys: ServerKeys, endpoint_id: UUID) -> str:
    endpoint = await get(session, actor, endpoint_id)
    return (await active_secrets(session, endpoint, keys))[0]


async def rotate_secret(
    session: AsyncSession, actor: Actor, keys: ServerKeys, settings: WebhookSettings, endpoint_id: UUID
) -> str:
    """A new current secret; the old one keeps signing for the overlap, then ends."""
    endpoint = await get(session, actor, endpoint_id)
    overlap_end = utcnow() + timedelta(seconds=settings.secret_rotation_overlap_seconds)
    await session.execute(
        update(WebhookSecret)
        .where(
            WebhookSecret.tenant_id == endpoint.tenant_id,
            WebhookSecret.endpoint_id == endpoint.id,
            WebhookSecret.expires_at.is_(None),
        )
        .values(expires_at=overlap_end)
        .execution_options(synchronize_session=False)
    )
    secret = await _add_secret(session, endpoint, keys)
    await session.flush()
    await audit.record(
        session, actor, "webhooks.endpoint.secret_rotated", target_type="webhook_endpoint", target_id=endpoint.id
    )
    return secret


DELIVERY = TaskRef("webhooks.deliver", max_attempts=8)


def _delivery_job(
    settings: WebhookSettings, tenant_id: UUID, endpoint_id: UUID, delivery_id: UUID, *, manual: bool = False
) -> jobs.NewJob:
    """The job of one delivery attempt; at most `endpoint_concurrency` run per endpoint."""
    args: dict[str, Any] = {"delivery_id": str(delivery_id)}
    if manual:
        args["manual"] = True
    return jobs.NewJob(
        tenant_id=tenant_id,
        args=args,
        concurrency_key=f"webhook-endpoint:{endpoint_id}",
        concurrency_limit=settings.endpoint_concurrency,
    )


async def enqueue_delivery(
    session: AsyncSession,
    settings: WebhookSettings,
    *,
    tenant_id: UUID,
    endpoint_id: UUID,
    delivery_id: UUID,
    manual: bool = False,
) -> None:
    job = _delivery_job(settings, tenant_id, endpoint_id, delivery_id, manual=manual)
    await jobs.enqueue_many(session, DELIVERY, [job])


async def queue_deliveries(
    session: AsyncSession, settings: WebhookSettings, pairs: Sequence[tuple[Event, WebhookEndpoint]]
) -> list[UUID]:
    """A delivery and its job per (event, endpoint), in a few statements whatever their
    number; a pair that already has one (a retried dispatch) is left alone."""
    if not pairs:
        return []
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "tenant_id": event.tenant_id,
            "event_id": event.id,
            "endpoint_id": endpoint.id,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for event, endpoint in pairs
    ]
    table = cast(Table, WebhookDelivery.__table__)  # Core: no ORM bulk machinery per row
    made = (
        await session.execute(
            dialect_insert(table)
            .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"])
            .returning(table.c.id, table.c.tenant_id, table.c.endpoint_id),
            rows,
        )
    ).all()
    await jobs.enqueue_many(
        session, DELIVERY, [_delivery_job(settings, tenant, endpoint, delivery) for delivery, tenant, endpoint in made]
    )
    return [delivery for delivery, _, _ in made]


async def queue_delivery(
    session: AsyncSession, settings: WebhookSettings, event: Event, endpoint: WebhookEndpoint
) -> UUID | None:
    """A delivery of `event` to `endpoint` and its job; None if one exists."""
    made = await queue_deliveries(session, settings, [(event, endpoint)])
    return made[0] if made else None


async def send_test(session: AsyncSession, actor: Actor, settings: WebhookSettings, endpoint_id: UUID) -> Event:
    """An example event (`webhookEndpoint.tested`) for this endpoint only, delivered like any other."""
    endpoint = await get(session, actor, endpoint_id)
    data = {"endpoint_id": endpoint.id, "message": "This is a test event from Trustroom."}
    event = await jobs.emit(session, events.TEST, data, tenant_id=actor.tenant_id, dispatch=False)
    await queue_delivery(session, settings, event, endpoint)
    await audit.record(
        session, actor, "webhooks.endpoint.tested", target_type="webhook_endpoint", target_id=endpoint.id
    )
    return event


def _message(delivery: WebhookDelivery, event: Event) -> MessageRead:
    return MessageRead(
        id=delivery.id,
        event_id=event.event_id,
        event_type=event.type,
        endpoint_id=delivery.endpoint_id,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


async def list_messages(
    session: AsyncSession,
    actor: Actor,
    paging: Paging,
    *,
    endpoint_id: UUID | None = None,
    event_type: str | None = None,
    status: DeliveryStatus | None = None,
) -> Slice[MessageRead]:
    stmt = scoped(select(WebhookDelivery, Event), actor).join(Event, Event.id == WebhookDelivery.event_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if event_type is not None:
        stmt = stmt.where(Event.type == event_type)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    order = WebhookDelivery.id.asc() if paging.sort_order is SortOrder.ASCENDING else WebhookDelivery.id.desc()
    counted = stmt.add_columns(func.count().over()).order_by(order).offset(paging.offset).limit(paging.page_size)
    rows = (await session.execute(counted)).all()
    total = int(rows[0][-1]) if rows else 0
    return paging.page_of([_message(delivery, event) for delivery, event, _ in rows], total)


async def _delivery_with_event(session: AsyncSession, actor: Actor, message_id: UUID) -> tuple[WebhookDelivery, Event]:
    row = (
        await session.execute(
            scoped(select(WebhookDelivery, Event), actor)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise MessageNotFound()
    delivery, event = row
    return delivery, event


async def get_message(session: AsyncSession, actor: Actor, message_id: UUID) -> MessageDetail:
    delivery, event = await _delivery_with_event(session, actor, message_id)
    attempts = await session.scalars(
        scoped(select(WebhookAttempt), actor)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.attempt)
    )
    return MessageDetail(
        **_message(delivery, event).model_dump(),
        payload=event.envelope(),
        attempt_log=[AttemptRead.model_validate(attempt) for attempt in attempts],
    )


async def resend(session: AsyncSession, actor: Actor, settings: WebhookSettings, message_id: UUID) -> None:
    """One more attempt of this message to its endpoint, now, outside the retry schedule."""
    delivery, _ = await _delivery_with_event(session, actor, message_id)
    await enqueue_delivery(
        session,
        settings,
        tenant_id=delivery.tenant_id,
        endpoint_id=delivery.endpoint_id,
        delivery_id=delivery.id,
        manual=True,
    )
    await audit.record(session, actor, "webhooks.message.resent", target_type="webhook_message", target_id=delivery.id)


async def recover(
    session: AsyncSession, actor: Actor, settings: WebhookSettings, endpoint_id: UUID, since: datetime
) -> int:
    """Put every failed message of the endpoint created since `since` back on the schedule."""
    endpoint = await get(session, actor, endpoint_id)
    failed = list(
        await session.scalars(
            scoped(select(WebhookDelivery), actor).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.status == DeliveryStatus.FAILED,
                WebhookDelivery.created_at >= since,
            )
        )
    )
    for delivery in failed:
        delivery.status = DeliveryStatus.PENDING
        await enqueue_delivery(
            session, settings, tenant_id=delivery.tenant_id, endpoint_id=endpoint.id, delivery_id=delivery.id
        )
    await audit.record(
        session,
        actor,
        "webhooks.endpoint.recovered",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        data={"since": since.isoformat(), "requeued": len(failed)},
    )
    return len(failed)
