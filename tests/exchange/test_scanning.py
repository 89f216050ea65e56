"""Uploads wait in quarantine until a real clamd finds them clean; infected or unscannable
ones are never served; while the scanner is down, uploads are refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from trustroom.app import create_app
from trustroom.db import Database
from trustroom.exchange import tasks as exchange_tasks
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..helpers import events_of, run_jobs, stored_blobs
from ..outbound import free_port
from ..scanner import MARKER, SIGNATURE, STREAM_MAX, ClamdServer
from .conftest import EXCHANGES, create_exchange, create_folder, upload


def _scanning(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"exchange": settings.exchange.model_copy(update={"clamd_url": url})})


@pytest.fixture
async def scanned(settings: Settings, clamd: ClamdServer) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    scanning = _scanning(settings, clamd.url)
    app: FastAPI = create_app(scanning, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("198.18.2.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, scanning
    await app.state.database.dispose()


async def _room(client: httpx.AsyncClient, tenant: TenantFixture) -> tuple[str, str]:
    exchange = await create_exchange(client, tenant.headers)
    folder = await create_folder(client, tenant.headers, exchange["id"])
    return exchange["id"], folder["id"]


async def test_clean_infected_and_too_large(
    scanned: tuple[httpx.AsyncClient, Settings], database: Database, tenant: TenantFixture
) -> None:
    client, scanning = scanned
    exchange_id, folder_id = await _room(client, tenant)
    uploads: dict[str, Any] = {}
    for name, content in {
        "clean.txt": b"nothing to see " * 1000,
        "infected.bin": os.urandom(300_000) + MARKER + os.urandom(300_000),
        "large.bin": os.urandom(STREAM_MAX + 100_000),
    }.items():
        response = await upload(client, tenant.headers, exchange_id, folder_id, name, content)
        assert response.status_code == 201, response.text
        uploads[name] = response.json()
        assert uploads[name]["status"] == "processing"
        held = await client.get(
            f"{EXCHANGES}/{exchange_id}/documents/{uploads[name]['id']}/content", headers=tenant.headers
        )
        assert held.status_code == 409 and held.json()["subCode"] == "DocumentNotAvailable"
    assert await events_of(database, tenant, "exchange.document") == []  # nothing announced yet
    await run_jobs(database, scanning, tenant, exchange_tasks.SCAN)
    status = {}
    for name, document in uploads.items():
        read = (
            await client.get(f"{EXCHANGES}/{exchange_id}/documents/{document['id']}", headers=tenant.headers)
        ).json()
        status[name] = read["status"]
    assert status == {"clean.txt": "available", "infected.bin": "infected", "large.bin": "scanFailed"}
    clean = await client.get(
        f"{EXCHANGES}/{exchange_id}/documents/{uploads['clean.txt']['id']}/content", headers=tenant.headers
    )
    assert clean.status_code == 200 and clean.content == b"nothing to see " * 1000
    for name in ("infected.bin", "large.bin"):
        refused = await client.get(
            f"{EXCHANGES}/{exchange_id}/documents/{uploads[name]['id']}/content", headers=tenant.headers
        )
        assert refused.status_code == 409
    announced = {(t, d["name"], d.get("finding")) for t, d in await events_of(database, tenant, "exchange.document")}
    assert ("exchange.document.uploaded", "clean.txt", None) in announced
    assert ("exchange.document.quarantined", "infected.bin", SIGNATURE) in announced
    assert any(
        t == "exchange.document.quarantined" and n == "large.bin" and "limit" in (f or "") for t, n, f in announced
    )
    assert len(announced) == 3


async def test_uploads_are_refused_while_the_scanner_is_down(
    settings: Settings, database: Database, tenant: TenantFixture, client: httpx.AsyncClient
) -> None:
    exchange_id, folder_id = await _room(client, tenant)
    down = create_app(_scanning(settings, f"tcp://127.0.0.1:{free_port()}"), run_worker_in_process=False)
    transport = httpx.ASGITransport(app=down, raise_app_exceptions=False, client=("198.18.2.2", 5000))
    before = stored_blobs(settings)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as refused_client:
            response = await upload(refused_client, tenant.headers, exchange_id, folder_id, "a.txt", b"hello")
    finally:
        await down.state.database.dispose()
    assert response.status_code == 503 and response.json()["subCode"] == "ScannerUnavailable"
    assert stored_blobs(settings) == before
    listed = (
        await client.get(f"{EXCHANGES}/{exchange_id}/folders/{folder_id}/documents", headers=tenant.headers)
    ).json()
    assert listed["totalCount"] == 0
