"""Four eyes: who may change what, change requests and their life cycle, and history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from trustroom.actor import Actor, ActorKind, Scope
from trustroom.auth.models import Role
from trustroom.clients.errors import FieldNotUpdatable
from trustroom.clients.models import ChangeRequest, RecordKind
from trustroom.clients.service import records
from trustroom.clients.service.channels import Verifier
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..helpers import events_of
from .conftest import CONTACTS, Person, create_contact, person


async def _patch(
    client: httpx.AsyncClient, who: Person | TenantFixture, contact_id: str, details: Any
) -> httpx.Response:
    return await client.patch(
        f"{CONTACTS}/{contact_id}/details", headers=who.headers, json={"details": details, "comment": "per client call"}
    )


async def test_member_changes_to_approval_fields_wait_for_review(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person, database: Database
) -> None:
    contact = await create_contact(client, advisor.headers)
    changed = await _patch(
        client, advisor, contact["id"], {"personalInformation": {"lastName": "Meier"}, "address": {"city": "Bern"}}
    )
    assert changed.status_code == 200, changed.text
    outcome = changed.json()
    assert outcome["isApprovalRequired"] is True
    assert outcome["appliedPaths"] == ["/address/city"]
    request_id = outcome["changeRequestId"]

    shown = (await client.get(f"{CONTACTS}/{contact['id']}", headers=advisor.headers)).json()
    assert shown["details"]["personalInformation"]["lastName"] == "Muster"
    assert shown["details"]["address"]["city"] == "Bern"
    assert shown["hasPendingChangeRequest"] is True
    check = (
        await client.get(f"{CONTACTS}/{contact['id']}/pending-change-request/check", headers=advisor.headers)
    ).json()
    assert check["hasPendingChangeRequest"] is True
    assert check["changeRequest"]["details"] == [
        {"path": "/personalInformation/lastName", "oldValue": "Muster", "newValue": "Meier"}
    ]
    assert check["changeRequest"]["status"] == {"id": 1, "key": "Pending", "name": "Pending"}

    second = await _patch(client, advisor, contact["id"], {"personalInformation": {"firstName": "Annie"}})
    assert second.status_code == 409
    assert second.json()["subCode"] == "PendingChangeRequestExists"

    own = await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{request_id}/review",
        headers={**advisor.headers},
        json={"isApproved": True},
    )
    assert own.status_code == 403  # an advisor holds no review permission at all
    approved = await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{request_id}/review?language=de",
        headers=reviewer.headers,
        json={"isApproved": True, "comment": "checked the passport"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == {"id": 2, "key": "Approved", "name": "Genehmigt"}
    assert approved.json()["reviewMember"] == {"id": str(reviewer.id)}
    shown = (await client.get(f"{CONTACTS}/{contact['id']}", headers=advisor.headers)).json()
    assert shown["details"]["personalInformation"]["lastName"] == "Meier"
    assert shown["hasPendingChangeRequest"] is False

    again = await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{request_id}/review",
        headers=reviewer.headers,
        json={"isApproved": True},
    )
    assert again.json()["subCode"] == "ChangeRequestNotPending"

    types = [kind for kind, _ in await events_of(database, tenant, "changeRequest.")]
    assert types == ["changeRequest.created", "changeRequest.approved"]
    updates = [data for kind, data in await events_of(database, tenant, "contact.updated")]
    assert [u["paths"] for u in updates] == [["/address/city"], ["/personalInformation/lastName"]]
    assert updates[1]["changeRequestId"] == request_id
    assert "Meier" not in str(updates)  # events carry paths, never values


async def test_the_initiator_can_never_review_their_own_request(
    client: httpx.AsyncClient, tenant: TenantFixture, reviewer: Person, database: Database, keys: ServerKeys
) -> None:
    contact = await create_contact(client, reviewer.headers)
    outcome = (await _patch(client, reviewer, contact["id"], {"personalInformation": {"lastName": "Meier"}})).json()
    own = await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{outcome['changeRequestId']}/review",
        headers=reviewer.headers,
        json={"isApproved": True},
    )
    assert own.status_code == 403
    assert own.json()["subCode"] == "OwnChangeRequest"
    app_review = await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{outcome['changeRequestId']}/review",
        headers=tenant.headers,
        json={"isApproved": True},
    )
    assert app_review.json()["subCode"] == "ReviewerRequired"
    # The database refuses it too, whatever the code above does.
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        with pytest.raises(IntegrityError):
            await session.execute(
                update(ChangeRequest)
                .where(ChangeRequest.tenant_id == tenant.id)
                .values(review_member_id=ChangeRequest.initiator_member_id)
            )
        await session.rollback()


async def test_reject_needs_a_comment_and_cancel_only_by_the_initiator(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person, database: Database
) -> None:
    contact = await create_contact(client, advisor.headers)
    first = (await _patch(client, advisor, contact["id"], {"personalInformation": {"lastName": "Meier"}})).json()
    url = f"{CONTACTS}/{contact['id']}/change-requests/{first['changeRequestId']}"
    silent = await client.post(f"{url}/review", headers=reviewer.headers, json={"isApproved": False})
    assert silent.json()["subCode"] == "CommentRequired"
    rejected = await client.post(
        f"{url}/review", headers=reviewer.headers, json={"isApproved": False, "comment": "no document"}
    )
    assert rejected.json()["status"]["key"] == "Rejected"
    assert rejected.json()["reviewComment"] == "no document"
    shown = (await client.get(f"{CONTACTS}/{contact['id']}", headers=advisor.headers)).json()
    assert shown["details"]["personalInformation"]["lastName"] == "Muster"

    second = (await _patch(client, advisor, contact["id"], {"personalInformation": {"lastName": "Huber"}})).json()
    url = f"{CONTACTS}/{contact['id']}/change-requests/{second['changeRequestId']}"
    not_mine = await client.post(f"{url}/cancel", headers=reviewer.headers)
    assert not_mine.json()["subCode"] == "NotInitiator"
    cancelled = await client.post(f"{url}/cancel", headers=advisor.headers)
    assert cancelled.json()["status"]["key"] == "Cancelled"
    late = await client.post(f"{url}/review", headers=reviewer.headers, json={"isApproved": True})
    assert late.json()["subCode"] == "ChangeRequestNotPending"
    types = [kind for kind, _ in await events_of(database, tenant, "changeRequest.")]
    assert types == [
        "changeRequest.created",
        "changeRequest.rejected",
        "changeRequest.created",
        "changeRequest.cancelled",
    ]


async def test_a_request_whose_base_moved_becomes_stale(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person, database: Database
) -> None:
    contact = await create_contact(client, advisor.headers)
    outcome = (await _patch(client, advisor, contact["id"], {"personalInformation": {"lastName": "Meier"}})).json()
    # The app changes the same field directly (apps need no approval).
    direct = await _patch(client, tenant, contact["id"], {"personalInformation": {"lastName": "Keller"}})
    assert direct.json()["appliedPaths"] == ["/personalInformation/lastName"]
    url = f"{CONTACTS}/{contact['id']}/change-requests/{outcome['changeRequestId']}"
    assert (await client.get(url, headers=advisor.headers)).json()["status"]["key"] == "Stale"
    late = await client.post(f"{url}/review", headers=reviewer.headers, json={"isApproved": True})
    assert late.json()["subCode"] == "ChangeRequestNotPending"
    shown = (await client.get(f"{CONTACTS}/{contact['id']}", headers=advisor.headers)).json()
    assert shown["details"]["personalInformation"]["lastName"] == "Keller"
    stale = [data for kind, data in await events_of(database, tenant, "changeRequest.outdated")]
    assert stale == [
        {
            "changeRequestId": outcome["changeRequestId"],
            "contactId": contact["id"],
            "legalEntityId": None,
            "status": "Stale",
            "paths": ["/personalInformation/lastName"],
        }
    ]


async def _custom_schema(client: httpx.AsyncClient, admin: Person) -> None:
    schema = (await client.get(f"{API_PREFIX}/schemas/contact", headers=admin.headers)).json()
    document = schema["jsonSchema"]
    personal = document["properties"]["personalInformation"]["properties"]
    personal["clientNumber"] = {"type": "string", "x-field": {"isReadOnly": True, "isExportable": True}}
    personal["nickname"] = {"type": "string", "x-field": {"isDisabled": True}}
    personal["titles"] = {"type": "array", "items": {"type": "string"}, "x-field": {"isContactUpdatable": True}}
    saved = await client.put(
        f"{API_PREFIX}/schemas/contact",
        headers=admin.headers,
        json={"jsonSchema": document, "concurrencyToken": schema["concurrencyToken"]},
    )
    assert saved.status_code == 200, saved.text


async def test_read_only_and_disabled_fields(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, admin: Person
) -> None:
    await _custom_schema(client, admin)
    contact = await create_contact(client, advisor.headers)
    by_member = await _patch(client, advisor, contact["id"], {"personalInformation": {"clientNumber": "C-1"}})
    assert by_member.status_code == 403
    assert by_member.json()["subCode"] == "FieldNotUpdatable"
    assert by_member.json()["errors"][0]["pointer"] == "/details/personalInformation/clientNumber"
    by_app = await _patch(client, tenant, contact["id"], {"personalInformation": {"clientNumber": "C-1"}})
    assert by_app.json()["appliedPaths"] == ["/personalInformation/clientNumber"]
    disabled = await _patch(client, tenant, contact["id"], {"personalInformation": {"nickname": "Nan"}})
    assert disabled.status_code == 403
    # Arrays are replaced whole, not merged.
    url = f"{CONTACTS}/{contact['id']}"
    await _patch(client, tenant, contact["id"], {"personalInformation": {"titles": ["Dr.", "Prof."]}})
    await _patch(client, tenant, contact["id"], {"personalInformation": {"titles": ["Dr."]}})
    shown = (await client.get(url, headers=tenant.headers)).json()
    assert shown["details"]["personalInformation"]["titles"] == ["Dr."]


async def test_a_contact_may_change_only_contact_updatable_fields(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, keys: ServerKeys, settings: Settings
) -> None:
    contact = await create_contact(client, tenant.headers)
    actor = Actor(
        tenant_id=tenant.id,
        kind=ActorKind.CONTACT,
        id=UUID(contact["id"]),
        permissions=frozenset({Scope.CONTACTS_READ, Scope.CONTACTS_WRITE}),
    )
    verifier = Verifier(keys, settings.clients)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        with pytest.raises(FieldNotUpdatable):
            await records.update_details(
                session,
                actor,
                verifier,
                RecordKind.CONTACT,
                actor.id,  # type: ignore[arg-type]
                {"personalInformation": {"lastName": "Meier"}},
                partial=True,
                comment=None,
                concurrency_token=None,
            )
        await session.rollback()
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        outcome = await records.update_details(
            session,
            actor,
            verifier,
            RecordKind.CONTACT,
            actor.id,  # type: ignore[arg-type]
            {"address": {"city": "Basel"}},
            partial=True,
            comment=None,
            concurrency_token=None,
        )
        await session.commit()
    assert [change.pointer for change in outcome.applied] == ["/address/city"]
    assert not outcome.is_approval_required  # a contact's own corrections need no second member


async def test_change_request_search_criteria(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person
) -> None:
    first = await create_contact(client, advisor.headers)
    second = await create_contact(client, advisor.headers)
    a = (await _patch(client, advisor, first["id"], {"personalInformation": {"lastName": "Meier"}})).json()
    b = (await _patch(client, advisor, second["id"], {"personalInformation": {"firstName": "Bea"}})).json()
    await client.post(
        f"{CONTACTS}/{first['id']}/change-requests/{a['changeRequestId']}/review",
        headers=reviewer.headers,
        json={"isApproved": True},
    )
    search = f"{CONTACTS}/change-requests/search"

    async def ids(**criteria: Any) -> list[str]:
        response = await client.post(search, headers=reviewer.headers, json=criteria)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [b["changeRequestId"], a["changeRequestId"]]
    assert await ids(sortOrder="Ascending") == [a["changeRequestId"], b["changeRequestId"]]
    assert await ids(statusId=1) == [b["changeRequestId"]]
    assert await ids(statusId=2) == [a["changeRequestId"]]
    assert await ids(contactIds=[second["id"]]) == [b["changeRequestId"]]
    assert await ids(paths=["/personalInformation/lastName"]) == [a["changeRequestId"]]
    assert await ids(reviewMemberIds=[str(reviewer.id)]) == [a["changeRequestId"]]
    assert await ids(initiatorMemberIds=[str(reviewer.id)]) == []
    assert await ids(initiatorMemberIds=[str(advisor.id)], sortBy="ContactId", pageSize=1) in (
        [a["changeRequestId"]],
        [b["changeRequestId"]],
    )
    assert await ids(reviewDateFrom="2000-01-01T00:00:00Z") == [a["changeRequestId"]]
    assert await ids(createDateTo="2000-01-01T00:00:00Z") == []
    # An advisor outside the records' team sees none of them.
    stranger = await client.post(search, headers=(await _stranger(client, tenant)).headers, json={})
    assert stranger.json()["totalCount"] == 0
    statuses = (await client.get(f"{API_PREFIX}/change-request-statuses?language=fr", headers=advisor.headers)).json()
    assert [s["name"] for s in statuses["changeRequestStatuses"]] == [
        "En attente",
        "Approuvée",
        "Rejetée",
        "Annulée",
        "Périmée",
    ]


async def _stranger(client: httpx.AsyncClient, tenant: TenantFixture) -> Person:
    app = client._transport.app  # type: ignore[attr-defined]
    return await person(app.state.database, app.state.keys, tenant, Role.ADVISOR)


async def test_history_records_every_change_with_its_author(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person
) -> None:
    contact = await create_contact(client, advisor.headers)
    outcome = (await _patch(client, advisor, contact["id"], {"personalInformation": {"lastName": "Meier"}})).json()
    await client.post(
        f"{CONTACTS}/{contact['id']}/change-requests/{outcome['changeRequestId']}/review",
        headers=reviewer.headers,
        json={"isApproved": True},
    )
    await _patch(client, tenant, contact["id"], {"address": {"city": "Bern"}})
    url = f"{CONTACTS}/{contact['id']}/details/change-history/search"
    page = (await client.post(url, headers=advisor.headers, json={})).json()
    assert page["totalCount"] == 3
    latest, approved, created = page["items"]
    assert latest["changes"] == [{"path": "/address/city", "oldValue": "Zürich", "newValue": "Bern"}]
    assert latest["initiator"] == {"kind": "app", "id": str(tenant.api_key_id)}
    assert approved["changes"] == [{"path": "/personalInformation/lastName", "oldValue": "Muster", "newValue": "Meier"}]
    assert approved["initiator"] == {"kind": "member", "id": str(advisor.id)}
    assert approved["changeRequestId"] == outcome["changeRequestId"]
    assert approved["comment"] == "per client call"
    assert {c["path"] for c in created["changes"]} >= {"/personalInformation/firstName", "/communication/email"}
    assert all(c["oldValue"] is None for c in created["changes"])

    by_path = (await client.post(url, headers=advisor.headers, json={"paths": ["/address/city"]})).json()
    assert [item["id"] for item in by_path["items"]] == [latest["id"], created["id"]]
    by_author = (await client.post(url, headers=advisor.headers, json={"initiatorPersonIds": [str(advisor.id)]})).json()
    assert [item["id"] for item in by_author["items"]] == [approved["id"], created["id"]]
    oldest_first = (
        await client.post(url, headers=advisor.headers, json={"sortOrder": "Ascending", "pageSize": 1})
    ).json()
    assert [item["id"] for item in oldest_first["items"]] == [created["id"]]
    assert oldest_first["pageCount"] == 3
    future = (
        await client.post(url, headers=advisor.headers, json={"executionDateFrom": "2999-01-01T00:00:00Z"})
    ).json()
    assert future["totalCount"] == 0
