"""Sealed blob storage: content round-trips in segments, and anything altered, swapped or
shredded fails to read instead of returning other bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.storage import service as storage
from trustroom.storage.blobs import BlobStore, LocalBlobStore
from trustroom.storage.errors import BlobUnreadable
from trustroom.storage.keyring import SealedKeyring
from trustroom.storage.models import Blob

from ..factories import TenantFixture

PURPOSE = "tests.blobs"


async def seal(database: Database, keys: ServerKeys, store: BlobStore, tenant: TenantFixture, data: bytes) -> Blob:
    keyring = SealedKeyring(keys)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        kek = await keyring.current(session, tenant.id, PURPOSE)
        async with storage.write_blob(store, tenant.id, kek, content_type="application/octet-stream") as writer:
            for start in range(0, len(data), 100_000):
                await writer.write(data[start : start + 100_000])
        assert writer.blob is not None
        session.add(writer.blob)
        await session.commit()
        return writer.blob


async def read(database: Database, keys: ServerKeys, store: BlobStore, tenant: TenantFixture, blob: Blob) -> bytes:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        opened = await storage.open_blob(session, SealedKeyring(keys), store, tenant.id, blob.id)
    return b"".join([chunk async for chunk in opened.chunks()])


def files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


async def test_round_trip_over_several_segments_and_nothing_in_clear(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    marker = b"CLEAR-TEXT-MARKER-0042"
    data = os.urandom(1_500_000) + marker + os.urandom(1_200_000)  # three 1 MiB segments
    blob = await seal(database, keys, store, tenant, data)
    assert (blob.byte_size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    [stored] = files(tmp_path)
    assert stored.name == str(blob.id) and marker not in stored.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o600
    assert await read(database, keys, store, tenant, blob) == data


async def test_a_flipped_byte_fails_the_read(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(2_500_000)
    blob = await seal(database, keys, store, tenant, data)
    [stored] = files(tmp_path)
    for offset in (100, 1_200_000, stored.stat().st_size - 5):  # header, a middle segment, the last tag
        original = stored.read_bytes()
        altered = bytearray(original)
        altered[offset] ^= 0x01
        stored.write_bytes(bytes(altered))
        with pytest.raises(BlobUnreadable):
            await read(database, keys, store, tenant, blob)
        stored.write_bytes(original)
    assert await read(database, keys, store, tenant, blob) == data


async def test_swapped_content_and_shredded_keys_cannot_be_read(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    first = await seal(database, keys, store, tenant, b"first" * 1000)
    second = await seal(database, keys, store, tenant, b"second" * 1000)
    by_name = {path.name: path for path in files(tmp_path)}
    first_file, second_file = by_name[str(first.id)], by_name[str(second.id)]
    first_bytes = first_file.read_bytes()
    first_file.write_bytes(second_file.read_bytes())  # another blob's content under this name
    with pytest.raises(BlobUnreadable):
        await read(database, keys, store, tenant, first)
    first_file.write_bytes(first_bytes)
    assert await read(database, keys, store, tenant, first) == b"first" * 1000

    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        assert await SealedKeyring(keys).destroy(session, tenant.id, PURPOSE)
        await session.commit()
    for blob in (first, second):
        with pytest.raises(BlobUnreadable):
            await read(database, keys, store, tenant, blob)


async def test_a_failed_write_leaves_no_file(
    database: Database, keys: ServerKeys, tenant: TenantFixture, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        kek = await SealedKeyring(keys).current(session, tenant.id, PURPOSE)
        with pytest.raises(ValueError, match="source went away"):
            async with storage.write_blob(store, tenant.id, kek, content_type="text/plain") as writer:
                await writer.write(os.urandom(600_000))
                raise ValueError("source went away")
    assert files(tmp_path) == []
