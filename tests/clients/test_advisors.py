"""Advisor assignment: advisors on create, GET/PUT /contacts/{id}/advisors, bulk reassignment,
and what each member sees afterwards."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from trustroom.auth.models import Role
from trustroom.clients.models import ClientRecord, RecordAssignment, RecordKind
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX
from trustroom.keys import ServerKeys

from ..factories import TenantFixture, make_member, make_tenant
from ..helpers import events_of
from .conftest import CONTACTS, Person, create_contact, person
from .test_pages import csrf_of, signed_in

REASSIGN = f"{CONTACTS}/advisors/reassign"


async def advisors_of(client: httpx.AsyncClient, headers: dict[str, str], contact_id: str) -> httpx.Response:
    return await client.get(f"{CONTACTS}/{contact_id}/advisors", headers=headers)


def ids(answer: httpx.Response) -> set[str]:
    return {advisor["memberId"] for advisor in answer.json()["advisors"]}


async def audit(client: httpx.AsyncClient, tenant: TenantFixture, action: str) -> list[dict[str, Any]]:
    found = await client.get(f"{API_PREFIX}/audit-events", headers=tenant.headers, params={"action": action})
    assert found.status_code == 200, found.text
    items: list[dict[str, Any]] = found.json()["items"]
    return items


async def sees(client: httpx.AsyncClient, who: Person, contact_id: str) -> bool:
    status = (await client.get(f"{CONTACTS}/{contact_id}", headers=who.headers)).status_code
    assert status in (200, 404)
    return status == 200


@pytest.fixture
async def other_advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADVISOR)


async def disable(client: httpx.AsyncClient, tenant: TenantFixture, member: Person) -> None:
    answer = await client.patch(f"{API_PREFIX}/members/{member.id}", headers=tenant.headers, json={"disabled": True})
    assert answer.status_code == 200, answer.text


async def test_an_app_creates_a_contact_with_its_advisors(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, other_advisor: Person
) -> None:
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id), str(advisor.id)])
    answer = await advisors_of(client, tenant.headers, contact["id"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["contactId"] == contact["id"] and ids(answer) == {str(advisor.id)}
    assert answer.headers["ETag"] == f'"{body["concurrencyToken"]}"'
    assert body["advisors"][0]["disabled"] is False and body["advisors"][0]["email"].endswith("@bank.example")
    assert await sees(client, advisor, contact["id"]) and not await sees(client, other_advisor, contact["id"])
    created = await audit(client, tenant, "clients.contact.created")
    assert created[0]["data"] == {"advisorIds": [str(advisor.id)]}

    owned = await create_contact(client, tenant.headers, ownerMemberId=str(other_advisor.id))
    assert ids(await advisors_of(client, tenant.headers, owned["id"])) == {str(other_advisor.id)}
    # Without either, an app's contact has no advisor: only tenant-wide readers see it.
    bare = await create_contact(client, tenant.headers)
    assert (await advisors_of(client, tenant.headers, bare["id"])).json()["advisors"] == []
    assert not await sees(client, advisor, bare["id"])


async def test_a_member_creating_a_contact_advises_it_unless_advisors_are_given(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, admin: Person, other_advisor: Person
) -> None:
    own = await create_contact(client, advisor.headers)
    assert ids(await advisors_of(client, advisor.headers, own["id"])) == {str(advisor.id)}
    given = await create_contact(client, admin.headers, advisorIds=[str(other_advisor.id)])
    assert ids(await advisors_of(client, admin.headers, given["id"])) == {str(other_advisor.id)}
    # Choosing advisors decides who sees a contact: advisors may not.
    refused = await client.post(
        CONTACTS,
        headers=advisor.headers,
        json={"contactTypeId": 1, "username": "chosen", "details": own["details"], "advisorIds": [str(advisor.id)]},
    )
    assert refused.status_code == 403 and refused.json()["subCode"] == "MissingScope", refused.text


async def test_advisors_that_cannot_be_assigned_refuse_the_create(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    advisor: Person,
    other_advisor: Person,
) -> None:
    stranger_tenant = await make_tenant(database, keys)
    stranger = await person(database, keys, stranger_tenant, Role.ADVISOR)
    await disable(client, tenant, other_advisor)
    cases = [
        ([str(advisor.id), "0190b5a0-0000-7000-8000-000000000009"], "AdvisorNotFound"),
        ([str(stranger.id)], "AdvisorNotFound"),
        ([str(other_advisor.id)], "AdvisorDisabled"),
    ]
    for advisor_ids, sub_code in cases:
        body = {"contactTypeId": 1, "username": f"refused-{sub_code}", "details": {}, "advisorIds": advisor_ids}
        body["details"] = {"personalInformation": {"firstName": "Eva", "lastName": "Weber"}}
        refused = await client.post(CONTACTS, headers=tenant.headers, json=body)
        assert refused.status_code == 400, refused.text
        problem = refused.json()
        assert (problem["code"], problem["subCode"]) == ("BadRequest", sub_code)
        assert advisor_ids[-1] in problem["detail"] and problem["correlationId"]
    both = {"contactTypeId": 1, "username": "both", "details": {}, "advisorIds": [], "ownerMemberId": str(advisor.id)}
    assert (await client.post(CONTACTS, headers=tenant.headers, json=both)).status_code == 422
    found = await client.post(f"{CONTACTS}/search", headers=tenant.headers, json={})
    assert found.json()["totalCount"] == 0  # nothing was created


async def test_put_replaces_the_assignment_under_its_concurrency_token(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,
    other_advisor: Person,
    admin: Person,
) -> None:
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id)])
    url = f"{CONTACTS}/{contact['id']}/advisors"
    first = await advisors_of(client, tenant.headers, contact["id"])
    token = first.json()["concurrencyToken"]
    moved = await client.put(url, headers=admin.headers, json={"advisorIds": [str(other_advisor.id)]})
    assert moved.status_code == 200, moved.text
    assert ids(moved) == {str(other_advisor.id)} and moved.json()["concurrencyToken"] != token
    assert not await sees(client, advisor, contact["id"]) and await sees(client, other_advisor, contact["id"])
    # A write based on the first read is stale, by body or by If-Match.
    stale = await client.put(url, headers=tenant.headers, json={"advisorIds": [], "concurrencyToken": token})
    assert stale.status_code == 409 and stale.json()["subCode"] == "ConcurrencyTokenMismatch"
    stale = await client.put(url, headers={**tenant.headers, "If-Match": f'"{token}"'}, json={"advisorIds": []})
    assert stale.status_code == 409
    current = moved.headers["ETag"]
    both = await client.put(
        url,
        headers={**tenant.headers, "If-Match": current},
        json={"advisorIds": [str(advisor.id), str(other_advisor.id)]},
    )
    assert both.status_code == 200 and ids(both) == {str(advisor.id), str(other_advisor.id)}
    same = await client.put(url, headers=tenant.headers, json={"advisorIds": [str(other_advisor.id), str(advisor.id)]})
    assert same.status_code == 200 and same.json()["concurrencyToken"] == both.json()["concurrencyToken"]
    changed = await events_of(database, tenant, "contact.advisors.")
    assert [data for _, data in changed] == [
        {
            "contactId": contact["id"],
            "advisorIds": [str(other_advisor.id)],
            "addedIds": [str(other_advisor.id)],
            "removedIds": [str(advisor.id)],
        },
        {
            "contactId": contact["id"],
            "advisorIds": [str(advisor.id), str(other_advisor.id)],
            "addedIds": [str(advisor.id)],
            "removedIds": [],
        },
    ]  # the unchanged PUT says nothing
    audited = await audit(client, tenant, "clients.contact.advisors_changed")
    assert len(audited) == 2 and {row["targetId"] for row in audited} == {contact["id"]}
    assert str(admin.id) in {row["actorId"] for row in audited}


async def test_put_refuses_members_it_cannot_assign_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, other_advisor: Person
) -> None:
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id)])
    url = f"{CONTACTS}/{contact['id']}/advisors"
    await disable(client, tenant, other_advisor)
    refused = await client.put(url, headers=tenant.headers, json={"advisorIds": [str(other_advisor.id)]})
    assert refused.status_code == 400 and refused.json()["subCode"] == "AdvisorDisabled"
    unknown = await client.put(
        url, headers=tenant.headers, json={"advisorIds": ["0190b5a0-0000-7000-8000-00000000000a"]}
    )
    assert unknown.status_code == 400 and unknown.json()["subCode"] == "AdvisorNotFound"
    malformed = await client.put(url, headers=tenant.headers, json={"advisorIds": ["nope"]})
    assert malformed.status_code == 422
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == {str(advisor.id)}
    # An advisor may read the assignment of their contact but not change it.
    assert (await advisors_of(client, advisor.headers, contact["id"])).status_code == 200
    own = await client.put(url, headers=advisor.headers, json={"advisorIds": []})
    assert own.status_code == 403 and own.json()["subCode"] == "MissingScope"
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == {str(advisor.id)}


async def test_bulk_reassignment_moves_every_contact_at_once(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,
    other_advisor: Person,
    admin: Person,
) -> None:
    leaving, taking = advisor, other_advisor
    mine = [await create_contact(client, tenant.headers, advisorIds=[str(leaving.id)]) for _ in range(3)]
    shared = await create_contact(client, tenant.headers, advisorIds=[str(leaving.id), str(taking.id)])
    theirs = await create_contact(client, tenant.headers, advisorIds=[str(taking.id)])
    entity = await client.post(
        f"{API_PREFIX}/legal-entities",
        headers=leaving.headers,
        json={"details": {"details": {"name": "Muster AG"}}, "contacts": []},
    )
    assert entity.status_code == 201, entity.text
    await disable(client, tenant, leaving)  # the usual reason: the advisor left
    body = {"fromMemberId": str(leaving.id), "toMemberId": str(taking.id)}
    moved = await client.post(REASSIGN, headers=admin.headers, json=body)
    assert moved.status_code == 200, moved.text
    assert moved.json() == {**body, "contactCount": 4, "alreadyAssignedCount": 1}
    for contact in [*mine, shared, theirs]:
        assert ids(await advisors_of(client, tenant.headers, contact["id"])) == {str(taking.id)}
        assert await sees(client, taking, contact["id"])
    # Legal entities are not contacts: they stay.
    kept = await client.get(f"{API_PREFIX}/legal-entities/{entity.json()['id']}/details", headers=taking.headers)
    assert kept.status_code == 404
    assert await events_of(database, tenant, "contact.advisors.") == [
        ("contact.advisors.reassigned", {**body, "contactCount": 4, "alreadyAssignedCount": 1})
    ]
    audited = await audit(client, tenant, "clients.contact.advisors_reassigned")
    assert [row["data"] for row in audited] == [{**body, "contactCount": 4, "alreadyAssignedCount": 1}]
    again = await client.post(REASSIGN, headers=admin.headers, json=body)
    assert again.json()["contactCount"] == 0


async def test_bulk_reassignment_refusals(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    advisor: Person,
    other_advisor: Person,
) -> None:
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id)])
    stranger = await person(database, keys, await make_tenant(database, keys), Role.ADVISOR)
    unknown = "0190b5a0-0000-7000-8000-00000000000b"
    cases = [
        ({"fromMemberId": str(advisor.id), "toMemberId": str(advisor.id)}, "ReassignToSameMember"),
        ({"fromMemberId": unknown, "toMemberId": str(other_advisor.id)}, "AdvisorNotFound"),
        ({"fromMemberId": str(advisor.id), "toMemberId": str(stranger.id)}, "AdvisorNotFound"),
        ({"fromMemberId": str(stranger.id), "toMemberId": str(advisor.id)}, "AdvisorNotFound"),
    ]
    await disable(client, tenant, other_advisor)
    cases.append(({"fromMemberId": str(advisor.id), "toMemberId": str(other_advisor.id)}, "AdvisorDisabled"))
    for body, sub_code in cases:
        refused = await client.post(REASSIGN, headers=tenant.headers, json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["subCode"] == sub_code, (body, refused.text)
    forbidden = await client.post(
        REASSIGN, headers=advisor.headers, json={"fromMemberId": str(advisor.id), "toMemberId": str(stranger.id)}
    )
    assert forbidden.status_code == 403
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == {str(advisor.id)}
    assert await events_of(database, tenant, "contact.advisors.") == []


async def test_reassignment_stays_in_its_tenant(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture, advisor: Person
) -> None:
    other = await make_tenant(database, keys)
    theirs_from = await person(database, keys, other, Role.ADVISOR)
    theirs_to = await person(database, keys, other, Role.ADVISOR)
    ours = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id)])
    theirs = await create_contact(client, other.headers, advisorIds=[str(theirs_from.id)])
    moved = await client.post(
        REASSIGN, headers=other.headers, json={"fromMemberId": str(theirs_from.id), "toMemberId": str(theirs_to.id)}
    )
    assert moved.json()["contactCount"] == 1
    assert ids(await advisors_of(client, tenant.headers, ours["id"])) == {str(advisor.id)}
    assert ids(await advisors_of(client, other.headers, theirs["id"])) == {str(theirs_to.id)}
    assert UUID(moved.json()["toMemberId"]) == theirs_to.id


async def test_the_contact_page_shows_and_edits_the_advisors(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    admin = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    first = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    second = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    contact = await create_contact(client, tenant.headers, advisorIds=[str(first.member.id)])
    browser = await signed_in(app, admin)
    page = await browser.get(f"/portal/contacts/{contact['id']}")
    assert page.status_code == 200 and first.member.email in page.text
    checked = re.findall(r'name="advisorIds" value="([^"]+)" checked', page.text)
    assert checked == [str(first.member.id)]
    token = re.search(r'name="advisorsToken" value="([^"]+)"', page.text)
    assert token
    form = {"csrf_token": csrf_of(page), "advisorsToken": token.group(1)}
    url = f"/portal/contacts/{contact['id']}/advisors"
    assert (await browser.post(url, data={**form, "csrf_token": "forged"})).status_code == 403
    saved = await browser.post(url, data={**form, "advisorIds": [str(first.member.id), str(second.member.id)]})
    assert saved.status_code == 303, saved.text
    shown = await browser.get(saved.headers["location"])
    assert "The advisors were saved." in shown.text
    expected = {str(first.member.id), str(second.member.id)}
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == expected
    stale = await browser.post(url, data={**form, "advisorIds": [str(second.member.id)]})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == expected

    advisor_browser = await signed_in(app, first)
    own = await advisor_browser.get(f"/portal/contacts/{contact['id']}?language=de")
    assert own.status_code == 200 and "Beraterinnen und Berater" in own.text and 'name="advisorIds"' not in own.text
    refused = await advisor_browser.post(url, data={"csrf_token": csrf_of(own), "advisorIds": []})
    assert refused.status_code == 403
    assert ids(await advisors_of(client, tenant.headers, contact["id"])) == expected


async def test_bulk_reassignment_is_set_based(
    app: FastAPI, client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, admin: Person
) -> None:
    """However many contacts move, the same few statements touch the assignments (no loop)."""
    target = await person(database, app.state.keys, tenant, Role.ADVISOR)

    async def seed(count: int) -> None:
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            records = [
                ClientRecord(tenant_id=tenant.id, kind=RecordKind.CONTACT, details={}, schema_version=0)
                for _ in range(count)
            ]
            session.add_all(records)
            await session.flush()
            session.add_all(
                RecordAssignment(tenant_id=tenant.id, record_id=record.id, member_id=advisor.id) for record in records
            )
            await session.commit()

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "record_assignments" in statement:
            statements.append(statement)

    engine = app.state.database.engine.sync_engine
    body = {"fromMemberId": str(advisor.id), "toMemberId": str(target.id)}
    counts = []
    for size in (3, 400):
        await seed(size)
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            moved = await client.post(REASSIGN, headers=admin.headers, json=body)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert moved.status_code == 200 and moved.json()["contactCount"] == size, moved.text
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 2, counts
