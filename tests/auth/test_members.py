"""Members, roles and apps acting for members."""

from __future__ import annotations

import httpx

from trustroom.auth.models import Role
from trustroom.db import Database
from trustroom.keys import ServerKeys

from ..factories import TenantFixture, make_api_key, make_member


async def test_create_get_update_member(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await client.post(
        "/api/v1/members",
        json={"email": "Anna.Muster@Bank.example", "role": "advisor", "displayName": "Anna Muster"},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    member = created.json()
    assert member["email"] == "anna.muster@bank.example"
    assert len(member["password"]) >= 16 and len(member["totpSecret"]) == 32
    assert member["totpEnrolled"] is False

    fetched = await client.get(f"/api/v1/members/{member['id']}", headers=tenant.headers)
    assert "password" not in fetched.json()
    token = fetched.json()["concurrencyToken"]
    assert fetched.headers["etag"] == f'"{token}"'

    changed = await client.patch(
        f"/api/v1/members/{member['id']}",
        json={"role": "reviewer", "disabled": True, "displayName": "A. Muster"},
        headers={**tenant.headers, "If-Match": f'"{token}"'},
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "reviewer" and changed.json()["disabled"] is True

    stale = await client.patch(
        f"/api/v1/members/{member['id']}", json={"role": "admin", "concurrencyToken": token}, headers=tenant.headers
    )
    assert stale.status_code == 409
    assert stale.json()["subCode"] == "ConcurrencyTokenMismatch"


async def test_acting_member_needs_the_scope(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    without = await make_api_key(database, keys, tenant.id, ["members:read"])
    response = await client.get(
        "/api/v1/members",
        headers={"Authorization": f"Bearer {without}", "X-Acting-Member": str(member.member.id)},
    )
    assert response.status_code == 403
    assert response.json()["subCode"] == "ActingMemberNotAllowed"


async def test_acting_member_gets_the_intersection_and_is_audited(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    advisor = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    headers = {**tenant.headers, "X-Acting-Member": advisor.member.email}

    assert (await client.get("/api/v1/members", headers=headers)).status_code == 200
    denied = await client.get("/api/v1/audit-events", headers=headers)
    assert denied.status_code == 403  # advisors may not read the audit log, whatever the app may

    reviewer = await make_member(database, keys, tenant.id, role=Role.REVIEWER)
    as_reviewer = {**tenant.headers, "X-Acting-Member": str(reviewer.member.id)}
    events = (await client.get("/api/v1/audit-events", headers=as_reviewer)).json()
    assert events["totalCount"] >= 2

    admin = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    as_admin = {**tenant.headers, "X-Acting-Member": str(admin.member.id)}
    created = await client.post(
        "/api/v1/members", json={"email": "x@bank.example", "role": "advisor"}, headers=as_admin
    )
    assert created.status_code == 201
    audit = await client.get("/api/v1/audit-events", params={"targetId": created.json()["id"]}, headers=tenant.headers)
    [event] = audit.json()["items"]
    assert event["actorKind"] == "member"
    assert event["actorId"] == str(admin.member.id)
    assert event["apiKeyId"] == str(tenant.api_key_id)


async def test_unknown_or_disabled_acting_member_is_refused(
    client: httpx.AsyncClient, other_tenant: TenantFixture, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    foreign = await make_member(database, keys, other_tenant.id)
    for reference in ("nobody@bank.example", str(foreign.member.id)):
        response = await client.get("/api/v1/members", headers={**tenant.headers, "X-Acting-Member": reference})
        assert response.status_code == 400
        assert response.json()["subCode"] == "ActingMemberUnknown"
