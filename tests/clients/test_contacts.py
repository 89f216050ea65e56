"""Contacts: create, read, update (full and partial), usernames and external ids."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from trustroom.auth.models import Tenant
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX

from ..factories import TenantFixture
from .conftest import CONTACTS, Person, anna, create_contact


async def test_create_and_read_a_contact(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await create_contact(client, tenant.headers, correlationId="crm-42")
    assert created["details"]["personalInformation"]["firstName"] == "Anna"
    assert created["hasPendingChangeRequest"] is False
    got = await client.get(f"{CONTACTS}/{created['id']}", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json()["details"] == anna()
    assert got.headers["ETag"] == f'"{got.json()["concurrencyToken"]}"'
    username = await client.get(f"{CONTACTS}/{created['id']}/username", headers=tenant.headers)
    assert username.json() == {"username": created["username"]}


async def test_details_are_checked_against_the_schema(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    details = anna(
        communication={"email": "not-an-email", "mobile": "+4179123"},
        personalInformation={"birthDate": "1990-02-30", "nationality": "XX", "hobby": "golf"},
        address={"subdivision": "DE-BY"},
    )
    del details["personalInformation"]["lastName"]
    response = await client.post(
        CONTACTS, headers=tenant.headers, json={"contactTypeId": 1, "username": "x1", "details": details}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["subCode"] == "DetailsInvalid"
    assert body["correlationId"]
    problems = {error["pointer"]: error["code"] for error in body["errors"]}
    assert problems == {
        "/details/communication/email": "format",
        "/details/communication/mobile": "format",
        "/details/personalInformation/birthDate": "format",
        "/details/personalInformation/nationality": "not_in_list",
        "/details/personalInformation/hobby": "unknown_field",
        "/details/personalInformation/lastName": "required",
        "/details/address/subdivision": "not_under_parent",
    }
    german = await client.post(
        f"{CONTACTS}?language=de",
        headers=tenant.headers,
        json={"contactTypeId": 1, "username": "x1", "details": details},
    )
    assert german.json()["detail"] == "Einige Angaben passen nicht zum Schema."
    messages = {error["pointer"]: error["message"] for error in german.json()["errors"]}
    assert messages["/details/communication/email"] == "Dieser Wert hat nicht das erwartete Format."


async def test_a_subdivision_under_its_country_is_accepted(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await create_contact(client, tenant.headers, anna(address={"subdivision": "CH-ZH"}))
    assert created["details"]["address"]["subdivision"] == "CH-ZH"


async def test_unknown_contact_type_and_missing_username(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    bad_type = await client.post(
        CONTACTS, headers=tenant.headers, json={"contactTypeId": 99, "username": "u", "details": anna()}
    )
    assert bad_type.json()["subCode"] == "ContactTypeUnknown"
    no_username = await client.post(CONTACTS, headers=tenant.headers, json={"contactTypeId": 1, "details": anna()})
    assert no_username.json()["subCode"] == "UsernameRequired"


async def test_usernames_are_unique(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    first = await create_contact(client, tenant.headers, username="anna")
    second = await client.post(
        CONTACTS, headers=tenant.headers, json={"contactTypeId": 1, "username": "anna", "details": anna()}
    )
    assert second.status_code == 400
    assert second.json()["subCode"] == "UsernameNotUnique"
    other = await create_contact(client, tenant.headers, username="bert")
    taken = await client.put(f"{CONTACTS}/{other['id']}/username", headers=tenant.headers, json={"username": "anna"})
    assert taken.json()["subCode"] == "UsernameNotUnique"
    renamed = await client.put(f"{CONTACTS}/{first['id']}/username", headers=tenant.headers, json={"username": "a2"})
    assert renamed.json() == {"username": "a2"}


async def test_username_follows_email_when_the_tenant_couples_them(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database
) -> None:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        row = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
        assert row is not None
        row.username_from_email = True
        await session.commit()
    created = await create_contact(client, tenant.headers, anna(communication={"email": "Anna@Example.com"}))
    assert created["username"] == "anna@example.com"
    clash = await client.post(
        CONTACTS,
        headers=tenant.headers,
        json={"contactTypeId": 1, "details": anna(communication={"email": "anna@example.com"})},
    )
    assert clash.json()["subCode"] == "UsernameNotUnique"
    coupled = await client.put(f"{CONTACTS}/{created['id']}/username", headers=tenant.headers, json={"username": "x"})
    assert coupled.json()["subCode"] == "UsernameCoupledWithEmail"
    other = await create_contact(client, tenant.headers, anna(communication={"email": "bert@example.com"}))
    moved = await client.patch(
        f"{CONTACTS}/{other['id']}/details",
        headers=tenant.headers,
        json={"details": {"communication": {"email": "anna@example.com"}}},
    )
    assert moved.json()["subCode"] == "UsernameNotUnique"


async def test_partial_update_merges_and_full_update_replaces(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await create_contact(client, tenant.headers)
    url = f"{CONTACTS}/{created['id']}/details"
    patched = await client.patch(
        url,
        headers=tenant.headers,
        json={"details": {"address": {"city": "Bern", "postalCode": None}}, "comment": "moved"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["appliedPaths"] == ["/address/city", "/address/postalCode"]
    assert patched.json()["isApprovalRequired"] is False
    details = (await client.get(f"{CONTACTS}/{created['id']}", headers=tenant.headers)).json()["details"]
    assert details["address"] == {"street": "Bahnhofstrasse 1", "city": "Bern", "country": "CH"}
    assert details["personalInformation"]["firstName"] == "Anna"

    replaced = await client.put(
        url, headers=tenant.headers, json={"details": {"personalInformation": {"firstName": "A", "lastName": "M"}}}
    )
    assert replaced.status_code == 200, replaced.text
    details = (await client.get(f"{CONTACTS}/{created['id']}", headers=tenant.headers)).json()["details"]
    assert details == {"personalInformation": {"firstName": "A", "lastName": "M"}}

    emptied = await client.patch(url, headers=tenant.headers, json={"details": {"personalInformation": None}})
    assert emptied.json()["subCode"] == "DetailsInvalid"


async def test_stale_concurrency_token_is_refused(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await create_contact(client, tenant.headers)
    url = f"{CONTACTS}/{created['id']}/details"
    token = created["concurrencyToken"]
    first = await client.patch(
        url, headers={**tenant.headers, "If-Match": f'"{token}"'}, json={"details": {"address": {"city": "Bern"}}}
    )
    assert first.status_code == 200
    second = await client.patch(
        url, headers=tenant.headers, json={"details": {"address": {"city": "Thun"}}, "concurrencyToken": token}
    )
    assert second.status_code == 409
    assert second.json()["subCode"] == "ConcurrencyTokenMismatch"


async def test_external_connections(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    first = await create_contact(client, tenant.headers)
    second = await create_contact(client, tenant.headers)
    url = f"{CONTACTS}/{first['id']}/external-connections"
    added = await client.post(url, headers=tenant.headers, json={"system": "Default", "externalId": "CBS-1"})
    assert added.status_code == 201, added.text
    again = await client.post(url, headers=tenant.headers, json={"system": "Default", "externalId": "CBS-1"})
    assert again.status_code == 201  # the same connection twice is no conflict
    clash = await client.post(
        f"{CONTACTS}/{second['id']}/external-connections",
        headers=tenant.headers,
        json={"system": "Default", "externalId": "CBS-1"},
    )
    assert clash.status_code == 409
    assert clash.json()["subCode"] == "ExternalIdNotUnique"
    other_system = await client.post(
        f"{CONTACTS}/{second['id']}/external-connections",
        headers=tenant.headers,
        json={"system": "SSO", "externalId": "CBS-1"},
    )
    assert other_system.status_code == 201
    listed = (await client.get(url, headers=tenant.headers)).json()["connections"]
    assert [(c["system"], c["externalId"]) for c in listed] == [("Default", "CBS-1")]
    found = await client.get(f"{CONTACTS}/by-external-id/SSO/CBS-1", headers=tenant.headers)
    assert found.json() == {"id": second["id"]}
    missing = await client.get(f"{CONTACTS}/by-external-id/SSO/nope", headers=tenant.headers)
    assert missing.status_code == 404


async def test_members_see_their_own_and_their_teams_contacts(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, admin: Person
) -> None:
    mine = await create_contact(client, advisor.headers)
    unassigned = await create_contact(client, tenant.headers)
    assert (await client.get(f"{CONTACTS}/{mine['id']}", headers=advisor.headers)).status_code == 200
    hidden = await client.get(f"{CONTACTS}/{unassigned['id']}", headers=advisor.headers)
    assert hidden.status_code == 404
    assert (await client.get(f"{CONTACTS}/{unassigned['id']}", headers=admin.headers)).status_code == 200


async def test_supervisors_see_their_teams_contacts(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, database: Database
) -> None:
    from trustroom.auth.models import Role

    from .conftest import person

    lead = await person(database, client._transport.app.state.keys, tenant, Role.ADVISOR)  # type: ignore[attr-defined]
    contact = await create_contact(client, advisor.headers)
    assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=lead.headers)).status_code == 404
    set_lead = await client.patch(
        f"{API_PREFIX}/members/{advisor.id}", headers=tenant.headers, json={"supervisorId": str(lead.id)}
    )
    assert set_lead.status_code == 200, set_lead.text
    assert set_lead.json()["supervisorId"] == str(lead.id)
    assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=lead.headers)).status_code == 200
    cycle = await client.patch(
        f"{API_PREFIX}/members/{lead.id}", headers=tenant.headers, json={"supervisorId": str(advisor.id)}
    )
    assert cycle.status_code == 400
    assert cycle.json()["subCode"] == "SupervisorInvalid"
    cleared = await client.patch(
        f"{API_PREFIX}/members/{advisor.id}", headers=tenant.headers, json={"supervisorId": None}
    )
    assert cleared.json()["supervisorId"] is None
    assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=lead.headers)).status_code == 404
