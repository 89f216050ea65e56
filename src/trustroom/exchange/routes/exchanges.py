"""Exchanges: create (with the client's account), read, change, delete, access links."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response

from ...actor import Actor, Scope
from ...clients.errors import AdvisorDisabled, AdvisorNotFound, ContactNotFound
from ...errors import ConcurrencyTokenMismatch, Forbidden
from ...http import (
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
from ...schemas import Page, Slice
from ...storage.deps import KeyringDep
from ..errors import (
    ContactEmailMissing,
    ContactMobileMissing,
    ExchangeNotFound,
    ExternalExchangeIdNotUnique,
    ExternalUserIdNotUnique,
    UsernameNotUnique,
)
from ..schemas import ExchangeCreate, ExchangeRead, ExchangeUpdate, LinkCreate, LinkRead, exchange_read
from ..service import exchanges, links

ExchangesRead = Annotated[Actor, require(Scope.EXCHANGES_READ)]
ExchangesWrite = Annotated[Actor, require(Scope.EXCHANGES_WRITE)]
IfMatch = Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")]

router = APIRouter(
    prefix=f"{API_PREFIX}/exchanges", tags=["secure exchange"], route_class=ApiRoute, responses=error_responses()
)


def token_from(body_token: str | None, if_match: str | None) -> str | None:
    return body_token or (if_match.strip('"') if if_match else None)


@router.post(
    "",
    status_code=201,
    response_model=ExchangeRead,
    dependencies=[IDEMPOTENT],
    responses=error_responses(
        UsernameNotUnique,
        ExternalUserIdNotUnique,
        ExternalExchangeIdNotUnique,
        ContactNotFound,
        ContactEmailMissing,
        ContactMobileMissing,
        AdvisorNotFound,
        AdvisorDisabled,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def create_exchange(
    body: ExchangeCreate, session: SessionDep, actor: ExchangesWrite, keyring: KeyringDep, response: Response
) -> ExchangeRead:
    """Create an exchange: the client's portal account, the room and the room's key. With
    `contactId`, the client's names, email and mobile default to the contact's verified
    details (what `client` gives wins) and the room starts with a Documents folder."""
    exchange = await exchanges.create(session, actor, keyring, body)
    _, account = await exchanges.get(session, actor, exchange.id)
    response.headers["Location"] = f"{API_PREFIX}/exchanges/{exchange.id}"
    response.headers["ETag"] = f'"{exchange.concurrency_token}"'
    return exchange_read(exchange, account)


@router.get("", response_model=Page[ExchangeRead])
async def list_exchanges(session: SessionDep, actor: ExchangesRead, paging: PagingDep) -> Slice[ExchangeRead]:
    """The exchanges you may see (apps and admins: all of the tenant's; a member: those whose
    contact they see or that they own, with their team's), newest first by default."""
    found = await exchanges.list_exchanges(session, actor, paging)
    return paging.page_of([exchange_read(e, a) for e, a in found.items], found.total_count)


@router.get(
    "/by-external-id/{external_exchange_id}",
    response_model=ExchangeRead,
    responses=error_responses(ExchangeNotFound),
)
async def get_exchange_by_external_id(
    external_exchange_id: str, session: SessionDep, actor: ExchangesRead, response: Response
) -> ExchangeRead:
    """The exchange with your externalExchangeId."""
    exchange, account = await exchanges.get_by_external_id(session, actor, external_exchange_id)
    response.headers["ETag"] = f'"{exchange.concurrency_token}"'
    return exchange_read(exchange, account)


@router.get("/{exchange_id}", response_model=ExchangeRead, responses=error_responses(ExchangeNotFound))
async def get_exchange(
    exchange_id: UUID, session: SessionDep, actor: ExchangesRead, response: Response
) -> ExchangeRead:
    """One exchange (never the client's password)."""
    exchange, account = await exchanges.get(session, actor, exchange_id)
    response.headers["ETag"] = f'"{exchange.concurrency_token}"'
    return exchange_read(exchange, account)


@router.patch(
    "/{exchange_id}",
    response_model=ExchangeRead,
    responses=error_responses(ExchangeNotFound, ConcurrencyTokenMismatch, AdvisorNotFound, AdvisorDisabled),
)
async def update_exchange(
    exchange_id: UUID,
    body: ExchangeUpdate,
    session: SessionDep,
    actor: ExchangesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> ExchangeRead:
    """Change the name, description, client language, advisor card or owner; fields left out stay."""
    token = token_from(body.concurrency_token, if_match)
    exchange, account = await exchanges.update(session, actor, exchange_id, body, concurrency_token=token)
    response.headers["ETag"] = f'"{exchange.concurrency_token}"'
    return exchange_read(exchange, account)


@router.delete("/{exchange_id}", status_code=204, response_class=Response, responses=error_responses(ExchangeNotFound))
async def delete_exchange(exchange_id: UUID, session: SessionDep, actor: ExchangesWrite, keyring: KeyringDep) -> None:
    """Delete the exchange and its client account; its key is destroyed, so its documents
    can never be read again (backups included)."""
    await exchanges.delete(session, actor, keyring, exchange_id)


@router.post(
    "/{exchange_id}/link",
    status_code=201,
    response_model=LinkRead,
    responses=error_responses(ExchangeNotFound, Forbidden),
)
async def create_link(
    exchange_id: UUID,
    session: SessionDep,
    actor: ExchangesWrite,
    keys: KeysDep,
    settings: SettingsDep,
    body: LinkCreate | None = None,
) -> LinkRead:
    """A one-time link for the client: it leads to the sign-in with password and code."""
    ttl = (body.expires_in if body else None) or settings.exchange.link_ttl_seconds
    url, link = await links.create(session, actor, keys, exchange_id, public_url=settings.public_url, ttl_seconds=ttl)
    return LinkRead(url=url, expires_at=link.expires_at)
