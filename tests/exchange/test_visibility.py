"""Exchanges follow their contact: a member reaches an exchange whose contact they see or that
they own (with their team's); admins and apps reach all. And exchanges made from a contact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from trustroom.auth.models import Role
from trustroom.db import Database
from trustroom.http import API_PREFIX
from trustroom.keys import ServerKeys

from ..clients.conftest import CONTACTS, Person, anna, create_contact, person
from ..clients.test_pages import signed_in
from ..factories import TenantFixture, make_member
from .conftest import EXCHANGES, create_exchange, create_folder, exchange_body, upload


@pytest.fixture
async def advisors(database: Database, keys: ServerKeys, tenant: TenantFixture) -> tuple[Person, Person, Person]:
    """Two advisors and an admin, acting through the tenant's key."""
    return (
        await person(database, keys, tenant, Role.ADVISOR),
        await person(database, keys, tenant, Role.ADVISOR),
        await person(database, keys, tenant, Role.ADMIN),
    )


async def listed(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    answer = await client.get(EXCHANGES, headers=headers, params={"pageSize": 200})
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


async def reachable(client: httpx.AsyncClient, headers: dict[str, str], room: dict[str, Any]) -> dict[str, int]:
    """The status of every read and write of an exchange and what is in it, by route."""
    base = f"{EXCHANGES}/{room['id']}"
    folder, document = room["folderId"], room["documentId"]
    requests = {
        "get": ("GET", base, None),
        "byExternalId": ("GET", f"{EXCHANGES}/by-external-id/{room['externalExchangeId']}", None),
        "folders": ("GET", f"{base}/folders", None),
        "newFolder": ("POST", f"{base}/folders", {"name": "Neu"}),
        "renameFolder": ("PATCH", f"{base}/folders/{folder}", {"name": "Anders"}),
        "documents": ("GET", f"{base}/folders/{folder}/documents", None),
        "document": ("GET", f"{base}/documents/{document}", None),
        "content": ("GET", f"{base}/documents/{document}/content", None),
        "link": ("POST", f"{base}/link", None),
        "patch": ("PATCH", base, {"name": "Umbenannt"}),
    }
    found = {}
    for name, (method, url, body) in requests.items():
        answer = await client.request(method, url, headers=headers, json=body)
        found[name] = answer.status_code
        if answer.status_code == 404:
            assert answer.json()["subCode"] == "ExchangeNotFound", (name, answer.text)
    upload_answer = await upload(client, headers, room["id"], folder, "more.txt", b"more")
    found["upload"] = upload_answer.status_code
    return found


async def room_with_document(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    room = await create_exchange(client, headers, **extra)
    folder = await create_folder(client, headers, room["id"])
    document = await upload(client, headers, room["id"], folder["id"], "Vertrag.txt", b"contract")
    assert document.status_code == 201, document.text
    return {**room, "folderId": folder["id"], "documentId": document.json()["id"]}


async def test_members_reach_the_exchanges_of_their_contacts_and_their_own(
    client: httpx.AsyncClient, tenant: TenantFixture, advisors: tuple[Person, Person, Person]
) -> None:
    first, second, admin = advisors
    contact = await create_contact(client, tenant.headers, advisorIds=[str(first.id)])
    of_contact = await room_with_document(client, tenant.headers, contactId=contact["id"])
    owned = await room_with_document(client, tenant.headers, ownerMemberId=str(second.id))
    nobodys = await room_with_document(client, tenant.headers)
    assert owned["ownerMemberId"] == str(second.id) and nobodys["ownerMemberId"] is None

    assert await listed(client, first.headers) == {of_contact["id"]}
    assert await listed(client, second.headers) == {owned["id"]}
    everything = {of_contact["id"], owned["id"], nobodys["id"]}
    assert await listed(client, admin.headers) == everything
    assert await listed(client, tenant.headers) == everything

    hidden = await reachable(client, first.headers, owned)
    assert set(hidden.values()) == {404}, hidden
    assert set((await reachable(client, second.headers, of_contact)).values()) == {404}
    assert set((await reachable(client, first.headers, nobodys)).values()) == {404}
    assert (await client.delete(f"{EXCHANGES}/{owned['id']}", headers=first.headers)).status_code == 404
    # Nothing of it changed for those who may see it.
    seen = await client.get(f"{EXCHANGES}/{owned['id']}", headers=second.headers)
    assert seen.status_code == 200 and seen.json()["name"] == owned["name"]

    allowed = await reachable(client, first.headers, of_contact)
    assert all(status < 300 for status in allowed.values()), allowed
    assert (await reachable(client, admin.headers, owned))["get"] == 200


async def test_the_exchange_follows_its_contact_to_a_new_advisor_and_up_the_hierarchy(
    client: httpx.AsyncClient, tenant: TenantFixture, advisors: tuple[Person, Person, Person]
) -> None:
    first, second, _admin = advisors
    contact = await create_contact(client, tenant.headers, advisorIds=[str(first.id)])
    room = await create_exchange(client, tenant.headers, contactId=contact["id"])
    url = f"{EXCHANGES}/{room['id']}"
    assert (await client.get(url, headers=second.headers)).status_code == 404
    lead = await client.patch(
        f"{API_PREFIX}/members/{first.id}", headers=tenant.headers, json={"supervisorId": str(second.id)}
    )
    assert lead.status_code == 200
    assert (await client.get(url, headers=second.headers)).status_code == 200  # first reports to second
    await client.patch(f"{API_PREFIX}/members/{first.id}", headers=tenant.headers, json={"supervisorId": None})
    moved = await client.post(
        f"{CONTACTS}/advisors/reassign",
        headers=tenant.headers,
        json={"fromMemberId": str(first.id), "toMemberId": str(second.id)},
    )
    assert moved.json()["contactCount"] == 1
    assert (await client.get(url, headers=first.headers)).status_code == 404
    assert (await client.get(url, headers=second.headers)).status_code == 200
    # Owning it brings it back; handing it to someone else needs contacts:assign.
    taken = await client.patch(url, headers=tenant.headers, json={"ownerMemberId": str(first.id)})
    assert taken.status_code == 200 and taken.json()["ownerMemberId"] == str(first.id)
    assert (await client.get(url, headers=first.headers)).status_code == 200
    handed = await client.patch(url, headers=first.headers, json={"ownerMemberId": str(second.id)})
    assert handed.status_code == 403 and handed.json()["subCode"] == "MissingScope"


async def test_a_member_owns_the_exchanges_they_create(
    client: httpx.AsyncClient, tenant: TenantFixture, advisors: tuple[Person, Person, Person]
) -> None:
    first, second, _admin = advisors
    room = await create_exchange(client, first.headers)
    assert room["ownerMemberId"] == str(first.id)
    assert await listed(client, first.headers) == {room["id"]} and await listed(client, second.headers) == set()
    refused = await client.post(EXCHANGES, headers=first.headers, json=exchange_body(ownerMemberId=str(second.id)))
    assert refused.status_code == 403


async def test_an_exchange_from_a_contact_takes_its_verified_card_and_a_folder(
    client: httpx.AsyncClient, tenant: TenantFixture, advisors: tuple[Person, Person, Person]
) -> None:
    first, second, _admin = advisors
    contact = await create_contact(client, first.headers)
    body = exchange_body(contactId=contact["id"])
    del body["client"]
    created = await client.post(EXCHANGES, headers=first.headers, json=body)
    assert created.status_code == 201, created.text
    room = created.json()
    assert room["client"] == {
        "firstName": "Anna",
        "lastName": "Muster",
        "email": "anna.muster@example.com",
        "mobileNumber": "+41791234567",
    }
    assert (room["contactId"], room["ownerMemberId"]) == (contact["id"], str(first.id))
    folders = (await client.get(f"{EXCHANGES}/{room['id']}/folders", headers=first.headers)).json()["items"]
    assert [folder["name"] for folder in folders] == ["Dokumente"]  # the client's language, DE

    # What the body gives wins; the rest comes from the contact. The folder follows the language.
    body = exchange_body(contactId=contact["id"], languageCode="IT", client={"email": "anna@privat.example"})
    mixed = (await client.post(EXCHANGES, headers=first.headers, json=body)).json()
    assert mixed["client"] == {**room["client"], "email": "anna@privat.example"}
    folders = (await client.get(f"{EXCHANGES}/{mixed['id']}/folders", headers=first.headers)).json()["items"]
    assert [folder["name"] for folder in folders] == ["Documenti"]

    hidden = await client.post(EXCHANGES, headers=second.headers, json=body)
    assert hidden.status_code == 404 and hidden.json()["subCode"] == "ContactNotFound"


async def test_a_contact_without_a_verified_mobile_is_refused(
    client: httpx.AsyncClient, tenant: TenantFixture, advisors: tuple[Person, Person, Person]
) -> None:
    first = advisors[0]
    details = anna()
    del details["communication"]["mobile"]
    contact = await create_contact(client, first.headers, details)
    # A new mobile waits for the key sent to it: it is not verified yet.
    pending = await client.patch(
        f"{CONTACTS}/{contact['id']}/details",
        headers=first.headers,
        json={"details": {"communication": {"mobile": "+41791112233"}}},
    )
    assert pending.status_code == 200 and pending.json()["hasPendingMobile"], pending.text
    body = exchange_body(contactId=contact["id"])
    del body["client"]
    refused = await client.post(EXCHANGES, headers=first.headers, json=body)
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["subCode"]) == ("BadRequest", "ContactMobileMissing")
    assert await listed(client, tenant.headers) == set()
    # Given explicitly, the mobile is the provider's word.
    body["client"] = {"mobileNumber": "+41791112233"}
    assert (await client.post(EXCHANGES, headers=first.headers, json=body)).status_code == 201

    without_any = exchange_body()
    del without_any["client"]
    malformed = await client.post(EXCHANGES, headers=tenant.headers, json=without_any)
    assert malformed.status_code == 422 and malformed.json()["subCode"] == "ValidationFailed"
    half = exchange_body(client={"email": "eva@mail.example"})
    assert (await client.post(EXCHANGES, headers=tenant.headers, json=half)).status_code == 422


async def test_the_advisor_pages_show_only_reachable_exchanges(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
) -> None:
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    mine = await create_exchange(client, tenant.headers, name="Mandat Eigen", ownerMemberId=str(member.member.id))
    other = await create_exchange(client, tenant.headers, name="Mandat Fremd")
    browser = await signed_in(app, member)
    page = await browser.get("/portal/exchanges")
    assert page.status_code == 200 and "Mandat Eigen" in page.text and "Mandat Fremd" not in page.text
    assert (await browser.get(f"/portal/exchanges/{mine['id']}")).status_code == 200
    assert (await browser.get(f"/portal/exchanges/{other['id']}")).status_code == 404
