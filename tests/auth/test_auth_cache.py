"""The per-process authentication cache: served from memory, emptied by database triggers (ADR 0012).

Changes here are made with plain SQL on a connection of the test's own, as another process
(the CLI, a second server) would: only the triggers can tell this app's cache about them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update

from trustroom.auth.models import ApiKey, Member, Role, Tenant
from trustroom.auth.service import api_keys
from trustroom.db import Database, cross_tenant, utcnow
from trustroom.generations import AUTH, Generations
from trustroom.keys import ServerKeys

from ..factories import TenantFixture, make_api_key, make_member
from ..helpers import sql_statements

MEMBERS = "/api/v1/members?pageSize=10"


async def _generation(database: Database) -> int:
    async with database.session(write=False) as session:
        value = await session.scalar(text("SELECT value FROM cache_generations WHERE name = :n"), {"n": AUTH})
    assert value is not None
    return int(value)


async def _change(database: Database, statement: Any) -> None:
    async with database.session() as session:
        async with cross_tenant(session):
            await session.execute(statement)
        await session.commit()


async def test_a_key_is_served_from_the_cache_until_it_changes(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    secret = await make_api_key(database, keys, tenant.id, ["members:read"])
    headers = {"Authorization": f"Bearer {secret}"}
    cache = app.state.auth_caches.keys
    key_hash = keys.keyed_hash("api-key", secret)
    assert (await client.get(MEMBERS, headers=headers)).status_code == 200
    grant, _generation_read = await cache.lookup(key_hash)
    assert grant is not None and grant.scopes == {"members:read"}

    # Bookkeeping (last-used times) leaves the generation, and so the cache, alone.
    before = await _generation(database)
    await _change(database, update(ApiKey).where(ApiKey.key_hash == key_hash).values(last_used_at=utcnow()))
    assert await _generation(database) == before
    assert (await cache.lookup(key_hash))[0] is grant

    # Revoked behind the app's back: the trigger moves the generation, the next request fails.
    await _change(database, update(ApiKey).where(ApiKey.key_hash == key_hash).values(revoked_at=utcnow()))
    assert await _generation(database) == before + 1
    refused = await client.get(MEMBERS, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["subCode"] == "ApiKeyRevoked"


async def test_expiry_is_enforced_on_a_cache_hit(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = await make_api_key(database, keys, tenant.id, ["members:read"], expires_in=60)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get(MEMBERS, headers=headers)).status_code == 200
    generation = await _generation(database)
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(api_keys, "utcnow", lambda: later)
    refused = await client.get(MEMBERS, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["subCode"] == "ApiKeyExpired"
    # Nothing moved the generation: the refusal came from the cached entry's expiry.
    assert await _generation(database) == generation
    assert (await app.state.auth_caches.keys.lookup(keys.keyed_hash("api-key", secret)))[0] is not None


async def test_acting_members_follow_role_changes_and_deactivation(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    admin = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    headers = {**tenant.headers, "X-Acting-Member": admin.member.email}
    assert (await client.get("/api/v1/api-keys", headers=headers)).status_code == 200

    await _change(database, update(Member).where(Member.id == admin.member.id).values(role=Role.REVIEWER))
    demoted = await client.get("/api/v1/api-keys", headers=headers)
    assert demoted.status_code == 403
    assert demoted.json()["subCode"] == "MissingScope"
    assert (await client.get(MEMBERS, headers=headers)).status_code == 200

    await _change(database, update(Member).where(Member.id == admin.member.id).values(disabled_at=utcnow()))
    disabled = await client.get(MEMBERS, headers=headers)
    assert disabled.status_code == 400
    assert disabled.json()["subCode"] == "ActingMemberUnknown"


async def test_the_tenant_language_follows_a_change(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    missing = f"/api/v1/members/{uuid4()}"
    english = (await client.get(missing, headers=tenant.headers)).json()["detail"]
    await _change(database, update(Tenant).where(Tenant.id == tenant.id).values(default_language="de"))
    german = (await client.get(f"{missing}?language=de", headers=tenant.headers)).json()["detail"]
    assert german != english
    assert (await client.get(missing, headers=tenant.headers)).json()["detail"] == german


async def test_an_unreadable_generation_bypasses_the_cache(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    secret = await make_api_key(database, keys, tenant.id, ["members:read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get(MEMBERS, headers=headers)).status_code == 200
    generations: Generations = app.state.generations

    async def unreadable() -> None:
        return None

    original = generations.read
    generations.read = unreadable  # type: ignore[method-assign]
    try:
        assert (await client.get(MEMBERS, headers=headers)).status_code == 200
        assert len(app.state.auth_caches.keys) == 0  # dropped, not trusted
        key_hash = keys.keyed_hash("api-key", secret)
        await _change(database, update(ApiKey).where(ApiKey.key_hash == key_hash).values(revoked_at=utcnow()))
        assert (await client.get(MEMBERS, headers=headers)).status_code == 401
    finally:
        generations.read = original  # type: ignore[method-assign]


async def test_a_request_refused_from_the_cache_runs_no_statement(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    secret = await make_api_key(database, keys, tenant.id, ["members:read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get(MEMBERS, headers=headers)).status_code == 200
    with sql_statements(app.state.database) as statements:
        # Authenticated from the cache, refused by the scope check: no BEGIN, no COMMIT/ROLLBACK.
        refused = await client.get("/api/v1/api-keys", headers=headers)
        assert refused.status_code == 403
        assert statements == []
        assert (await client.get(MEMBERS, headers=headers)).status_code == 200
        assert statements  # the page itself is read from the database
