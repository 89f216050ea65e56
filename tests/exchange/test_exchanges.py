"""Exchanges through the API: every field and rule of reference 000, updates, deletion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import ClientAccount
from trustroom.keys import ServerKeys
from trustroom.storage.models import KeyEncryptionKey

from ..clients.conftest import create_contact
from ..factories import TenantFixture, make_api_key
from ..helpers import events_of
from .conftest import EXCHANGES, PASSWORD, create_exchange, exchange_body


async def test_create_makes_account_room_and_key(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    body = exchange_body()
    response = await client.post(EXCHANGES, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{EXCHANGES}/{created['id']}"
    assert created["username"] == body["username"]
    assert created["externalUserId"] == body["externalUserId"]
    assert created["externalExchangeId"] == body["externalExchangeId"]
    assert created["languageCode"] == "DE"
    assert created["client"] == body["client"]
    assert created["advisor"] == {**body["advisor"], "mobileNumber": None}
    assert "password" not in response.text and PASSWORD not in response.text
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        account = await session.scalar(select(ClientAccount).where(ClientAccount.username == body["username"]))
        assert account is not None and account.password_hash.startswith("$argon2id$")
        kek = await session.scalar(
            select(KeyEncryptionKey).where(KeyEncryptionKey.purpose == f"exchange:{created['id']}")
        )
        assert kek is not None and kek.sealed_key is not None
    assert await events_of(database, tenant, "exchange.") == [
        (
            "exchange.created",
            {
                "exchangeId": created["id"],
                "externalExchangeId": body["externalExchangeId"],
                "contactId": None,
                "ownerMemberId": None,
                "by": f"app:{tenant.api_key_id}",
            },
        )
    ]


@pytest.mark.parametrize(
    ("field", "sub_code"),
    [
        ("username", "UsernameNotUnique"),
        ("externalUserId", "ExternalUserIdNotUnique"),
        ("externalExchangeId", "ExternalExchangeIdNotUnique"),
    ],
)
async def test_unique_fields(client: httpx.AsyncClient, tenant: TenantFixture, field: str, sub_code: str) -> None:
    first = await create_exchange(client, tenant.headers)
    again = exchange_body(**{field: first[field]})
    response = await client.post(EXCHANGES, headers=tenant.headers, json=again)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["code"], problem["subCode"]) == ("BadRequest", sub_code)
    assert problem["correlationId"]
    listed = (await client.get(EXCHANGES, headers=tenant.headers)).json()
    assert listed["totalCount"] == 1


async def test_unique_within_a_tenant_only(
    client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    first = await create_exchange(client, tenant.headers)
    same = {k: first[k] for k in ("username", "externalUserId", "externalExchangeId")}
    response = await client.post(EXCHANGES, headers=other_tenant.headers, json=exchange_body(**same))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "change",
    [
        {"languageCode": "ES"},
        {"languageCode": "de"},
        {"password": "short"},
        {"name": ""},
        {"description": ""},
        {"description": "x" * 1025},
        {"client": {"email": "not-an-address", "mobileNumber": "+41791234567"}},
        {"client": {"email": "a@mail.example", "mobileNumber": "079 123 45 67"}},
        {"client": {"email": "a@mail.example", "mobileNumber": "+4179"}},
        {"client": {"firstName": "x" * 65, "email": "a@mail.example", "mobileNumber": "+41791234567"}},
        {"client": {"firstName": "", "email": "a@mail.example", "mobileNumber": "+41791234567"}},
        {"advisor": {"email": "nope"}},
        {"advisor": {"lastName": "y" * 65}},
        {"unknownField": 1},
    ],
)
async def test_invalid_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantFixture, change: dict[str, Any]
) -> None:
    response = await client.post(EXCHANGES, headers=tenant.headers, json=exchange_body(**change))
    assert response.status_code == 422, response.text
    assert response.json()["subCode"] == "ValidationFailed"
    assert (await client.get(EXCHANGES, headers=tenant.headers)).json()["totalCount"] == 0


@pytest.mark.parametrize(
    "missing", ["username", "externalUserId", "languageCode", "password", "externalExchangeId", "name"]
)
async def test_mandatory_fields(client: httpx.AsyncClient, tenant: TenantFixture, missing: str) -> None:
    body = exchange_body()
    del body[missing]
    response = await client.post(EXCHANGES, headers=tenant.headers, json=body)
    assert response.status_code == 422
    assert any(e["pointer"] == f"/{missing}" for e in response.json()["errors"])


async def test_optional_fields_may_be_left_out(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    body = exchange_body()
    del body["description"], body["advisor"], body["client"]["firstName"], body["client"]["lastName"]
    response = await client.post(EXCHANGES, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["advisor"] == {"firstName": None, "lastName": None, "email": None, "mobileNumber": None}


async def test_linked_to_a_contact(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    contact = await create_contact(client, tenant.headers)
    created = await create_exchange(client, tenant.headers, contactId=contact["id"])
    assert created["contactId"] == contact["id"]
    unknown = exchange_body(contactId="0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d")
    response = await client.post(EXCHANGES, headers=tenant.headers, json=unknown)
    assert response.status_code == 404
    assert response.json()["subCode"] == "ContactNotFound"


async def test_read_by_id_external_id_and_list(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    made = [await create_exchange(client, tenant.headers) for _ in range(3)]
    one = await client.get(f"{EXCHANGES}/{made[0]['id']}", headers=tenant.headers)
    assert one.status_code == 200 and one.json() == made[0]
    assert one.headers["ETag"] == f'"{made[0]["concurrencyToken"]}"'
    by_external = await client.get(
        f"{EXCHANGES}/by-external-id/{made[1]['externalExchangeId']}", headers=tenant.headers
    )
    assert by_external.json()["id"] == made[1]["id"]
    missing = await client.get(f"{EXCHANGES}/by-external-id/nope", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["subCode"] == "ExchangeNotFound"
    page = (await client.get(EXCHANGES, headers=tenant.headers, params={"pageSize": 2})).json()
    assert (page["totalCount"], page["pageCount"], len(page["items"])) == (3, 2, 2)
    assert [e["id"] for e in page["items"]] == [made[2]["id"], made[1]["id"]]
    ascending = (
        await client.get(EXCHANGES, headers=tenant.headers, params={"sortOrder": "Ascending", "page": 2, "pageSize": 2})
    ).json()
    assert [e["id"] for e in ascending["items"]] == [made[2]["id"]]


async def test_update_changes_only_what_is_sent(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    created = await create_exchange(client, tenant.headers)
    url = f"{EXCHANGES}/{created['id']}"
    change = {"name": "Neuer Name", "languageCode": "FR", "concurrencyToken": created["concurrencyToken"]}
    response = await client.patch(url, headers=tenant.headers, json=change)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["languageCode"]) == ("Neuer Name", "FR")
    assert updated["description"] == created["description"] and updated["advisor"] == created["advisor"]
    assert updated["concurrencyToken"] != created["concurrencyToken"]
    stale = await client.patch(
        url, headers={**tenant.headers, "If-Match": f'"{created["concurrencyToken"]}"'}, json={"name": "x"}
    )
    assert stale.status_code == 409 and stale.json()["subCode"] == "ConcurrencyTokenMismatch"
    language_only = await client.patch(url, headers=tenant.headers, json={"languageCode": "IT"})
    assert language_only.json()["concurrencyToken"] != updated["concurrencyToken"]
    cleared = await client.patch(
        url, headers=tenant.headers, json={"description": None, "advisor": {"mobileNumber": "+41441234567"}}
    )
    assert cleared.json()["description"] is None
    assert cleared.json()["advisor"] == {
        "firstName": None,
        "lastName": None,
        "email": None,
        "mobileNumber": "+41441234567",
    }
    unchanged = await client.patch(url, headers=tenant.headers, json={"name": "Neuer Name"})
    assert unchanged.json()["concurrencyToken"] == cleared.json()["concurrencyToken"]
    invalid = await client.patch(url, headers=tenant.headers, json={"username": "new"})
    assert invalid.status_code == 422
    updates = [t for t, _ in await events_of(database, tenant, "exchange.updated")]
    assert len(updates) == 3


async def test_scopes(client: httpx.AsyncClient, tenant: TenantFixture, database: Database, keys: ServerKeys) -> None:
    reader = await make_api_key(database, keys, tenant.id, ["exchanges:read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert (await client.get(EXCHANGES, headers=headers)).status_code == 200
    response = await client.post(EXCHANGES, headers=headers, json=exchange_body())
    assert response.status_code == 403 and response.json()["subCode"] == "MissingScope"
