"""KEK rotation re-wraps data keys and never touches content; the orphan sweep removes
content without a row and unfinished writes, and only those."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select

from trustroom import cli
from trustroom.db import Database, bind_tenant, cross_tenant, utcnow
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.storage import rotation
from trustroom.storage import service as storage
from trustroom.storage.blobs import BlobStore, LocalBlobStore
from trustroom.storage.keyring import SealedKeyring
from trustroom.storage.models import Blob, KeyEncryptionKey
from trustroom.storage.s3 import S3BlobStore

from ..conftest import TEST_SECRET
from ..factories import TenantFixture
from ..objectstore import MotoServer
from .test_sealed_blobs import PURPOSE, files, read, seal


async def _keks(database: Database, tenant: TenantFixture) -> list[KeyEncryptionKey]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        rows = await session.scalars(
            select(KeyEncryptionKey)
            .where(KeyEncryptionKey.tenant_id == tenant.id, KeyEncryptionKey.purpose == PURPOSE)
            .order_by(KeyEncryptionKey.id)
        )
        return list(rows)


async def test_rotation_rewraps_keys_and_leaves_content_alone(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    data = [os.urandom(1_100_000), b"small"]
    blobs = [await seal(database, keys, store, tenant, item) for item in data]
    before = {path: path.read_bytes() for path in files(tmp_path)}
    keyring = SealedKeyring(keys)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        old_kek = await keyring.current(session, tenant.id, PURPOSE)
        rotated = await rotation.rotate(session, keyring, tenant_id=tenant.id, purpose=PURPOSE)
        await session.commit()
    assert (rotated.keys, rotated.data_keys) == (1, 2)
    old, new = await _keks(database, tenant)
    assert old.retired_at is not None and old.sealed_key is not None and new.retired_at is None
    assert {path: path.read_bytes() for path in files(tmp_path)} == before  # content untouched
    for blob, item in zip(blobs, data, strict=True):
        assert await read(database, keys, store, tenant, blob) == item

    # A writer that fetched the old KEK before the rotation finishes after it.
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        async with storage.write_blob(store, tenant.id, old_kek, content_type="text/plain") as writer:
            await writer.write(b"late")
        assert writer.blob is not None
        session.add(writer.blob)
        await session.commit()
    late = writer.blob
    assert await read(database, keys, store, tenant, late) == b"late"
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        async with cross_tenant(session):
            kept = await rotation.finish_retired(session, keyring, retired_before=utcnow() - timedelta(hours=1))
            erased = await rotation.finish_retired(session, keyring, retired_before=utcnow() + timedelta(seconds=1))
        await session.commit()
    assert kept == 0 and erased >= 1
    old, new = await _keks(database, tenant)
    assert old.sealed_key is None and old.destroyed_at is not None
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        kek_ids = set(await session.scalars(select(Blob.kek_id).where(Blob.id.in_([b.id for b in [*blobs, late]]))))
    assert kek_ids == {new.id}
    assert await read(database, keys, store, tenant, late) == b"late"


async def test_keys_rotate_from_the_command_line(
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    store = LocalBlobStore(settings.data_dir / "blobs")
    blob = await seal(database, keys, store, tenant, b"rotate me")
    monkeypatch.setenv("TRUSTROOM_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TRUSTROOM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRUSTROOM_SECRET_KEY", TEST_SECRET)
    argv = ["keys", "rotate", "--tenant", str(tenant.id), "--purpose", PURPOSE, "--json"]
    assert await asyncio.to_thread(cli.run, argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"keysRotated": 1, "dataKeysRewrapped": 1}
    assert await read(database, keys, store, tenant, blob) == b"rotate me"


async def _sweep(database: Database, store: BlobStore, before: Any) -> tuple[int, int]:
    async with database.session() as session, cross_tenant(session):
        swept = await storage.sweep_orphans(session, store, before=before)
        await session.commit()
    return swept


async def test_the_sweep_removes_orphans_and_dead_partial_writes_only(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    kept = await seal(database, keys, store, tenant, b"accounted for")
    orphan = str(uuid4())
    with store.create(orphan) as file:
        file.write(b"no row points here")
    partial = tmp_path / "ab" / "cd" / f".{uuid4()}.1234abcd.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"a killed writer's leftovers")
    foreign = tmp_path / "zz" / "zz" / "README"
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_text("not ours")
    assert await _sweep(database, store, utcnow() - timedelta(hours=1)) == (0, 0)  # all too young
    old = (utcnow() - timedelta(hours=2)).timestamp()
    os.utime(partial, (old, old))
    assert await _sweep(database, store, utcnow() + timedelta(seconds=5)) == (1, 1)
    names = {path.name for path in files(tmp_path)}
    assert names == {str(kept.id), "README"}
    assert await read(database, keys, store, tenant, kept) == b"accounted for"


async def test_the_sweep_on_s3_removes_orphans_and_abandoned_uploads(
    database: Database, keys: ServerKeys, tenant: TenantFixture, moto: MotoServer
) -> None:
    store = S3BlobStore(moto.new_bucket())
    kept = await seal(database, keys, store, tenant, b"in the bucket")
    orphan = str(uuid4())
    with store.create(orphan) as file:
        file.write(b"no row")
    store.client.create_multipart_upload(Bucket=store.bucket, Key=f"{store.prefix}{uuid4()}")
    assert await _sweep(database, store, utcnow() + timedelta(seconds=5)) == (1, 1)
    assert [name for name, _ in store.stored()] == [str(kept.id)]
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
