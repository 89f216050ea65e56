"""The S3 blob store against moto's S3 server: sealed round trips, ranges, atomic writes,
deletion and listing."""

from __future__ import annotations

import hashlib
import os

import pytest

from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.storage.s3 import PART_BYTES, S3BlobStore

from ..factories import TenantFixture
from ..objectstore import MotoServer
from .test_sealed_blobs import read, seal


@pytest.fixture
def store(moto: MotoServer) -> S3BlobStore:
    return S3BlobStore(moto.new_bucket())


def objects(store: S3BlobStore) -> dict[str, bytes]:
    return {
        name: store.client.get_object(Bucket=store.bucket, Key=f"{store.prefix}{name}")["Body"].read()
        for name, _ in store.stored()
    }


async def test_sealed_round_trip_in_several_parts(
    database: Database, keys: ServerKeys, tenant: TenantFixture, store: S3BlobStore
) -> None:
    marker = b"S3-CLEAR-TEXT-MARKER"
    data = os.urandom(PART_BYTES + 3_000_000) + marker + os.urandom(1000)  # two parts
    blob = await seal(database, keys, store, tenant, data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    stored = objects(store)
    assert list(stored) == [str(blob.id)]
    assert marker not in stored[str(blob.id)]
    assert await read(database, keys, store, tenant, blob) == data


async def test_a_failed_write_leaves_no_object(store: S3BlobStore) -> None:
    with pytest.raises(RuntimeError), store.create("0190b5a0-0000-7000-8000-000000000001") as file:
        file.write(os.urandom(PART_BYTES + 10))
        raise RuntimeError("the writer died")
    assert objects(store) == {}
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert uploads == []


def test_missing_and_deleted(store: S3BlobStore) -> None:
    name = "0190b5a0-0000-7000-8000-000000000002"
    with pytest.raises(FileNotFoundError):
        store.open(name)
    with store.create(name) as file:
        file.write(b"")
    assert store.open(name).read() == b""
    store.delete(name)
    store.delete(name)  # already gone: nothing happens
    with pytest.raises(FileNotFoundError):
        store.open(name)
    with pytest.raises(ValueError, match="not a blob name"):
        store.open("../escape")
