"""API keys: shown once, stored hashed, scoped, expiring, revocable, last use recorded."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text

from trustroom.auth.models import ApiKey
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys

from ..factories import TenantFixture, make_api_key


async def test_create_shows_the_key_once_and_stores_only_a_hash(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "CRM", "scopes": ["contacts:read", "contacts:write"], "expiresIn": 3600},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    created = response.json()
    secret = created["key"]
    assert secret.startswith("trk_") and created["prefix"] == secret[:12]
    assert created["expiresAt"] is not None

    fetched = (await client.get(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)).json()
    assert "key" not in fetched
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()
    assert {k["id"] for k in listed["items"]} == {created["id"], str(tenant.api_key_id)}
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        dump = (await session.execute(text("SELECT * FROM api_keys"))).all()
    assert secret not in repr(dump)

    works = await client.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {secret}"})
    assert works.status_code == 403  # the new key only holds contacts scopes
    assert works.json()["subCode"] == "MissingScope"


async def test_nobody_grants_a_scope_they_do_not_hold(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    limited = await make_api_key(database, keys, tenant.id, ["api-keys:write", "contacts:read"])
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "escalate", "scopes": ["members:write"]},
        headers={"Authorization": f"Bearer {limited}"},
    )
    assert response.status_code == 403
    assert response.json()["subCode"] == "ScopeNotGrantable"


async def test_revoked_key_stops_working(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = (
        await client.post("/api/v1/api-keys", json={"name": "tmp", "scopes": ["members:read"]}, headers=tenant.headers)
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/api/v1/members", headers=headers)).status_code == 200

    assert (await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)).status_code == 204
    refused = await client.get("/api/v1/members", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["subCode"] == "ApiKeyRevoked"
    again = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert again.status_code == 204


async def test_expired_and_unknown_keys_are_refused(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    expiring = await make_api_key(database, keys, tenant.id, ["members:read"], expires_in=60)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(
            text("UPDATE api_keys SET expires_at = created_at WHERE key_hash = :h"),
            {"h": keys.keyed_hash("api-key", expiring)},
        )
        await session.commit()
    expired = await client.get("/api/v1/members", headers={"Authorization": f"Bearer {expiring}"})
    assert expired.status_code == 401
    assert expired.json()["subCode"] == "ApiKeyExpired"

    for header in (
        {"Authorization": "Bearer trk_nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer x"},
    ):
        response = await client.get("/api/v1/members", headers=header)
        assert response.status_code == 401
        assert response.json()["subCode"] == "InvalidApiKey"
    missing = await client.get("/api/v1/members")
    assert missing.json()["subCode"] == "AuthenticationRequired"
    assert missing.headers["www-authenticate"].startswith("Bearer")


async def test_last_use_is_recorded(
    app: FastAPI, client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    await client.get("/api/v1/members", headers=tenant.headers)
    assert app.state.usage.pending == 1
    await client.get("/api/v1/members", headers=tenant.headers)
    assert await app.state.usage.flush(database) == 1
    assert await app.state.usage.flush(database) == 0
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == tenant.api_key_id))
    assert used is not None
