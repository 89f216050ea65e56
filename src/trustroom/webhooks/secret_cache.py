"""Endpoints' signing secrets, kept per worker process.

Unsealing a secret costs a query and a decryption per delivery group; the secrets change
rarely (creation, rotation, the overlap's end, a re-seal, deletion). Triggers on
`webhook_secrets` bump the generation `webhook_secrets` in the same transaction as any such
change, also an insert (a rotation adds the new current secret), and every lookup reads the
generation first (ADR 0012): a rotation committed before a delivery group is read is seen
by that group in every process. A secret whose overlap ends meanwhile is dropped on use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from functools import cache
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..generations import WEBHOOK_SECRETS, GenerationCache, Generations
from ..keys import ServerKeys
from . import service

Entries = tuple[tuple[str, datetime | None], ...]


class SecretCache:
    def __init__(self, generations: Generations) -> None:
        self.generations = generations
        # Keyed by tenant and endpoint: an entry was read for that pair only.
        self._entries: GenerationCache[tuple[UUID, UUID], Entries] = GenerationCache(WEBHOOK_SECRETS, generations)

    async def signing_secrets(
        self, session: AsyncSession, keys: ServerKeys, endpoints: Collection[service.EndpointKey]
    ) -> dict[UUID, list[str]]:
        """As `service.signing_secrets`, from the cache where it is current."""
        values = await self.generations.read()  # before any database read (GenerationCache)
        generation = None if values is None else values.get(WEBHOOK_SECRETS)
        entries: dict[UUID, Entries] = {}
        missing = []
        for endpoint in endpoints:
            cached = self._entries.lookup_at((endpoint.tenant_id, endpoint.id), generation)
            if cached is None:
                missing.append(endpoint)
            else:
                entries[endpoint.id] = cached
        if missing:
            read = await service.secret_entries(session, keys, missing)
            for endpoint in missing:
                entries[endpoint.id] = tuple(read[endpoint.id])
                self._entries.store((endpoint.tenant_id, endpoint.id), entries[endpoint.id], generation)
        now = utcnow()
        return {
            endpoint_id: [secret for secret, ends in found if ends is None or ends > now]
            for endpoint_id, found in entries.items()
        }


@cache
def secret_cache_of(database_url: str) -> Callable[[], AbstractAsyncContextManager[SecretCache]]:
    """The factory of a worker's cache for one database, the same object for the same URL,
    so `Resources.get` makes one cache per worker and closes it when the worker stops."""

    @asynccontextmanager
    async def make() -> AsyncIterator[SecretCache]:
        generations = Generations(database_url)
        try:
            yield SecretCache(generations)
        finally:
            await generations.close()

    return make
