"""Envelope encryption with tink: key-encryption keys (AEAD) wrap per-blob data keys
(streaming AEAD, AES256_GCM_HKDF_1MB). Pure functions, no storage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import BinaryIO, cast
from uuid import UUID

import tink
from tink import aead, secret_key_access, streaming_aead

SEGMENT_BYTES = 1 << 20


@cache
def _registered() -> None:
    aead.register()
    streaming_aead.register()


def new_kek() -> bytes:
    """A fresh key-encryption key, serialized (secret: seal it before storing)."""
    _registered()
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    return cast(bytes, tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))


def kek_aead(serialized: bytes) -> aead.Aead:
    _registered()
    handle = tink.proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
    return handle.primitive(aead.Aead)


def _context(blob_id: UUID) -> bytes:
    # Binding key and content to the blob id: a wrapped key or a sealed file swapped
    # between two blobs fails to open instead of showing the other blob's content.
    return b"trustroom-blob:" + blob_id.bytes


def new_data_key(kek: aead.Aead, blob_id: UUID) -> tuple[bytes, streaming_aead.StreamingAead]:
    """A fresh data key for one blob: (its wrapped form to store, the primitive to seal with)."""
    _registered()
    handle = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
    wrapped = tink.proto_keyset_format.serialize_encrypted(handle, kek, _context(blob_id))
    return wrapped, handle.primitive(streaming_aead.StreamingAead)


def open_data_key(kek: aead.Aead, wrapped: bytes, blob_id: UUID) -> streaming_aead.StreamingAead:
    _registered()
    handle = tink.proto_keyset_format.parse_encrypted(wrapped, kek, _context(blob_id))
    return handle.primitive(streaming_aead.StreamingAead)


def rewrap(old_kek: aead.Aead, new_kek: aead.Aead, wrapped: bytes, blob_id: UUID) -> bytes:
    """The same data key wrapped by another KEK: rotation touches keys, never content."""
    _registered()
    handle = tink.proto_keyset_format.parse_encrypted(wrapped, old_kek, _context(blob_id))
    return cast(bytes, tink.proto_keyset_format.serialize_encrypted(handle, new_kek, _context(blob_id)))


class _KeepOpen:
    """The destination as tink sees it: closing the encrypting stream must not close the
    store's file, whose own block commits it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.flush()

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def sealing(key: streaming_aead.StreamingAead, destination: BinaryIO, blob_id: UUID) -> Iterator[BinaryIO]:
    """A writable stream: plaintext in, sealed segments out to `destination`."""
    stream = key.new_encrypting_stream(cast(BinaryIO, _KeepOpen(destination)), _context(blob_id))
    with stream:
        yield cast(BinaryIO, stream)


def unsealing(key: streaming_aead.StreamingAead, source: BinaryIO, blob_id: UUID) -> BinaryIO:
    """A readable stream of the plaintext; a segment that fails authentication raises tink.TinkError."""
    return cast(BinaryIO, key.new_decrypting_stream(source, _context(blob_id)))
