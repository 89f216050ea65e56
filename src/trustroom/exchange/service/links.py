"""Access links: an invitation the provider sends to the client, used up once confirmed."""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import bind_tenant, cross_tenant, utcnow
from ...keys import ServerKeys
from ..models import AccessLink, ClientAccount, Exchange
from . import access

LINK_HASH = "exchange-link"
LINK_PATH = "/x/link/"


async def create(
    session: AsyncSession, actor: Actor, keys: ServerKeys, exchange_id: UUID, *, public_url: str, ttl_seconds: int
) -> tuple[str, AccessLink]:
    """A new link (earlier ones stay valid until used or expired); its URL exists only in this answer."""
    access.require_advisor_side(actor)
    exchange = await access.load_exchange(session, actor, exchange_id)
    token = secrets.token_urlsafe(32)
    link = AccessLink(
        tenant_id=actor.tenant_id,
        exchange_id=exchange.id,
        token_hash=keys.keyed_hash(LINK_HASH, token),
        created_by=actor.principal,
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )
    session.add(link)
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.link.created",
        target_type="exchange",
        target_id=exchange.id,
        data={"linkId": str(link.id), "expiresAt": link.expires_at.isoformat()},
    )
    return f"{public_url.rstrip('/')}{LINK_PATH}{token}", link


async def find_usable(session: AsyncSession, keys: ServerKeys, token: str) -> tuple[AccessLink, Exchange] | None:
    """The unused, unexpired link behind a token, with its exchange; reading it changes nothing."""
    async with cross_tenant(session):
        row = (
            await session.execute(
                select(AccessLink, Exchange)
                .join(Exchange, Exchange.id == AccessLink.exchange_id)
                .where(AccessLink.token_hash.in_(keys.keyed_hashes(LINK_HASH, token)))
            )
        ).one_or_none()
    if row is None:
        return None
    link, exchange = row
    if link.used_at is not None or link.expires_at <= utcnow():
        return None
    await bind_tenant(session, exchange.tenant_id)
    return link, exchange


async def account_of(session: AsyncSession, exchange: Exchange) -> ClientAccount:
    """The client account a link leads to (the session is bound to the link's tenant)."""
    account: ClientAccount | None = await session.scalar(
        select(ClientAccount).where(
            ClientAccount.tenant_id == exchange.tenant_id, ClientAccount.id == exchange.account_id
        )
    )
    assert account is not None, "an exchange's account goes with it"
    return account
