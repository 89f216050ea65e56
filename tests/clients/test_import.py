"""JSON import: upload (checked, sealed), sync by externalId with per-record failures,
re-running the same file changes nothing, and a broken file is refused whole."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from trustroom.clients.models import DetailChange, ImportFile
from trustroom.clients.tasks import IMPORT
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX
from trustroom.settings import Settings
from trustroom.storage.models import Blob

from ..factories import TenantFixture
from ..helpers import events_of, run_jobs, stored_blobs
from .conftest import CONTACTS, anna

IMPORTS = f"{API_PREFIX}/imports"


def records(*, city: str = "Zürich") -> list[dict[str, Any]]:
    return [
        {
            "externalId": "CBS-1",
            "contactTypeId": 1,
            "username": "imported.one",
            "details": anna(address={"city": city}),
        },
        {
            "externalId": "CBS-2",
            "contactTypeId": 1,
            "username": "imported.two",
            "details": anna(personalInformation={"firstName": "Bruno", "lastName": "Meier"}),
        },
        {"externalId": "CBS-3", "contactTypeId": 1, "username": "imported.three", "details": {"nonsense": {"a": 1}}},
        {"externalId": "CBS-4", "details": "not an object"},
    ]


async def upload(client: httpx.AsyncClient, tenant: TenantFixture, *files: tuple[str, bytes]) -> httpx.Response:
    return await client.post(
        f"{IMPORTS}/contacts",
        headers=tenant.headers,
        files=[("files", (name, content, "application/json")) for name, content in files],
    )


async def sync(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> dict[str, Any]:
    started = await client.post(f"{IMPORTS}/contacts/sync", headers=tenant.headers)
    assert started.status_code == 202, started.text
    await run_jobs(database, settings, tenant, IMPORT)
    status = await client.get(f"{IMPORTS}/status/{started.json()['statusId']}", headers=tenant.headers)
    assert status.status_code == 200, status.text
    answer: dict[str, Any] = status.json()
    return answer


async def history_rows(database: Database, tenant: TenantFixture) -> int:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        return int(
            await session.scalar(
                select(func.count()).select_from(DetailChange).where(DetailChange.tenant_id == tenant.id)
            )
            or 0
        )


async def test_sync_creates_then_changes_nothing_then_updates(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    content = json.dumps(records()).encode()
    uploaded = await upload(client, tenant, ("clients.json", content))
    assert uploaded.status_code == 201, uploaded.text
    [file] = uploaded.json()["files"]
    assert (file["name"], file["recordCount"], file["byteSize"]) == ("clients.json", 4, len(content))

    first = await sync(client, database, settings, tenant)
    assert first["status"] == "PartiallySucceeded"
    counts = [
        first[key]
        for key in ("totalCount", "processedCount", "createdCount", "updatedCount", "unchangedCount", "failedCount")
    ]
    assert counts == [4, 4, 2, 0, 0, 2]
    assert sorted(first["failedExternalIds"]) == ["CBS-3", "CBS-4"]
    reasons = {failure["externalId"]: failure for failure in first["failures"]}
    assert reasons["CBS-3"]["code"] == "DetailsInvalid"
    assert (reasons["CBS-4"]["code"], reasons["CBS-4"]["position"]) == ("RecordInvalid", 3)

    found = await client.get(f"{CONTACTS}/by-external-id/Default/CBS-1", headers=tenant.headers)
    assert found.status_code == 200, found.text
    contact_url = f"{CONTACTS}/{found.json()['id']}"
    assert (await client.get(contact_url, headers=tenant.headers)).json()["username"] == "imported.one"
    history = await history_rows(database, tenant)
    created_events = await events_of(database, tenant, "contact.")
    assert [kind for kind, _ in created_events] == ["contact.created", "contact.created"]
    [(_, completed)] = await events_of(database, tenant, "import.")
    assert (completed["count"], completed["failed"]) == (2, 2)

    # The same file again: nothing changes, no history, no event.
    await upload(client, tenant, ("clients.json", content))
    again = await sync(client, database, settings, tenant)
    assert [again[key] for key in ("createdCount", "updatedCount", "unchangedCount", "failedCount")] == [0, 0, 2, 2]
    assert await history_rows(database, tenant) == history
    assert len(await events_of(database, tenant, "contact.")) == 2

    # A changed value updates that record only.
    await upload(client, tenant, ("clients.json", json.dumps(records(city="Basel")).encode()))
    changed = await sync(client, database, settings, tenant)
    assert [changed[key] for key in ("createdCount", "updatedCount", "unchangedCount")] == [0, 1, 1]
    assert found.json()["id"] in {
        data.get("contactId") for _, data in await events_of(database, tenant, "contact.updated")
    }
    moved = await client.get(contact_url, headers=tenant.headers)
    assert moved.json()["details"]["address"]["city"] == "Basel"


async def test_a_broken_file_is_refused_whole_and_nothing_is_kept(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    good = json.dumps(records()).encode()
    stored_before = set(stored_blobs(settings))
    for broken, reason in [
        (b'[{"externalId": "A", "details": {}}, {"externalId": ', "record 1 is not valid JSON"),
        (b'{"externalId": "A"}', "must be a JSON array"),
        (b"[1, 2]", "record 0 is not a JSON object"),
        (b'[{"a": 1}] trailing', "more after the closing"),
    ]:
        refused = await upload(client, tenant, ("good.json", good), ("broken.json", broken))
        assert (refused.status_code, refused.json()["subCode"]) == (400, "ImportFileInvalid"), refused.text
        assert "broken.json" in refused.json()["detail"] and reason in refused.json()["detail"]
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert (
            await session.scalar(select(func.count()).select_from(ImportFile).where(ImportFile.tenant_id == tenant.id))
            == 0
        )
        assert await session.scalar(select(func.count()).select_from(Blob).where(Blob.tenant_id == tenant.id)) == 0
    assert set(stored_blobs(settings)) == stored_before, "the good file of a refused upload is removed too"

    nothing = await client.post(f"{IMPORTS}/contacts/sync", headers=tenant.headers)
    assert (nothing.status_code, nothing.json()["subCode"]) == (400, "NothingToImport")
    not_multipart = await client.post(f"{IMPORTS}/contacts", headers=tenant.headers, json=records())
    assert (not_multipart.status_code, not_multipart.json()["subCode"]) == (415, "UnsupportedMediaType")
