"""Folders and documents through the API: upload streamed and sealed, versions, download
with ranges, sharing, deletion, and what lands on disk."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import Document
from trustroom.settings import Settings
from trustroom.storage import tasks as storage_tasks
from trustroom.storage.models import Blob, KeyEncryptionKey

from ..factories import TenantFixture
from ..helpers import events_of, run_jobs, stored_blobs
from .conftest import EXCHANGES, create_exchange, create_folder, upload

PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 10


@pytest.fixture
async def room(client: httpx.AsyncClient, tenant: TenantFixture) -> dict[str, Any]:
    exchange = await create_exchange(client, tenant.headers)
    folder = await create_folder(client, tenant.headers, exchange["id"])
    return {"id": exchange["id"], "folder": folder["id"], "external": exchange["externalExchangeId"]}


async def test_folders_tree_names_and_deletion(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    exchange = await create_exchange(client, tenant.headers)
    url = f"{EXCHANGES}/{exchange['id']}/folders"
    taxes = await create_folder(client, tenant.headers, exchange["id"], "Steuern")
    await create_folder(client, tenant.headers, exchange["id"], "Anlagen")
    year = await create_folder(client, tenant.headers, exchange["id"], "2026", parentId=taxes["id"])
    assert year["parentId"] == taxes["id"]
    same = await client.post(url, headers=tenant.headers, json={"name": "STEUERN"})
    assert same.status_code == 409 and same.json()["subCode"] == "FolderNameTaken"
    nested_same = await client.post(url, headers=tenant.headers, json={"name": "steuern", "parentId": taxes["id"]})
    assert nested_same.status_code == 201  # another level: no clash
    listed = (await client.get(url, headers=tenant.headers)).json()
    assert [f["name"] for f in listed["items"]] == ["Anlagen", "Steuern", "2026", "steuern"]
    renamed = await client.patch(
        f"{url}/{year['id']}",
        headers=tenant.headers,
        json={"name": " 2026 / final ", "concurrencyToken": year["concurrencyToken"]},
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "2026 _ final"
    stale = await client.patch(
        f"{url}/{year['id']}", headers=tenant.headers, json={"name": "x", "concurrencyToken": year["concurrencyToken"]}
    )
    assert stale.status_code == 409
    bad = await client.patch(f"{url}/{year['id']}", headers=tenant.headers, json={"name": "..."})
    assert bad.status_code == 400 and bad.json()["subCode"] == "NameInvalid"
    refused = await client.delete(f"{url}/{taxes['id']}", headers=tenant.headers)
    assert refused.status_code == 409 and refused.json()["subCode"] == "FolderNotEmpty"
    gone = await client.delete(f"{url}/{taxes['id']}", headers=tenant.headers, params={"recursive": "true"})
    assert gone.status_code == 204
    assert [f["name"] for f in (await client.get(url, headers=tenant.headers)).json()["items"]] == ["Anlagen"]
    unknown_parent = await client.post(url, headers=tenant.headers, json={"name": "x", "parentId": taxes["id"]})
    assert unknown_parent.status_code == 404 and unknown_parent.json()["subCode"] == "FolderNotFound"


async def test_upload_is_sealed_sniffed_and_announced(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, room: dict[str, Any]
) -> None:
    marker = b"MARKER-" + os.urandom(8).hex().encode()
    content = PDF + marker * 1000
    before = stored_blobs(settings)
    response = await upload(
        client, tenant.headers, room["id"], room["folder"], "../Vertrag: 2026?.pdf", content, "image/gif"
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["name"] == "Vertrag_ 2026_.pdf"
    assert (document["contentType"], document["byteSize"]) == ("application/pdf", len(content))
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert (document["side"], document["shared"], document["version"], document["status"]) == (
        "advisor",
        False,
        1,
        "available",
    )
    assert document["uploadedBy"] == {"kind": "app", "name": "test"}
    new_files = {k: v for k, v in stored_blobs(settings).items() if k not in before}
    assert len(new_files) == 1
    assert all(marker not in data and b"Vertrag" not in data for data in new_files.values())
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        if database.url.startswith("sqlite"):
            dump = "\n".join(await _sqlite_dump(session))
            assert marker.decode() not in dump
    uploaded = await events_of(database, tenant, "exchange.document")
    assert uploaded == [
        (
            "exchange.document.uploaded",
            {
                "exchangeId": room["id"],
                "externalExchangeId": room["external"],
                "folderId": room["folder"],
                "documentId": document["id"],
                "version": 1,
                "name": "Vertrag_ 2026_.pdf",
                "side": "advisor",
                "byteSize": len(content),
                "sha256": document["sha256"],
                "shared": False,
                "by": f"app:{tenant.api_key_id}",
            },
        )
    ]


async def _sqlite_dump(session: Any) -> list[str]:
    tables = [row[0] for row in await session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
    dump: list[str] = []
    for table in tables:
        dump.extend(repr(tuple(row)) for row in await session.execute(text(f'SELECT * FROM "{table}"')))
    return dump


async def test_same_name_becomes_a_new_version(
    client: httpx.AsyncClient, tenant: TenantFixture, room: dict[str, Any]
) -> None:
    first = (await upload(client, tenant.headers, room["id"], room["folder"], "Report.txt", b"first")).json()
    second = (await upload(client, tenant.headers, room["id"], room["folder"], "report.TXT", b"second, longer")).json()
    assert second["id"] == first["id"] and second["version"] == 2 and second["name"] == "Report.txt"
    detail = (await client.get(f"{EXCHANGES}/{room['id']}/documents/{first['id']}", headers=tenant.headers)).json()
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    assert [v["byteSize"] for v in detail["versions"]] == [14, 5]
    content = f"{EXCHANGES}/{room['id']}/documents/{first['id']}/content"
    assert (await client.get(content, headers=tenant.headers)).content == b"second, longer"
    assert (await client.get(content, headers=tenant.headers, params={"version": 1})).content == b"first"
    missing = await client.get(content, headers=tenant.headers, params={"version": 3})
    assert missing.status_code == 404 and missing.json()["subCode"] == "VersionNotFound"
    listed = (
        await client.get(f"{EXCHANGES}/{room['id']}/folders/{room['folder']}/documents", headers=tenant.headers)
    ).json()
    assert [(d["name"], d["version"]) for d in listed["items"]] == [("Report.txt", 2)]


async def test_download_whole_and_ranges(
    client: httpx.AsyncClient, tenant: TenantFixture, room: dict[str, Any]
) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)  # over three segments of the streaming AEAD
    document = (await upload(client, tenant.headers, room["id"], room["folder"], "Zürich «data».bin", content)).json()
    url = f"{EXCHANGES}/{room['id']}/documents/{document['id']}/content"
    whole = await client.get(url, headers=tenant.headers)
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "application/octet-stream"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"] == (
        "attachment; filename=\"Z_rich _data_.bin\"; filename*=UTF-8''Z%C3%BCrich%20%C2%ABdata%C2%BB.bin"
    )
    size = len(content)
    for asked, start, stop in [
        ("bytes=0-99", 0, 100),
        ("bytes=1048570-2097160", 1048570, 2097161),
        (f"bytes={size - 10}-", size - 10, size),
        ("bytes=-5", size - 5, size),
        (f"bytes=5-{size * 2}", 5, size),
    ]:
        part = await client.get(url, headers={**tenant.headers, "Range": asked})
        assert part.status_code == 206, asked
        assert part.content == content[start:stop], asked
        assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
    beyond = await client.get(url, headers={**tenant.headers, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.json()["subCode"] == "RangeNotSatisfiable"
    for ignored in ["bytes=0-1,5-6", "items=0-5", "bytes=9-3"]:
        full = await client.get(url, headers={**tenant.headers, "Range": ignored})
        assert full.status_code == 200 and len(full.content) == size, ignored
    stale = await client.get(url, headers={**tenant.headers, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200
    fresh = await client.get(
        url, headers={**tenant.headers, "Range": "bytes=0-9", "If-Range": f'"{document["sha256"]}"'}
    )
    assert fresh.status_code == 206 and fresh.content == content[:10]


@pytest.mark.parametrize("where", ["header", "middle", "end"])
async def test_a_flipped_byte_fails_the_download(
    client: httpx.AsyncClient, settings: Settings, tenant: TenantFixture, room: dict[str, Any], where: str
) -> None:
    content = os.urandom(2 * 1024 * 1024 + 5)
    before = set(stored_blobs(settings))
    document = (await upload(client, tenant.headers, room["id"], room["folder"], "a.bin", content)).json()
    (name,) = set(stored_blobs(settings)) - before
    path = next(p for p in (settings.data_dir / "blobs").rglob(name))
    sealed = bytearray(path.read_bytes())
    sealed[{"header": 5, "middle": len(sealed) // 2, "end": len(sealed) - 3}[where]] ^= 0x01
    path.write_bytes(bytes(sealed))
    url = f"{EXCHANGES}/{room['id']}/documents/{document['id']}/content"
    received = b""
    try:
        async with client.stream("GET", url, headers=tenant.headers) as response:
            if response.status_code != 200:
                assert response.status_code == 500
                assert (await response.aread()) and response.headers["content-type"] == "application/problem+json"
                return
            async for chunk in response.aiter_raw():
                received += chunk
    except (httpx.HTTPError, RuntimeError):
        pass
    assert len(received) < len(content), "a damaged blob must not download whole"
    assert content.startswith(received), "what arrives before the damage is the original"


async def test_too_large_is_refused_and_leaves_nothing(
    app: Any,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    room: dict[str, Any],
) -> None:
    limit = app.state.settings.exchange.upload_max_bytes
    app.state.settings.exchange.upload_max_bytes = 4096
    try:
        before = stored_blobs(settings)
        response = await upload(client, tenant.headers, room["id"], room["folder"], "big.bin", os.urandom(5000))
    finally:
        app.state.settings.exchange.upload_max_bytes = limit
    assert response.status_code == 413 and response.json()["subCode"] == "DocumentTooLarge"
    assert stored_blobs(settings) == before
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert not (await session.scalars(select(Document).where(Document.tenant_id == tenant.id))).all()


async def test_bad_uploads(client: httpx.AsyncClient, tenant: TenantFixture, room: dict[str, Any]) -> None:
    url = f"{EXCHANGES}/{room['id']}/folders/{room['folder']}/documents"
    as_json = await client.post(url, headers=tenant.headers, json={"file": "x"})
    assert as_json.status_code == 415
    wrong_part = await client.post(url, headers=tenant.headers, files={"document": ("a.txt", b"x")})
    assert wrong_part.status_code == 400 and wrong_part.json()["subCode"] == "MultipartInvalid"
    no_file = await client.post(url, headers=tenant.headers, data={"x": "y"}, files={})
    assert no_file.status_code in (400, 415)
    two = await client.post(url, headers=tenant.headers, files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))])
    assert two.status_code == 400
    unnamed = await upload(client, tenant.headers, room["id"], room["folder"], "...", b"x")
    assert unnamed.status_code == 400 and unnamed.json()["subCode"] == "NameInvalid"
    listed = (await client.get(url, headers=tenant.headers)).json()
    assert listed["totalCount"] == 0


async def test_share_and_delete(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, room: dict[str, Any]
) -> None:
    before_upload = set(stored_blobs(settings))
    document = (await upload(client, tenant.headers, room["id"], room["folder"], "a.txt", b"hello")).json()
    mine = set(stored_blobs(settings)) - before_upload
    assert len(mine) == 1
    base = f"{EXCHANGES}/{room['id']}/documents/{document['id']}"
    shared = await client.post(f"{base}/share", headers=tenant.headers)
    assert shared.status_code == 200 and shared.json()["shared"] is True and shared.json()["sharedAt"]
    again = await client.post(f"{base}/share", headers=tenant.headers)
    assert again.json()["sharedAt"] == shared.json()["sharedAt"]
    assert (await client.delete(base, headers=tenant.headers)).status_code == 204
    assert (await client.get(base, headers=tenant.headers)).status_code == 404
    types = [t for t, _ in await events_of(database, tenant, "exchange.document")]
    assert types == ["exchange.document.uploaded", "exchange.document.shared", "exchange.document.deleted"]
    await run_jobs(database, settings, tenant, storage_tasks.DELETE_CONTENT_TASK)
    assert not mine & set(stored_blobs(settings))


async def test_deleting_an_exchange_shreds_its_key(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, room: dict[str, Any]
) -> None:
    before = set(stored_blobs(settings))
    for name in ("a.txt", "b.txt"):
        await upload(client, tenant.headers, room["id"], room["folder"], name, b"content of " + name.encode())
    room_files = set(stored_blobs(settings)) - before
    assert len(room_files) == 2
    response = await client.delete(f"{EXCHANGES}/{room['id']}", headers=tenant.headers)
    assert response.status_code == 204
    assert (await client.get(f"{EXCHANGES}/{room['id']}", headers=tenant.headers)).status_code == 404
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        kek = await session.scalar(select(KeyEncryptionKey).where(KeyEncryptionKey.purpose == f"exchange:{room['id']}"))
        assert kek is not None and kek.sealed_key is None and kek.destroyed_at is not None
        assert not (await session.scalars(select(Blob).where(Blob.kek_id == kek.id))).all()
    await run_jobs(database, settings, tenant, storage_tasks.DELETE_CONTENT_TASK)
    assert not room_files & set(stored_blobs(settings))
    assert [t for t, _ in await events_of(database, tenant, "exchange.deleted")] == ["exchange.deleted"]
