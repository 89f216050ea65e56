"""Anonymization: personal data gone everywhere it was kept, irreversibly, unless held."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from trustroom.clients.models import RetentionHold
from trustroom.db import Database, bind_tenant
from trustroom.models import metadata

from ..factories import TenantFixture
from ..helpers import events_of
from ..outbound import MailCatcher, send_queued
from .conftest import CONTACTS, Person, anna, create_contact

SECRET_NAME = "Wunderlich"
SECRET_MAIL = "wunderlich.private@example.com"
PERSONAL_TABLES = (
    "client_records",
    "detail_changes",
    "change_request_items",
    "change_requests",
    "channel_verifications",
    "outbound_messages",
    "external_connections",
    "idempotency_records",
    "events",
    "audit_events",
)


async def rows_mentioning(database: Database, tenant: TenantFixture, needle: str) -> list[str]:
    """Every table (of those that ever held contact data) with a row containing `needle`."""
    found = []
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        for table in PERSONAL_TABLES:
            table_object = metadata.tables[table]
            rows = (await session.execute(select(table_object).where(table_object.c.tenant_id == tenant.id))).all()
            if any(needle in json.dumps([str(value) for value in row]) for row in rows):
                found.append(table)
    return found


async def busy_contact(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, database: Database
) -> dict[str, Any]:
    """A contact whose personal data has spread: history, a change request, a key, an external id."""
    details = anna(personalInformation={"lastName": SECRET_NAME}, communication={"email": SECRET_MAIL})
    contact = await create_contact(
        client, {**advisor.headers, "Idempotency-Key": "create-wunderlich"}, details, username=SECRET_MAIL
    )
    url = f"{CONTACTS}/{contact['id']}"
    patch = {"details": {"address": {"city": "Bern"}}, "comment": f"moved, says {SECRET_NAME}"}
    assert (await client.patch(f"{url}/details", headers=advisor.headers, json=patch)).status_code == 200
    pending = {"details": {"personalInformation": {"lastName": f"{SECRET_NAME}-Meier"}}}
    assert (await client.patch(f"{url}/details", headers=advisor.headers, json=pending)).json()["isApprovalRequired"]
    new_mail = {"details": {"communication": {"email": f"new.{SECRET_MAIL}"}}}
    assert (await client.patch(f"{url}/details", headers=tenant.headers, json=new_mail)).json()["hasPendingEmail"]
    connection = {"system": "CRM", "externalId": f"crm-{SECRET_NAME}"}
    assert (await client.post(f"{url}/external-connections", headers=tenant.headers, json=connection)).is_success
    return contact


async def test_anonymization_leaves_no_personal_data_behind(
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    advisor: Person,
    admin: Person,
    database: Database,
    settings: Any,
    mail: MailCatcher,
) -> None:
    contact = await busy_contact(client, tenant, advisor, database)
    await send_queued(database, mail.settings(settings), tenant.id)
    assert await rows_mentioning(database, tenant, SECRET_NAME)

    refused = await client.post(f"{CONTACTS}/anonymize", headers=advisor.headers, json={"contactIds": [contact["id"]]})
    assert refused.status_code == 403  # advisors lack contacts:anonymize
    done = await client.post(f"{CONTACTS}/anonymize", headers=admin.headers, json={"contactIds": [contact["id"]]})
    assert done.status_code == 200, done.text
    assert done.json() == {"anonymizedContactIds": [contact["id"]]}

    assert await rows_mentioning(database, tenant, SECRET_NAME) == []
    assert await rows_mentioning(database, tenant, "wunderlich") == []
    read = (await client.get(f"{CONTACTS}/{contact['id']}", headers=admin.headers)).json()
    assert read["anonymizedAt"] and read["username"] == f"anonymized-{contact['id']}"
    assert read["details"]["personalInformation"] == {
        "firstName": "Anonymized",
        "lastName": "Anonymized",
        "language": "DE",  # not personal data in the default schema
    }
    assert "communication" not in read["details"] and read["hasPendingEmail"] is False
    assert read["hasPendingChangeRequest"] is False
    assert [data for _, data in await events_of(database, tenant, "contact.anonymized")] == [
        {"contactIds": [contact["id"]]}
    ]
    again = await client.post(f"{CONTACTS}/anonymize", headers=admin.headers, json={"contactIds": [contact["id"]]})
    assert again.json() == {"anonymizedContactIds": []}  # irreversible, and nothing left to do
    changed = await client.patch(
        f"{CONTACTS}/{contact['id']}/details", headers=tenant.headers, json={"details": {"address": {"city": "Biel"}}}
    )
    assert changed.status_code == 409 and changed.json()["subCode"] == "RecordAnonymized"
    picture = await client.put(
        f"{CONTACTS}/{contact['id']}/profile-picture", headers=tenant.headers, json={"imageContentBase64": "AAAA"}
    )
    assert picture.json()["subCode"] == "RecordAnonymized"


async def test_a_retention_hold_refuses_the_whole_request(
    client: httpx.AsyncClient, tenant: TenantFixture, admin: Person, database: Database
) -> None:
    kept = await create_contact(client, tenant.headers)
    other = await create_contact(client, tenant.headers)
    hold_url = f"{CONTACTS}/{kept['id']}/retention-hold"
    assert (await client.get(hold_url, headers=admin.headers)).status_code == 404
    held = await client.put(hold_url, headers=admin.headers, json={"reason": "AML record keeping"})
    assert held.status_code == 200 and held.json()["until"] is None
    both = {"contactIds": [other["id"], kept["id"]]}
    refused = await client.post(f"{CONTACTS}/anonymize", headers=admin.headers, json=both)
    assert refused.status_code == 409 and refused.json()["subCode"] == "RetentionHoldActive"
    assert kept["id"] in refused.json()["detail"]
    untouched = (await client.get(f"{CONTACTS}/{other['id']}", headers=admin.headers)).json()
    assert untouched["anonymizedAt"] is None  # all or nothing

    past = await client.put(hold_url, headers=admin.headers, json={"reason": "ended", "until": "2020-01-01T00:00:00Z"})
    assert past.json()["until"].startswith("2020-01-01")
    assert (await client.post(f"{CONTACTS}/anonymize", headers=admin.headers, json=both)).status_code == 200
    released = await client.delete(hold_url, headers=admin.headers)
    assert released.status_code == 204
    assert (await client.delete(hold_url, headers=admin.headers)).status_code == 404
    unknown = await client.post(
        f"{CONTACTS}/anonymize", headers=admin.headers, json={"contactIds": ["01a2a2a2-0000-7000-8000-000000000000"]}
    )
    assert unknown.status_code == 404
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert await session.scalar(select(RetentionHold)) is None
