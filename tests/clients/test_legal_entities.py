"""Legal entities: details under the same rules as contacts, and contact access policies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from trustroom.actor import Actor, ActorKind, Scope
from trustroom.clients.errors import FieldNotUpdatable, NotActingFor
from trustroom.clients.models import RecordKind
from trustroom.clients.service import records, search
from trustroom.clients.service.channels import Verifier
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.schemas import Paging
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..helpers import events_of
from .conftest import Person, anna, create_contact

LEGAL_ENTITIES = "/api/v1/legal-entities"
ACME = {"details": {"name": "Acme Holding AG", "legalForm": "AG", "registrationNumber": "CHE-123.456.789"}}


async def create_entity(
    client: httpx.AsyncClient, headers: dict[str, str], contacts: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(LEGAL_ENTITIES, headers=headers, json={"details": ACME, "contacts": contacts})


async def test_create_read_update_and_replace_access(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database
) -> None:
    owner = await create_contact(client, tenant.headers)
    clerk = await create_contact(client, tenant.headers, anna(personalInformation={"firstName": "Carla"}))
    created = await create_entity(client, tenant.headers, [{"contactId": owner["id"], "roleId": 2, "access": "Act"}])
    assert created.status_code == 201, created.text
    entity = created.json()
    assert entity["details"] == ACME and entity["contacts"] == [
        {"contactId": owner["id"], "roleId": 2, "access": "Act"}
    ]
    url = f"{LEGAL_ENTITIES}/{entity['id']}"
    assert created.headers["Location"] == f"{url}/details"

    patched = await client.patch(
        f"{url}/details", headers=tenant.headers, json={"details": {"details": {"lei": "5299001ABCDEFGHIJK12"}}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["appliedPaths"] == ["/details/lei"]
    bad = await client.put(f"{url}/details", headers=tenant.headers, json={"details": {"details": {"lei": "x"}}})
    assert bad.json()["subCode"] == "DetailsInvalid"

    replaced = await client.put(
        f"{url}/contacts",
        headers=tenant.headers,
        json={"contacts": [{"contactId": clerk["id"], "roleId": 4}, {"contactId": owner["id"], "roleId": 1}]},
    )
    assert replaced.status_code == 200, replaced.text
    assert {(c["contactId"], c["roleId"], c["access"]) for c in replaced.json()["contacts"]} == {
        (clerk["id"], 4, "View"),
        (owner["id"], 1, "View"),
    }
    read = (await client.get(f"{url}/details", headers=tenant.headers)).json()
    assert read["details"]["details"]["lei"] == "5299001ABCDEFGHIJK12"
    kinds = [kind for kind, _ in await events_of(database, tenant, "legalEntity.")]
    assert kinds == ["legalEntity.created", "legalEntity.updated"]


async def test_bad_access_policies_are_refused(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    owner = await create_contact(client, tenant.headers)
    cases = [
        ([{"contactId": owner["id"], "roleId": 1}, {"contactId": owner["id"], "roleId": 2}], "contacts/1"),
        ([{"contactId": owner["id"], "roleId": 99}], "contacts/0"),
        ([{"contactId": "01a2a2a2-0000-7000-8000-000000000000", "roleId": 1}], "contacts/0"),
    ]
    for contacts, at in cases:
        response = await create_entity(client, tenant.headers, contacts)
        assert response.status_code == 400 and response.json()["subCode"] == "AccessPolicyInvalid", response.text
        assert at in response.json()["detail"]
    assert (await client.post(f"{LEGAL_ENTITIES}", headers=tenant.headers, json={"details": {}})).status_code == 400


async def test_a_member_changes_the_name_through_a_change_request(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person
) -> None:
    created = (await create_entity(client, advisor.headers, [])).json()
    url = f"{LEGAL_ENTITIES}/{created['id']}"
    renamed = await client.patch(
        f"{url}/details", headers=advisor.headers, json={"details": {"details": {"name": "Acme Group AG"}}}
    )
    assert renamed.json()["isApprovalRequired"] is True
    request_id = renamed.json()["changeRequestId"]
    own = await client.post(
        f"{url}/change-requests/{request_id}/review", headers=advisor.headers, json={"isApproved": True}
    )
    assert own.status_code == 403
    shown = await client.get(f"{url}/change-requests/{request_id}", headers=reviewer.headers)
    assert shown.json()["details"][0]["newValue"] == "Acme Group AG"
    approved = await client.post(
        f"{url}/change-requests/{request_id}/review", headers=reviewer.headers, json={"isApproved": True}
    )
    assert approved.json()["status"]["key"] == "Approved"
    read = (await client.get(f"{url}/details", headers=tenant.headers)).json()
    assert read["details"]["details"]["name"] == "Acme Group AG"


async def test_contacts_see_their_entities_and_act_only_with_act(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, keys: ServerKeys, settings: Settings
) -> None:
    viewer = await create_contact(client, tenant.headers)
    actor_contact = await create_contact(client, tenant.headers)
    seen = (await create_entity(client, tenant.headers, [{"contactId": viewer["id"], "roleId": 4}])).json()
    acted = (
        await create_entity(client, tenant.headers, [{"contactId": actor_contact["id"], "roleId": 1, "access": "Act"}])
    ).json()
    await create_entity(client, tenant.headers, [])

    def as_contact(contact: dict[str, Any]) -> Actor:
        scopes = frozenset({Scope.CONTACTS_READ, Scope.CONTACTS_WRITE})
        return Actor(tenant_id=tenant.id, kind=ActorKind.CONTACT, id=UUID(contact["id"]), permissions=scopes)

    verifier = Verifier(keys, settings.clients)

    async def change(contact: dict[str, Any], entity: dict[str, Any]) -> None:
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            try:
                await records.update_details(
                    session,
                    as_contact(contact),
                    verifier,
                    RecordKind.LEGAL_ENTITY,
                    UUID(entity["id"]),
                    {"details": {"legalForm": "GmbH"}},
                    partial=True,
                    comment=None,
                    concurrency_token=None,
                )
            finally:
                await session.rollback()

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        query = search.RecordQuery(RecordKind.LEGAL_ENTITY)
        visible = await search.search(session, as_contact(viewer), query, Paging())
        assert [record.id for record in visible.items] == [UUID(seen["id"])]
    with pytest.raises(NotActingFor):
        await change(viewer, seen)
    # Acting is allowed, but the default schema lets contacts change no field of an entity.
    with pytest.raises(FieldNotUpdatable):
        await change(actor_contact, acted)
