"""JSON API: /api/v1/webhook-endpoints and their signing secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from ..actor import Actor, Scope
from ..errors import ConcurrencyTokenMismatch
from ..http import (
    API_PREFIX,
    IDEMPOTENCY_ERRORS,
    IDEMPOTENT,
    ApiRoute,
    KeysDep,
    PagingDep,
    SessionDep,
    SettingsDep,
    error_responses,
    require,
)
from ..schemas import Page, Slice, Text
from ..settings import WebhookSettings
from . import service
from .errors import (
    EndpointNotFound,
    HeaderNotAllowed,
    MessageNotFound,
    UnknownEventType,
    UrlAddressNotAllowed,
    UrlInvalid,
    UrlSchemeNotAllowed,
)
from .models import DeliveryStatus, WebhookEndpoint
from .schemas import (
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EndpointUpdate,
    MessageDetail,
    MessageRead,
    RecoverRequest,
    RecoverResult,
    SecretRead,
    TestSent,
)

router = APIRouter(
    prefix=f"{API_PREFIX}/webhook-endpoints",
    tags=["webhooks"],
    route_class=ApiRoute,
    responses=error_responses(EndpointNotFound),
)
WebhooksRead = Annotated[Actor, require(Scope.WEBHOOKS_READ)]
WebhooksWrite = Annotated[Actor, require(Scope.WEBHOOKS_WRITE)]
INPUT_ERRORS = (UrlInvalid, UrlSchemeNotAllowed, UrlAddressNotAllowed, UnknownEventType, HeaderNotAllowed)


def _webhook_settings(settings: SettingsDep) -> WebhookSettings:
    return settings.webhooks


def _known_types(request: Request) -> Mapping[str, str]:
    accepted: Mapping[str, str] = request.app.state.catalogue.accepted_names
    return accepted


Settings = Annotated[WebhookSettings, Depends(_webhook_settings)]
KnownTypes = Annotated[Mapping[str, str], Depends(_known_types)]


@router.get("", response_model=Page[EndpointRead])
async def list_webhook_endpoints(session: SessionDep, actor: WebhooksRead, paging: PagingDep) -> Slice[WebhookEndpoint]:
    """List the tenant's webhook endpoints."""
    return await service.list_endpoints(session, actor, paging)


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    dependencies=[IDEMPOTENT],
    responses=error_responses(*INPUT_ERRORS, *IDEMPOTENCY_ERRORS),
)
async def create_webhook_endpoint(
    body: EndpointCreate,
    session: SessionDep,
    actor: WebhooksWrite,
    keys: KeysDep,
    settings: Settings,
    known: KnownTypes,
) -> EndpointCreated:
    """Create an endpoint; its signing secret is in the answer (and at …/{id}/secret)."""
    endpoint, secret = await service.create(session, actor, keys, settings, known, body)
    return EndpointCreated.model_validate({**EndpointRead.model_validate(endpoint).model_dump(), "secret": secret})


@router.get("/{endpoint_id}", response_model=EndpointRead)
async def get_webhook_endpoint(
    endpoint_id: UUID, session: SessionDep, actor: WebhooksRead, response: Response
) -> WebhookEndpoint:
    """One endpoint (custom header values are never shown)."""
    endpoint = await service.get(session, actor, endpoint_id)
    response.headers["ETag"] = f'"{endpoint.concurrency_token}"'
    return endpoint


@router.patch(
    "/{endpoint_id}", response_model=EndpointRead, responses=error_responses(*INPUT_ERRORS, ConcurrencyTokenMismatch)
)
async def update_webhook_endpoint(
    endpoint_id: UUID,
    body: EndpointUpdate,
    session: SessionDep,
    actor: WebhooksWrite,
    keys: KeysDep,
    settings: Settings,
    known: KnownTypes,
    if_match: Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")] = None,
) -> WebhookEndpoint:
    """Change the URL, description, event filter, rate limit or headers; enable or disable."""
    token = body.concurrency_token or (if_match.strip('"') if if_match else None)
    return await service.update_endpoint(
        session, actor, keys, settings, known, endpoint_id, body, concurrency_token=token
    )


@router.delete("/{endpoint_id}", status_code=204, response_class=Response)
async def delete_webhook_endpoint(endpoint_id: UUID, session: SessionDep, actor: WebhooksWrite) -> None:
    """Delete an endpoint and its secrets; nothing more is delivered to it."""
    await service.delete(session, actor, endpoint_id)


@router.get("/{endpoint_id}/secret", response_model=SecretRead)
async def get_webhook_secret(endpoint_id: UUID, session: SessionDep, actor: WebhooksWrite, keys: KeysDep) -> SecretRead:
    """The current signing secret (needs webhooks:write: it lets its holder forge deliveries)."""
    return SecretRead(secret=await service.current_secret(session, actor, keys, endpoint_id))


@router.post("/{endpoint_id}/secret/rotate", response_model=SecretRead)
async def rotate_webhook_secret(
    endpoint_id: UUID, session: SessionDep, actor: WebhooksWrite, keys: KeysDep, settings: Settings
) -> SecretRead:
    """A new signing secret; the previous one keeps signing deliveries for 24 hours."""
    return SecretRead(secret=await service.rotate_secret(session, actor, keys, settings, endpoint_id))


@router.post("/{endpoint_id}/test", status_code=202, response_model=TestSent)
async def test_webhook_endpoint(
    endpoint_id: UUID, session: SessionDep, actor: WebhooksWrite, settings: Settings
) -> TestSent:
    """Send an example event (`webhookEndpoint.tested`) to this endpoint; it is delivered like any other."""
    event = await service.send_test(session, actor, settings, endpoint_id)
    return TestSent(event_id=event.event_id)


@router.post("/{endpoint_id}/recover", response_model=RecoverResult, responses=error_responses(*IDEMPOTENCY_ERRORS))
async def recover_webhook_endpoint(
    endpoint_id: UUID, body: RecoverRequest, session: SessionDep, actor: WebhooksWrite, settings: Settings
) -> RecoverResult:
    """Put every failed message of this endpoint since a time back on the retry schedule."""
    return RecoverResult(requeued=await service.recover(session, actor, settings, endpoint_id, body.since))


messages = APIRouter(
    prefix=f"{API_PREFIX}/webhook-messages",
    tags=["webhooks"],
    route_class=ApiRoute,
    responses=error_responses(MessageNotFound),
)


@messages.get("", response_model=Page[MessageRead])
async def list_webhook_messages(
    session: SessionDep,
    actor: WebhooksRead,
    paging: PagingDep,
    endpoint_id: Annotated[UUID | None, Query(alias="endpointId")] = None,
    event_type: Annotated[Text | None, Query(alias="eventType", max_length=100)] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Slice[MessageRead]:
    """Messages (one event to one endpoint), newest first; filter by endpoint, type, status."""
    return await service.list_messages(
        session, actor, paging, endpoint_id=endpoint_id, event_type=event_type, status=status
    )


@messages.get("/{message_id}", response_model=MessageDetail)
async def get_webhook_message(message_id: UUID, session: SessionDep, actor: WebhooksRead) -> MessageDetail:
    """One message with its payload and every attempt (status, duration, answer excerpt)."""
    return await service.get_message(session, actor, message_id)


@messages.post("/{message_id}/resend", status_code=202, response_class=Response)
async def resend_webhook_message(
    message_id: UUID, session: SessionDep, actor: WebhooksWrite, settings: Settings
) -> None:
    """Send this message to its endpoint once more, now (outside the retry schedule)."""
    await service.resend(session, actor, settings, message_id)
