"""API keys: random, shown once, stored as keyed hashes, scoped, expiring, revocable."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, Scope
from ...audit import service as audit
from ...db import cross_tenant, paginate, scoped, utcnow
from ...generations import GenerationCache
from ...jobs import service as jobs
from ...keys import ServerKeys
from ...schemas import Paging, Slice, SortOrder
from .. import events
from ..errors import ApiKeyExpired, ApiKeyNotFound, ApiKeyRevoked, InvalidApiKey, ScopeNotGrantable
from ..models import ApiKey, Tenant

KEY_PREFIX = "trk_"
HASH_PURPOSE = "api-key"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def _new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def issue(
    session: AsyncSession,
    tenant_id: UUID,
    keys: ServerKeys,
    *,
    name: str,
    scopes: Iterable[str],
    expires_in: int | None,
) -> IssuedKey:
    """Create a key; callers check who may grant which scopes."""
    secret = _new_secret()
    api_key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        key_hash=keys.keyed_hash(HASH_PURPOSE, secret),
        secret_id=keys.secret_id,
        scopes=sorted({str(Scope(s)) for s in scopes}),
        expires_at=utcnow() + timedelta(seconds=expires_in) if expires_in else None,
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(api_key, secret)


async def create(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    *,
    name: str,
    scopes: Iterable[str],
    expires_in: int | None = None,
) -> IssuedKey:
    """Create a key for the actor's tenant; nobody grants a scope they do not hold."""
    wanted = sorted({str(s) for s in scopes})
    for scope in wanted:
        if not actor.can(scope):
            raise ScopeNotGrantable(scope=scope)
    issued = await issue(session, actor.tenant_id, keys, name=name, scopes=wanted, expires_in=expires_in)
    await audit.record(
        session,
        actor,
        "auth.api_key.created",
        target_type="api_key",
        target_id=issued.api_key.id,
        data={"name": name, "scopes": wanted, "expiresIn": expires_in},
    )
    event = {"api_key_id": issued.api_key.id, "name": name, "scopes": wanted}
    await jobs.emit(session, events.API_KEY_CREATED, event, tenant_id=actor.tenant_id)
    return issued


async def get(session: AsyncSession, actor: Actor, api_key_id: UUID) -> ApiKey:
    api_key: ApiKey | None = await session.scalar(scoped(select(ApiKey), actor).where(ApiKey.id == api_key_id))
    if api_key is None:
        raise ApiKeyNotFound()
    return api_key


async def list_keys(session: AsyncSession, actor: Actor, paging: Paging) -> Slice[ApiKey]:
    order = ApiKey.id.asc() if paging.sort_order is SortOrder.ASCENDING else ApiKey.id.desc()
    return await paginate(session, scoped(select(ApiKey), actor), paging, order)


async def revoke(session: AsyncSession, actor: Actor, api_key_id: UUID) -> ApiKey:
    api_key = await get(session, actor, api_key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        await audit.record(session, actor, "auth.api_key.revoked", target_type="api_key", target_id=api_key.id)
        await jobs.emit(session, events.API_KEY_REVOKED, {"api_key_id": api_key.id}, tenant_id=actor.tenant_id)
    return api_key


@cache
def _key_with_tenant() -> Select[*tuple[Any, ...]]:
    # Every cache miss runs this. Built once (no construction or cache-key cost per call) and
    # Core columns, not ORM entities: the grant is a snapshot, no identity map is needed.
    return (
        select(
            ApiKey.id,
            ApiKey.tenant_id,
            ApiKey.scopes,
            ApiKey.expires_at,
            ApiKey.revoked_at,
            ApiKey.last_used_at,
            ApiKey.key_hash,
            ApiKey.secret_id,
            Tenant.default_language,
        )
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash.in_(bindparam("key_hashes", expanding=True)))
    )


@dataclass(frozen=True)
class KeyGrant:
    """What a request needs of a live key and its tenant: a snapshot safe to share across requests."""

    id: UUID
    tenant_id: UUID
    scopes: frozenset[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    tenant_language: str

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()


@dataclass(frozen=True)
class Authenticated:
    grant: KeyGrant
    # The AUTH generation the grant was checked under (None: not cached), for related caches.
    generation: int | None
    # Set when the key was hashed under an older server secret: its hash under the current one.
    rehash: str | None


# Keyed hash of a presented key -> its grant; invalidated by generation AUTH (ADR 0012).
KeyCache = GenerationCache[str, KeyGrant]


async def authenticate(
    session: AsyncSession, keys: ServerKeys, presented: str, cache: KeyCache | None = None
) -> Authenticated:
    """Find the key behind a presented secret, across tenants; it must be live.

    A live key found is cached under its current keyed hash; a hit is checked for expiry
    here, and revocation or any change to the key or its tenant moves the generation,
    which empties the cache before the next lookup in every process.
    """
    if not presented.startswith(KEY_PREFIX):
        raise InvalidApiKey()
    candidates = keys.keyed_hashes(HASH_PURPOSE, presented)
    generation = None
    if cache is not None:
        grant, generation = await cache.lookup(candidates[0])
        if grant is not None:
            if grant.expired():
                raise ApiKeyExpired()
            return Authenticated(grant, generation, None)
    async with cross_tenant(session):
        row = (await session.execute(_key_with_tenant(), {"key_hashes": candidates})).one_or_none()
    if row is None:
        raise InvalidApiKey()
    if row.revoked_at is not None:
        raise ApiKeyRevoked()
    grant = KeyGrant(
        row.id, row.tenant_id, frozenset(row.scopes), row.expires_at, row.last_used_at, row.default_language
    )
    if grant.expired():
        raise ApiKeyExpired()
    current = row.key_hash == candidates[0] and row.secret_id == keys.secret_id
    if not current:
        # Not cached until the usage recorder has stored the current hash (that bumps the
        # generation anyway), so the rehash is noted on each use until then.
        return Authenticated(grant, generation, candidates[0])
    if cache is not None:
        cache.store(candidates[0], grant, generation)
    return Authenticated(grant, generation, None)
