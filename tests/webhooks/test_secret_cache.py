"""A worker's cache of endpoint secrets: served from memory while nothing changed, and read
afresh after any change to `webhook_secrets`, whoever made it (the API, or SQL behind the
app's back), because a database trigger bumps its generation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest
from sqlalchemy import update

from trustroom.db import Database, bind_tenant, utcnow
from trustroom.generations import Generations
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks.models import WebhookEndpoint, WebhookSecret
from trustroom.webhooks.secret_cache import SecretCache, secret_cache_of

from ..factories import TenantFixture
from ..helpers import sql_statements

URL = "https://hooks.bank.example/trustroom"


@pytest.fixture
async def cache(settings: Settings) -> AsyncIterator[SecretCache]:
    async with secret_cache_of(settings.resolved_database_url)() as made:
        yield made


def _secret_reads(statement: str) -> bool:
    return "FROM webhook_secrets" in statement


async def test_secrets_come_from_the_cache_until_a_secret_changes(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture, cache: SecretCache
) -> None:
    created = (await client.post("/api/v1/webhook-endpoints", json={"url": URL}, headers=tenant.headers)).json()
    with sql_statements(database, _secret_reads) as reads:

        async def signing() -> list[str]:
            async with database.session(write=False) as session:
                await bind_tenant(session, tenant.id)
                endpoint = await session.get(WebhookEndpoint, UUID(created["id"]))
                assert endpoint is not None
                return (await cache.signing_secrets(session, keys, [endpoint]))[endpoint.id]

        assert await signing() == [created["secret"]]
        assert await signing() == [created["secret"]]
        assert len(reads) == 1  # the second came from memory

        rotated = await client.post(f"/api/v1/webhook-endpoints/{created['id']}/secret/rotate", headers=tenant.headers)
        new = rotated.json()["secret"]
        assert await signing() == [new, created["secret"]]  # the insert of the new secret counted
        assert len(reads) == 2

        async with database.session() as session:  # the overlap ends, in SQL behind the app's back
            await bind_tenant(session, tenant.id)
            await session.execute(
                update(WebhookSecret)
                .where(WebhookSecret.expires_at.is_not(None), WebhookSecret.tenant_id == tenant.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        assert await signing() == [new]
        assert len(reads) == 3

        await client.delete(f"/api/v1/webhook-endpoints/{created['id']}", headers=tenant.headers)
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            gone = WebhookEndpoint(id=UUID(created["id"]), tenant_id=tenant.id, url=URL)
            assert (await cache.signing_secrets(session, keys, [gone]))[gone.id] == []


async def test_an_ending_secret_is_dropped_on_use_and_nothing_is_cached_without_a_generation(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    created = (await client.post("/api/v1/webhook-endpoints", json={"url": URL}, headers=tenant.headers)).json()
    await client.post(f"/api/v1/webhook-endpoints/{created['id']}/secret/rotate", headers=tenant.headers)
    generations = Generations(settings.resolved_database_url)
    cache = SecretCache(generations)
    with sql_statements(database, _secret_reads) as reads:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            endpoint = await session.get(WebhookEndpoint, UUID(created["id"]))
            assert endpoint is not None
            assert len((await cache.signing_secrets(session, keys, [endpoint]))[endpoint.id]) == 2
            # The overlap's end passes while the entry sits in the cache: the old secret stops signing.
            cached = cache._entries.lookup_at((tenant.id, endpoint.id), cache._entries._generation)
            assert cached is not None
            cache._entries._entries[(tenant.id, endpoint.id)] = ((cached[0][0], None), (cached[1][0], utcnow()))
            assert len((await cache.signing_secrets(session, keys, [endpoint]))[endpoint.id]) == 1
            assert len(reads) == 1
            # No readable generation: every call reads the database.
            await generations.close()
            generations._sqlite_path = generations._sqlite_path + ".missing"
            generations._conninfo = "postgresql://nobody@127.0.0.1:1/none"
            for _ in range(2):
                assert len((await cache.signing_secrets(session, keys, [endpoint]))[endpoint.id]) == 2
            assert len(reads) == 3
        await generations.close()
