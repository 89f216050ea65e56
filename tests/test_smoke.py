from __future__ import annotations

import httpx

from .factories import TenantFixture


async def test_members_list_with_api_key(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.get("/api/v1/members", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["totalCount"] == 0
