"""Every download is audited without a write on the request path: the request notes the
entry in memory (audit.DeferredAudit), a background flush chains it onto the tenant's log."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from trustroom.actor import Actor, ActorKind
from trustroom.app import create_app
from trustroom.audit import service as audit
from trustroom.audit.models import AuditEvent
from trustroom.auth.models import Role
from trustroom.clients.tasks import EXPORT
from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import DocumentVersion
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..clients.test_pages import signed_in
from ..exchange.conftest import EXCHANGES, create_exchange, create_folder, upload
from ..exchange.test_client_portal import browser, sign_in  # noqa: F401 - `browser` is a fixture
from ..factories import TenantFixture, make_member, make_tenant
from ..helpers import run_jobs, sql_statements

CONTENT = bytes(range(256)) * 40  # 10,240 bytes
DOWNLOADED = "exchange.document.downloaded"


async def audited(database: Database, tenant_id: UUID, action: str) -> list[AuditEvent]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant_id)
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
        )
        return sorted(rows, key=lambda row: row.seq)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"} or "IMMEDIATE" in s]


@pytest.fixture
async def document(client: httpx.AsyncClient, tenant: TenantFixture) -> dict[str, Any]:
    exchange = await create_exchange(client, tenant.headers)
    folder = await create_folder(client, tenant.headers, exchange["id"])
    uploaded = await upload(client, tenant.headers, exchange["id"], folder["id"], "offer.bin", CONTENT)
    assert uploaded.status_code == 201, uploaded.text
    return {**uploaded.json(), "exchange": exchange}


async def test_an_api_download_writes_nothing_and_is_audited_by_the_flush(
    app: FastAPI, client: httpx.AsyncClient, database: Database, tenant: TenantFixture, document: dict[str, Any]
) -> None:
    url = f"{EXCHANGES}/{document['exchange']['id']}/documents/{document['id']}/content"
    queue: audit.DeferredAudit = app.state.audit_queue
    await queue.flush(app.state.database)  # the upload's own (deferred) last-used times aside
    with sql_statements(app.state.database) as seen:
        whole = await client.get(url, headers={**tenant.headers, "X-Correlation-Id": "dl-whole"})
        part = await client.get(url, headers={**tenant.headers, "Range": "bytes=100-199", "X-Correlation-Id": "dl-r"})
    assert whole.status_code == 200 and whole.content == CONTENT
    assert part.status_code == 206 and part.content == CONTENT[100:200]
    assert seen, "the download read from the database"
    assert writes(seen) == [], seen
    assert queue.pending == 2
    assert await audited(database, tenant.id, DOWNLOADED) == []

    assert await queue.flush(app.state.database) == 2
    assert queue.pending == 0
    first, second = await audited(database, tenant.id, DOWNLOADED)
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        version_id = await session.scalar(
            select(DocumentVersion.id).where(DocumentVersion.document_id == UUID(document["id"]))
        )
    key_id = str(tenant.api_key_id)
    assert (first.actor_kind, first.actor_id, first.api_key_id) == ("app", key_id, key_id)
    assert (first.target_type, first.target_id) == ("exchangeDocument", document["id"])
    assert first.ip == "203.0.113.10" and first.correlation_id == "dl-whole"
    assert first.data == {
        "exchangeId": document["exchange"]["id"],
        "versionId": str(version_id),
        "version": 1,
        "bytes": len(CONTENT),
        "size": len(CONTENT),
        "range": None,
    }
    assert second.correlation_id == "dl-r" and second.seq == first.seq + 1
    assert (second.data["bytes"], second.data["range"]) == (100, f"bytes 100-199/{len(CONTENT)}")
    async with database.session(write=False) as session:
        assert (await audit.verify(session, tenant.id)).intact


async def test_failed_downloads_note_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    document: dict[str, Any],
) -> None:
    url = f"{EXCHANGES}/{document['exchange']['id']}/documents/{document['id']}/content"
    queue: audit.DeferredAudit = app.state.audit_queue
    await queue.flush(app.state.database)
    beyond = await client.get(url, headers={**tenant.headers, "Range": f"bytes={len(CONTENT)}-"})
    foreign = await client.get(url, headers=other_tenant.headers)
    assert (beyond.status_code, foreign.status_code) == (416, 404)
    assert queue.pending == 0


async def test_client_and_advisor_page_downloads_are_audited_as_their_people(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,  # noqa: F811 - the fixture imported above
    database: Database,
    settings: Settings,
    keys: ServerKeys,
    tenant: TenantFixture,
    document: dict[str, Any],
) -> None:
    exchange = document["exchange"]
    shared = await client.post(f"{EXCHANGES}/{exchange['id']}/documents/{document['id']}/share", headers=tenant.headers)
    assert shared.status_code == 200, shared.text
    await sign_in(browser, database, settings, tenant, exchange)
    by_client = await browser.get(f"/x/documents/{document['id']}/content", headers={"Range": "bytes=-10"})
    assert by_client.status_code == 206 and by_client.content == CONTENT[-10:]
    # An admin: the app made the exchange for no contact and no owner, so only admins see it.
    member = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    advisor = await signed_in(app, member)
    by_advisor = await advisor.get(f"/portal/exchanges/{exchange['id']}/documents/{document['id']}/content")
    assert by_advisor.status_code == 200 and by_advisor.content == CONTENT
    await app.state.audit_queue.flush(app.state.database)
    rows = await audited(database, tenant.id, DOWNLOADED)
    kinds = [(row.actor_kind, row.actor_id, row.api_key_id, row.data["bytes"]) for row in rows]
    assert kinds[-2][0] == "client" and kinds[-2][2:] == (None, 10)
    assert kinds[-1] == ("member", str(member.member.id), None, len(CONTENT))


async def test_an_export_file_download_is_audited(
    app: FastAPI, client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    started = await client.post("/api/v1/contacts/export", headers=tenant.headers, json={})
    assert started.status_code == 202, started.text
    export_id = started.json()["exportJobId"]
    await run_jobs(database, settings, tenant, EXPORT)
    with sql_statements(app.state.database) as seen:
        fetched = await client.get(f"/api/v1/exports/{export_id}/file", headers=tenant.headers)
    assert fetched.status_code == 200, fetched.text
    assert writes(seen) == [], seen
    await app.state.audit_queue.flush(app.state.database)
    (row,) = await audited(database, tenant.id, "clients.export.downloaded")
    assert (row.target_type, row.target_id, row.actor_kind) == ("export", export_id, "app")
    assert row.data["bytes"] == len(fetched.content)


async def test_flushes_of_several_processes_and_direct_records_keep_every_chain_intact(
    settings: Settings, keys: ServerKeys
) -> None:
    """Two queues on two engines (two processes) and member creation (audit.record) at once."""
    databases = [Database(settings.resolved_database_url) for _ in range(3)]
    try:
        tenants = [await make_tenant(databases[0], keys) for _ in range(2)]
        queues = [audit.DeferredAudit(), audit.DeferredAudit()]
        for n in range(120):
            tenant = tenants[n % 2]
            actor = Actor(tenant.id, ActorKind.APP, tenant.api_key_id, api_key_id=tenant.api_key_id)
            queues[n % 3 % 2].note(actor, DOWNLOADED, target_type="exchangeDocument", data={"n": n})

        async def members() -> None:
            for n in range(6):
                await make_member(databases[2], keys, tenants[n % 2].id)

        written = await asyncio.gather(queues[0].flush(databases[0]), queues[1].flush(databases[1]), members())
        assert written[0] + written[1] == 120
        async with databases[0].session(write=False) as session:
            for tenant in tenants:
                report = await audit.verify(session, tenant.id)
                assert report.intact, report.first_break
        for tenant in tenants:
            assert len(await audited(databases[0], tenant.id, DOWNLOADED)) == 60
            assert len(await audited(databases[0], tenant.id, "auth.member.created")) == 3
    finally:
        for database in databases:
            await database.dispose()


async def test_a_failed_flush_keeps_the_entries_for_the_next_one(
    settings: Settings, database: Database, tenant: TenantFixture, tmp_path: Any
) -> None:
    queue = audit.DeferredAudit()
    actor = Actor(tenant.id, ActorKind.APP, tenant.api_key_id, api_key_id=tenant.api_key_id)
    for n in range(3):
        queue.note(actor, DOWNLOADED, data={"n": n})
    broken = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            await queue.flush(broken)
    finally:
        await broken.dispose()
    assert queue.pending == 3
    assert await queue.flush(database) == 3
    rows = await audited(database, tenant.id, DOWNLOADED)
    assert [row.data["n"] for row in rows] == [0, 1, 2]


async def test_the_app_writes_what_is_noted_when_it_shuts_down(
    settings: Settings, database: Database, tenant: TenantFixture
) -> None:
    """Noted a moment before the end, long before the next round: the last flush writes it."""
    application = create_app(settings, run_worker_in_process=False)
    actor = Actor(tenant.id, ActorKind.APP, tenant.api_key_id, api_key_id=tenant.api_key_id)
    async with application.router.lifespan_context(application):
        await asyncio.sleep(0.2)  # the flusher's first round is done; the next is a second away
        application.state.audit_queue.note(actor, DOWNLOADED, target_type="exchangeDocument", data={"last": True})
        assert application.state.audit_queue.pending == 1
    assert application.state.audit_queue.pending == 0
    rows = await audited(database, tenant.id, DOWNLOADED)
    assert [row.data for row in rows] == [{"last": True}]
