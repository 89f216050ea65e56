"""Idempotency-Key on creates: a replay gets the first answer, a different body is refused."""

from __future__ import annotations

import httpx

from .factories import TenantFixture

BODY = {"name": "CRM", "scopes": ["contacts:read"]}


async def test_replay_returns_the_first_answer(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-crm-key-1"}
    first = await client.post("/api/v1/api-keys", json=BODY, headers=headers)
    second = await client.post("/api/v1/api-keys", json=BODY, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotency-replayed"] == "true"
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()
    assert listed["totalCount"] == 2  # the tenant's own key and one new key, not two


async def test_same_key_with_another_body_is_refused(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-crm-key-2"}
    assert (await client.post("/api/v1/api-keys", json=BODY, headers=headers)).status_code == 201
    other = await client.post("/api/v1/api-keys", json={**BODY, "name": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["subCode"] == "IdempotencyKeyReused"


async def test_keys_belong_to_their_tenant(
    client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    for owner in (tenant, other_tenant):
        response = await client.post(
            "/api/v1/api-keys", json=BODY, headers={**owner.headers, "Idempotency-Key": "shared-key"}
        )
        assert response.status_code == 201
        assert "idempotency-replayed" not in response.headers


async def test_failed_requests_are_not_remembered(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "retry-after-fix"}
    bad = await client.post("/api/v1/members", json={"email": "bad", "role": "advisor"}, headers=headers)
    assert bad.status_code == 422
    good = await client.post("/api/v1/members", json={"email": "good@bank.example", "role": "advisor"}, headers=headers)
    assert good.status_code == 201
