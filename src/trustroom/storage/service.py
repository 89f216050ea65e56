"""Writing, reading and sweeping sealed blobs.

Content is sealed and written in a worker thread (file I/O and AES off the event loop),
in bounded memory: a writer hands over at most `BUFFER_BYTES` at a time, a reader yields
chunks of that size.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from uuid import UUID

import anyio
import tink
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from tink import aead, streaming_aead

from ..db import utcnow, uuid7
from ..jobs import service as jobs
from ..jobs.service import TaskRef
from . import envelope
from .blobs import BlobStore
from .errors import BlobUnreadable
from .keyring import Keyring
from .models import Blob

BUFFER_BYTES = 1024 * 1024  # one segment of the streaming AEAD
# The task lives in `tasks.py`, which imports this module.
DELETE_CONTENT = TaskRef("storage.delete_content", max_attempts=8)
DISCARD_BATCH = 500


class BlobWriter:
    """Plaintext in; sealed content out to the store. `blob` is set once the content is stored."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._buffer = bytearray()
        # The previous chunk's sealing and writing, still running in its thread while the
        # caller produces the next one; at most one is in flight, so memory stays bounded.
        self._in_flight: asyncio.Future[int] | None = None
        self._digest = hashlib.sha256()
        self.byte_size = 0
        self.blob: Blob | None = None

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= BUFFER_BYTES:
            await self.flush()

    async def flush(self, *, wait: bool = False) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self.byte_size += len(chunk)
            await self._settle()
            self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._take, chunk)
        if wait:
            await self._settle()

    def _take(self, chunk: bytes) -> int:
        # Hashing here too keeps the event loop free for reading the next chunk; one chunk
        # is in flight at a time, so the digest sees them in order.
        self._digest.update(chunk)
        return self._sink.write(chunk)

    async def _settle(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


@contextlib.asynccontextmanager
async def write_blob(
    store: BlobStore,
    tenant_id: UUID,
    kek: tuple[UUID, aead.Aead],
    *,
    content_type: str,
    expires_at: datetime | None = None,
) -> AsyncIterator[BlobWriter]:
    """Seal what the block writes into a new blob under `kek` (from `Keyring.current`).

    Once the block ends, the content is stored and `writer.blob` holds the row for the
    caller to add: the content exists before the row that points to it commits (DESIGN.md,
    Conventions), so a failed transaction leaves an orphan for the sweep, never a row
    without content. No session is used meanwhile, so a long write holds no transaction.
    """
    kek_id, kek_aead = kek
    blob_id = uuid7()
    wrapped, data_key = envelope.new_data_key(kek_aead, blob_id)
    with contextlib.ExitStack() as stack:
        file = await anyio.to_thread.run_sync(stack.enter_context, store.create(str(blob_id)))
        sealed = await anyio.to_thread.run_sync(stack.enter_context, envelope.sealing(data_key, file, blob_id))
        writer = BlobWriter(sealed)
        try:
            yield writer
            await writer.flush(wait=True)
        except BaseException as error:
            with contextlib.suppress(Exception):
                await writer.flush(wait=True)  # let a write in flight end before cleaning up
            await anyio.to_thread.run_sync(stack.__exit__, type(error), error, error.__traceback__)
            raise
        # Closing writes the last segment, then commits the file under its name.
        await anyio.to_thread.run_sync(stack.close)
    writer.blob = Blob(
        id=blob_id,
        tenant_id=tenant_id,
        kek_id=kek_id,
        wrapped_key=wrapped,
        content_type=content_type,
        byte_size=writer.byte_size,
        sha256=writer.sha256,
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class OpenedBlob:
    """A blob ready to stream: its key is unwrapped, so reading needs no database session."""

    blob: Blob
    store: BlobStore
    data_key: streaming_aead.StreamingAead

    async def chunks(self, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """The plaintext from byte `start` up to (not including) `stop`.

        The streaming AEAD opens segments in order only, so a range is read from the
        beginning and what comes before `start` is authenticated and dropped: a range
        costs as much as reading up to its end, and memory stays bounded either way.
        """
        stop = self.blob.byte_size if stop is None else min(stop, self.blob.byte_size)
        position = 0
        source = await anyio.to_thread.run_sync(self._open)
        try:
            while position < stop:
                chunk = await anyio.to_thread.run_sync(self._read, source)
                if not chunk:
                    raise BlobUnreadable()  # shorter than recorded: truncated where tink cannot tell
                begin, position = position, position + len(chunk)
                if position <= start:
                    continue
                yield chunk[max(0, start - begin) : len(chunk) - max(0, position - stop)]
        finally:
            await anyio.to_thread.run_sync(source.close)

    def _open(self) -> BinaryIO:
        try:
            return envelope.unsealing(self.data_key, self.store.open(str(self.blob.id)), self.blob.id)
        except (FileNotFoundError, tink.TinkError) as error:
            raise BlobUnreadable() from error

    @staticmethod
    def _read(source: BinaryIO) -> bytes:
        try:
            return source.read(BUFFER_BYTES)
        except tink.TinkError as error:
            raise BlobUnreadable() from error


async def open_blob(
    session: AsyncSession, keyring: Keyring, store: BlobStore, tenant_id: UUID, blob_id: UUID
) -> OpenedBlob:
    blob = await session.scalar(select(Blob).where(Blob.tenant_id == tenant_id, Blob.id == blob_id))
    if blob is None:
        raise BlobUnreadable()
    kek = await keyring.get(session, tenant_id, blob.kek_id)
    try:
        data_key = envelope.open_data_key(kek, blob.wrapped_key, blob.id)
    except tink.TinkError as error:
        raise BlobUnreadable() from error
    return OpenedBlob(blob, store, data_key)


async def delete_blob(session: AsyncSession, store: BlobStore, tenant_id: UUID, blob_id: UUID) -> None:
    # Content first, then the row: should the transaction fail, what is left is a row that
    # reads as unreadable, never content that no row points to.
    await anyio.to_thread.run_sync(store.delete, str(blob_id))
    await session.execute(delete(Blob).where(Blob.tenant_id == tenant_id, Blob.id == blob_id))


async def discard(session: AsyncSession, tenant_id: UUID, blob_ids: list[UUID]) -> None:
    """Forget blobs: their rows go in the caller's transaction, their content once it has
    committed (a job), so a transaction that fails loses nothing."""
    for first in range(0, len(blob_ids), DISCARD_BATCH):
        batch = blob_ids[first : first + DISCARD_BATCH]
        await session.execute(delete(Blob).where(Blob.tenant_id == tenant_id, Blob.id.in_(batch)))
        await jobs.enqueue(session, DELETE_CONTENT, tenant_id=tenant_id, blob_ids=[str(i) for i in batch])


async def sweep_expired(session: AsyncSession, store: BlobStore, *, limit: int = 1000) -> int:
    """Delete blobs past their expiry, across tenants (the caller lifts row-level security)."""
    expired = (
        await session.execute(select(Blob.tenant_id, Blob.id).where(Blob.expires_at < utcnow()).limit(limit))
    ).all()
    for tenant_id, blob_id in expired:
        await delete_blob(session, store, tenant_id, blob_id)
    return len(expired)


ORPHAN_BATCH = 500


async def sweep_orphans(session: AsyncSession, store: BlobStore, *, before: datetime) -> tuple[int, int]:
    """Remove content no blob row points to, and unfinished writes, older than `before`:
    (orphans, partial writes). Across tenants (the caller lifts row-level security).

    Content is written before its row commits, so only content older than any write
    could take is judged; a younger file may be a row away from being accounted for.
    """
    partial = await anyio.to_thread.run_sync(store.sweep_partial, before)
    # Only names that are blob ids: anything else in a shared bucket or directory is not ours.
    names = await anyio.to_thread.run_sync(
        lambda: [name for name, written in store.stored() if written < before and _as_id(name) is not None]
    )
    orphans = 0
    for first in range(0, len(names), ORPHAN_BATCH):
        batch = names[first : first + ORPHAN_BATCH]
        known = await session.scalars(select(Blob.id).where(Blob.id.in_([UUID(name) for name in batch])))
        ids = {str(blob_id) for blob_id in known}
        for name in batch:
            if name not in ids:
                await anyio.to_thread.run_sync(store.delete, name)
                orphans += 1
    return orphans, partial


def _as_id(name: str) -> UUID | None:
    try:
        return UUID(name)
    except ValueError:
        return None
