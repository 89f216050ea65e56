"""Who reaches which exchange, and which documents of it.

Apps and members holding the exchange scopes (checked by the routes) act for the advisor
side. Apps (without an acting member) and admins reach every exchange of their tenant; any
other member reaches an exchange whose contact they see or that they own, through the
member hierarchy as with contacts (`clients.service.access.follows_contact`); any other
exchange answers 404, with everything in it. A client reaches only the exchange of their
own account and acts for the client side. Each side sees its own documents and the other
side's shared ones; nothing says whether an unshared document of the other side exists.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...auth.models import ApiKey, Member
from ...clients.service import access as client_access
from ...db import scoped
from ...errors import Forbidden
from ..errors import ExchangeNotFound, FolderNotFound
from ..models import ClientAccount, Document, Exchange, Folder, Side


def side_of(actor: Actor) -> Side:
    return Side.CLIENT if actor.kind is ActorKind.CLIENT else Side.ADVISOR


def require_advisor_side(actor: Actor) -> None:
    """Room structure (folders) and access links are the provider's to manage."""
    if side_of(actor) is not Side.ADVISOR:
        raise Forbidden()


def visible_exchanges(actor: Actor) -> Any:
    """A condition on `Exchange` keeping the exchanges the actor may reach."""
    if actor.kind is ActorKind.CLIENT:
        return Exchange.account_id == actor.id
    return client_access.follows_contact(actor, Exchange.contact_id, Exchange.owner_member_id)


def visible_documents(actor: Actor) -> Any:
    return or_(Document.side == side_of(actor), Document.shared_at.is_not(None))


async def load_exchange(
    session: AsyncSession, actor: Actor, exchange_id: UUID, *, for_update: bool = False
) -> Exchange:
    stmt = scoped(select(Exchange), actor).where(Exchange.id == exchange_id, visible_exchanges(actor))
    if for_update:
        stmt = stmt.with_for_update()
    exchange: Exchange | None = await session.scalar(stmt)
    if exchange is None:
        raise ExchangeNotFound()
    return exchange


async def load_folder(session: AsyncSession, actor: Actor, exchange: Exchange, folder_id: UUID) -> Folder:
    folder: Folder | None = await session.scalar(
        scoped(select(Folder), actor).where(Folder.id == folder_id, Folder.exchange_id == exchange.id)
    )
    if folder is None:
        raise FolderNotFound()
    return folder


async def account_of(session: AsyncSession, actor: Actor, exchange: Exchange) -> ClientAccount:
    account: ClientAccount | None = await session.scalar(
        scoped(select(ClientAccount), actor).where(ClientAccount.id == exchange.account_id)
    )
    assert account is not None, "an exchange's account goes with it"
    return account


def client_name(account: ClientAccount) -> str:
    return " ".join(filter(None, (account.first_name, account.last_name))) or account.username


async def actor_name(session: AsyncSession, actor: Actor) -> str:
    """How the other side sees who did something: a member's or client's name, an app's key name."""
    if actor.kind is ActorKind.MEMBER:
        name = await session.scalar(scoped(select(Member.display_name), actor).where(Member.id == actor.id))
    elif actor.kind is ActorKind.APP:
        name = await session.scalar(scoped(select(ApiKey.name), actor).where(ApiKey.id == actor.api_key_id))
    elif actor.kind is ActorKind.CLIENT:
        account = await session.scalar(scoped(select(ClientAccount), actor).where(ClientAccount.id == actor.id))
        name = client_name(account) if account else None
    else:
        name = None
    return name or str(actor.kind)
