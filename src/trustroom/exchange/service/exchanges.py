"""Creating, reading, changing and deleting exchanges (with their client accounts)."""

from __future__ import annotations

from uuid import UUID

import anyio
from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ... import i18n
from ...actor import Actor
from ...audit import service as audit
from ...auth.service.members import password_hasher
from ...clients.models import RecordKind
from ...clients.service import access as client_access
from ...clients.service import advisors, cards
from ...db import paginate, scoped, utcnow, uuid7
from ...errors import N_, ConcurrencyTokenMismatch
from ...jobs import service as jobs
from ...schemas import Paging, Slice, SortOrder
from ...storage import service as storage
from ...storage.keyring import Keyring
from .. import events
from ..errors import (
    ContactEmailMissing,
    ContactMobileMissing,
    ExchangeNotFound,
    ExternalExchangeIdNotUnique,
    ExternalUserIdNotUnique,
    UsernameNotUnique,
)
from ..models import ClientAccount, Document, DocumentVersion, Exchange
from ..schemas import AdvisorPerson, ClientPerson, ExchangeCreate, ExchangeUpdate
from . import access, folders

# The folder an exchange made from a contact starts with, so there is somewhere to upload.
DEFAULT_FOLDER = N_("Documents")


async def _check_unique(session: AsyncSession, actor: Actor, body: ExchangeCreate) -> None:
    taken = scoped(select(ClientAccount.id), actor)
    if await session.scalar(taken.where(ClientAccount.username == body.username)):
        raise UsernameNotUnique()
    if await session.scalar(taken.where(ClientAccount.external_user_id == body.external_user_id)):
        raise ExternalUserIdNotUnique()
    room = scoped(select(Exchange.id), actor).where(Exchange.external_exchange_id == body.external_exchange_id)
    if await session.scalar(room):
        raise ExternalExchangeIdNotUnique()


def _set_advisor(exchange: Exchange, advisor: AdvisorPerson | None) -> None:
    advisor = advisor or AdvisorPerson()
    exchange.advisor_first_name = advisor.first_name
    exchange.advisor_last_name = advisor.last_name
    exchange.advisor_email = str(advisor.email) if advisor.email else None
    exchange.advisor_mobile_number = advisor.mobile_number


def _event(exchange: Exchange, actor: Actor) -> events.ExchangeChanged:
    return events.ExchangeChanged(
        exchange_id=exchange.id,
        external_exchange_id=exchange.external_exchange_id,
        contact_id=exchange.contact_id,
        owner_member_id=exchange.owner_member_id,
        by=actor.principal,
    )


async def _owner(session: AsyncSession, actor: Actor, owner_member_id: UUID | None) -> UUID | None:
    """The given owner (an active member; naming another member needs contacts:assign), else
    the acting member."""
    if owner_member_id is None or owner_member_id == actor.member_id:
        return actor.member_id if owner_member_id is None else owner_member_id
    advisors.require_assign(actor)
    await advisors.check_members(session, actor, [owner_member_id])
    return owner_member_id


async def _client_card(session: AsyncSession, actor: Actor, body: ExchangeCreate) -> ClientPerson:
    """The client's card: what the body gives, the rest from the contact's verified details."""
    given = body.client or ClientPerson()
    if body.contact_id is None:
        return given
    record = await client_access.load(session, actor, RecordKind.CONTACT, body.contact_id)
    card = await cards.card(session, actor, record)
    email = given.email or card.email
    mobile = given.mobile_number or card.mobile_number
    if not email:
        raise ContactEmailMissing()
    if not mobile:
        raise ContactMobileMissing()
    return ClientPerson.model_construct(
        first_name=given.first_name or (card.first_name or "")[:64] or None,
        last_name=given.last_name or (card.last_name or "")[:64] or None,
        email=email,
        mobile_number=mobile,
    )


async def create(session: AsyncSession, actor: Actor, keyring: Keyring, body: ExchangeCreate) -> Exchange:
    """The client's account, the room and the room's key, in one transaction; from a contact,
    also the client's card (ClientPerson) and a first folder."""
    person = await _client_card(session, actor, body)
    owner_member_id = await _owner(session, actor, body.owner_member_id)
    await _check_unique(session, actor, body)
    # argon2id takes a good part of a second of CPU by design: not on the event loop.
    password_hash = await anyio.to_thread.run_sync(password_hasher.hash, body.password)
    account = ClientAccount(
        id=uuid7(),
        tenant_id=actor.tenant_id,
        username=body.username,
        external_user_id=body.external_user_id,
        language=body.language_code.lower(),
        password_hash=password_hash,
        first_name=person.first_name,
        last_name=person.last_name,
        email=str(person.email),
        mobile_number=person.mobile_number,
    )
    exchange = Exchange(
        id=uuid7(),
        tenant_id=actor.tenant_id,
        account_id=account.id,
        external_exchange_id=body.external_exchange_id,
        name=body.name,
        description=body.description,
        contact_id=body.contact_id,
        owner_member_id=owner_member_id,
        created_by=actor.principal,
    )
    _set_advisor(exchange, body.advisor)
    session.add(account)
    session.add(exchange)
    await session.flush()
    await keyring.current(session, actor.tenant_id, exchange.kek_purpose)
    await audit.record(
        session,
        actor,
        "exchange.created",
        target_type="exchange",
        target_id=exchange.id,
        data={
            "externalExchangeId": exchange.external_exchange_id,
            "accountId": str(account.id),
            "contactId": str(exchange.contact_id) if exchange.contact_id else None,
            "ownerMemberId": str(owner_member_id) if owner_member_id else None,
        },
    )
    await jobs.emit(session, events.EXCHANGE_CREATED, _event(exchange, actor), tenant_id=actor.tenant_id)
    if body.contact_id is not None:
        # Named in the client's language: it is their room.
        name = i18n.translations(account.language).gettext(DEFAULT_FOLDER)
        await folders.create(session, actor, exchange.id, name, None)
    return exchange


async def get(session: AsyncSession, actor: Actor, exchange_id: UUID) -> tuple[Exchange, ClientAccount]:
    exchange = await access.load_exchange(session, actor, exchange_id)
    return exchange, await access.account_of(session, actor, exchange)


async def get_by_external_id(
    session: AsyncSession, actor: Actor, external_exchange_id: str
) -> tuple[Exchange, ClientAccount]:
    found = await session.scalar(
        scoped(select(Exchange.id), actor).where(
            Exchange.external_exchange_id == external_exchange_id, access.visible_exchanges(actor)
        )
    )
    if found is None:
        raise ExchangeNotFound()
    return await get(session, actor, found)


async def list_exchanges(session: AsyncSession, actor: Actor, paging: Paging) -> Slice[tuple[Exchange, ClientAccount]]:
    order = Exchange.id.asc() if paging.sort_order is SortOrder.ASCENDING else Exchange.id.desc()
    visible = scoped(select(Exchange), actor).where(access.visible_exchanges(actor))
    counted = await paginate(session, visible, paging, order)
    exchanges: list[Exchange] = counted.items
    accounts = {
        account.id: account
        for account in await session.scalars(
            scoped(select(ClientAccount), actor).where(ClientAccount.id.in_([e.account_id for e in exchanges]))
        )
    }
    return paging.page_of([(e, accounts[e.account_id]) for e in exchanges], counted.total_count)


async def update(
    session: AsyncSession, actor: Actor, exchange_id: UUID, body: ExchangeUpdate, *, concurrency_token: str | None
) -> tuple[Exchange, ClientAccount]:
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    ConcurrencyTokenMismatch.check(concurrency_token, exchange.concurrency_token)
    account = await access.account_of(session, actor, exchange)
    given = body.model_fields_set
    before = (exchange.name, exchange.description, account.language, _card(exchange), exchange.owner_member_id)
    if "name" in given and body.name is not None:
        exchange.name = body.name
    if "description" in given:
        exchange.description = body.description
    if "language_code" in given and body.language_code is not None:
        account.language = body.language_code.lower()
    if "advisor" in given:
        _set_advisor(exchange, body.advisor)
    if "owner_member_id" in given and body.owner_member_id != exchange.owner_member_id:
        if body.owner_member_id is None:
            advisors.require_assign(actor)
        exchange.owner_member_id = await _owner(session, actor, body.owner_member_id)
    after = (exchange.name, exchange.description, account.language, _card(exchange), exchange.owner_member_id)
    if after == before:
        return exchange, account
    labels = ("name", "description", "languageCode", "advisor", "ownerMemberId")
    changed = [label for label, old, new in zip(labels, before, after, strict=True) if old != new]
    # The language lives on the account: a change to it alone must still move the token.
    exchange.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session, actor, "exchange.updated", target_type="exchange", target_id=exchange.id, data={"changed": changed}
    )
    await jobs.emit(session, events.EXCHANGE_UPDATED, _event(exchange, actor), tenant_id=actor.tenant_id)
    return exchange, account


def _card(exchange: Exchange) -> tuple[str | None, ...]:
    return (
        exchange.advisor_first_name,
        exchange.advisor_last_name,
        exchange.advisor_email,
        exchange.advisor_mobile_number,
    )


async def delete(session: AsyncSession, actor: Actor, keyring: Keyring, exchange_id: UUID) -> None:
    """Crypto-shred the room: its KEK is destroyed in this transaction, so from its commit
    on no copy of the content (backups included) can be opened; rows go with it, files after."""
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    blob_ids = list(
        await session.scalars(
            scoped(select(DocumentVersion.blob_id), actor)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.exchange_id == exchange.id)
        )
    )
    await keyring.destroy(session, actor.tenant_id, exchange.kek_purpose)
    event = _event(exchange, actor)
    # The account takes its exchange with it (ON DELETE CASCADE), and the exchange its
    # folders, documents, versions, links; the client's sessions go with the account.
    await session.execute(scoped(delete_rows(ClientAccount), actor).where(ClientAccount.id == exchange.account_id))
    session.expunge(exchange)
    await storage.discard(session, actor.tenant_id, blob_ids)
    await audit.record(
        session,
        actor,
        "exchange.deleted",
        target_type="exchange",
        target_id=exchange_id,
        data={"externalExchangeId": event.external_exchange_id, "documentVersions": len(blob_ids)},
    )
    await jobs.emit(session, events.EXCHANGE_DELETED, event, tenant_id=actor.tenant_id)


async def of_client(session: AsyncSession, actor: Actor) -> Exchange:
    """The one exchange a signed-in client's account belongs to."""
    exchange: Exchange | None = await session.scalar(
        scoped(select(Exchange), actor).where(Exchange.account_id == actor.id)
    )
    if exchange is None:
        raise ExchangeNotFound()
    return exchange
