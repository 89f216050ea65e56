"""Documents of an exchange: upload (a new version under an existing name), read, share,
download and delete.

An upload is three steps, so that no transaction is held while the bytes arrive (ADR 0011):
`prepare_upload` checks access and fetches the room's key, `Receiver` seals the stream into
a blob, `finish_upload` records the version in a new transaction (re-checking that the
folder still exists). A failure after the blob is stored deletes it; a killed process
leaves at most a file without a row, which the orphan sweep removes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tink import aead

from ...actor import Actor
from ...audit import service as audit
from ...db import paginate, scoped, utcnow
from ...errors import MultipartInvalid
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from ...schemas import Paging, Slice, SortOrder
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from ...storage.models import Blob
from .. import events
from ..clamd import Clamd
from ..errors import (
    DocumentNotAvailable,
    DocumentNotFound,
    DocumentNotYours,
    DocumentShared,
    DocumentTooLarge,
    NoFileGiven,
    ScannerUnavailable,
    VersionNotFound,
)
from ..models import Document, DocumentVersion, Exchange, Side, VersionStatus
from . import access, names, sniffing

FILE_PART = "file"
# The task lives in `tasks.py`, which imports this module.
# Uploads are refused while clamd is down, so only those accepted just before an outage
# wait here; they are retried for about two days (tasks.SCAN_RETRY_DELAYS).
# The audit action of a download (noted by the request, written in the background).
DOWNLOADED = "exchange.document.downloaded"
SCAN = TaskRef("exchange.scan_document", max_attempts=50)


@dataclass(frozen=True)
class UploadTarget:
    exchange_id: UUID
    folder_id: UUID
    kek: tuple[UUID, aead.Aead]
    # Whether a virus scan decides when the upload may be served.
    scanned: bool = False


async def prepare_upload(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    exchange_id: UUID,
    folder_id: UUID,
    *,
    scanner: Clamd | None = None,
) -> UploadTarget:
    exchange = await access.load_exchange(session, actor, exchange_id)
    folder = await access.load_folder(session, actor, exchange, folder_id)
    if scanner is not None and not await scanner.ping():
        raise ScannerUnavailable()  # fail closed: nothing unscanned gets in
    kek = await keyring.current(session, actor.tenant_id, exchange.kek_purpose)
    return UploadTarget(exchange.id, folder.id, kek, scanned=scanner is not None)


@dataclass
class Receiver:
    """Takes the multipart body of an upload: one part named `file`, sealed as it streams."""

    store: BlobStore
    tenant_id: UUID
    target: UploadTarget
    max_bytes: int
    name: str = ""
    declared_type: str | None = None
    content_type: str = sniffing.BINARY
    blob: Blob | None = None
    _head: bytearray = field(default_factory=bytearray)
    _stack: contextlib.AsyncExitStack | None = None
    _writer: storage.BlobWriter | None = None

    async def begin(self, name: str, filename: str | None, content_type: str | None) -> None:
        if name != FILE_PART or filename is None or self._stack is not None or self.blob is not None:
            raise MultipartInvalid(reason=f"unexpected part {name!r}; send one file part named {FILE_PART!r}")
        self.name = names.clean(filename, file_name=True)
        self.declared_type = (content_type or "").split(";")[0].strip()[:100] or None
        self._stack = contextlib.AsyncExitStack()
        self._writer = await self._stack.enter_async_context(
            storage.write_blob(self.store, self.tenant_id, self.target.kek, content_type=sniffing.BINARY)
        )

    async def data(self, chunk: bytes) -> None:
        assert self._writer is not None
        if self._writer.byte_size + len(chunk) > self.max_bytes:
            raise DocumentTooLarge(limit=self.max_bytes)
        if len(self._head) < sniffing.HEAD_BYTES:
            self._head += chunk[: sniffing.HEAD_BYTES - len(self._head)]
        await self._writer.write(chunk)

    async def end(self) -> None:
        assert self._stack is not None and self._writer is not None
        stack, writer = self._stack, self._writer
        self._stack = self._writer = None
        await stack.aclose()
        assert writer.blob is not None
        self.content_type = sniffing.content_type(bytes(self._head))
        writer.blob.content_type = self.content_type
        self.blob = writer.blob

    async def abort(self) -> None:
        """Drop what this upload stored: the request failed before its row was committed."""
        if self._stack is not None:
            aborted = RuntimeError("upload aborted")
            with contextlib.suppress(RuntimeError):
                await self._stack.__aexit__(RuntimeError, aborted, None)
        if self.blob is not None:
            with contextlib.suppress(OSError):
                await anyio.to_thread.run_sync(self.store.delete, str(self.blob.id))

    def received(self) -> Blob:
        if self.blob is None:
            raise NoFileGiven()
        return self.blob


def _latest() -> Any:
    return (DocumentVersion.document_id == Document.id) & (DocumentVersion.number == Document.version_count)


async def finish_upload(
    session: AsyncSession, actor: Actor, target: UploadTarget, receiver: Receiver
) -> tuple[Document, DocumentVersion]:
    blob = receiver.received()
    exchange = await access.load_exchange(session, actor, target.exchange_id, for_update=True)
    folder = await access.load_folder(session, actor, exchange, target.folder_id)
    side = access.side_of(actor)
    document = await session.scalar(
        scoped(select(Document), actor).where(
            Document.folder_id == folder.id, Document.side == side, Document.name_key == names.key(receiver.name)
        )
    )
    if document is None:
        document = Document(
            tenant_id=actor.tenant_id,
            exchange_id=exchange.id,
            folder_id=folder.id,
            side=side,
            name=receiver.name,
            name_key=names.key(receiver.name),
            version_count=0,
        )
        session.add(document)
    document.version_count += 1
    document.updated_at = utcnow()
    session.add(blob)
    await session.flush()
    version = DocumentVersion(
        tenant_id=actor.tenant_id,
        document_id=document.id,
        number=document.version_count,
        blob_id=blob.id,
        content_type=receiver.content_type,
        declared_type=receiver.declared_type,
        byte_size=blob.byte_size,
        sha256=blob.sha256,
        status=VersionStatus.PROCESSING if target.scanned else VersionStatus.AVAILABLE,
        uploaded_by=actor.principal,
        uploaded_by_name=await access.actor_name(session, actor),
    )
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.document.uploaded",
        target_type="exchangeDocument",
        target_id=document.id,
        data={"exchangeId": str(exchange.id), "version": version.number, "byteSize": version.byte_size},
    )
    if version.status == VersionStatus.PROCESSING:
        await jobs.enqueue(session, SCAN, tenant_id=actor.tenant_id, version_id=str(version.id))
    else:
        await jobs.emit(
            session, events.DOCUMENT_UPLOADED, event(exchange, document, version), tenant_id=actor.tenant_id
        )
    return document, version


def event(
    exchange: Exchange, document: Document, version: DocumentVersion, *, by: str | None = None
) -> events.DocumentChanged:
    """What an event says about a document: `by` defaults to who uploaded the version."""
    return events.DocumentChanged(
        exchange_id=exchange.id,
        external_exchange_id=exchange.external_exchange_id,
        folder_id=document.folder_id,
        document_id=document.id,
        version=version.number,
        name=document.name,
        side=document.side,
        byte_size=version.byte_size,
        sha256=version.sha256,
        shared=document.shared_at is not None,
        by=by or version.uploaded_by,
    )


async def list_documents(
    session: AsyncSession, actor: Actor, exchange_id: UUID, folder_id: UUID, paging: Paging
) -> Slice[tuple[Document, DocumentVersion]]:
    """The folder's documents this side sees, each with its latest version, by name."""
    exchange = await access.load_exchange(session, actor, exchange_id)
    folder = await access.load_folder(session, actor, exchange, folder_id)
    visible = scoped(select(Document), actor).where(Document.folder_id == folder.id, access.visible_documents(actor))
    descending = paging.sort_order is SortOrder.DESCENDING
    order = (Document.name_key.desc(), Document.side.desc()) if descending else (Document.name_key, Document.side)
    found = await paginate(session, visible, paging, *order)
    page: list[Document] = found.items
    latest = {
        version.document_id: version
        for version in await session.scalars(
            scoped(select(DocumentVersion), actor)
            .join(Document, _latest())
            .where(DocumentVersion.document_id.in_([d.id for d in page]))
        )
    }
    return paging.page_of([(d, latest[d.id]) for d in page], found.total_count)


async def _load(
    session: AsyncSession, actor: Actor, exchange: Exchange, document_id: UUID
) -> tuple[Document, DocumentVersion]:
    row = (
        await session.execute(
            scoped(select(Document, DocumentVersion), actor)
            .join(DocumentVersion, _latest())
            .where(Document.id == document_id, Document.exchange_id == exchange.id, access.visible_documents(actor))
        )
    ).one_or_none()
    if row is None:
        raise DocumentNotFound()
    document, version = row
    return document, version


async def get(
    session: AsyncSession, actor: Actor, exchange_id: UUID, document_id: UUID
) -> tuple[Document, DocumentVersion, list[DocumentVersion]]:
    exchange = await access.load_exchange(session, actor, exchange_id)
    document, latest = await _load(session, actor, exchange, document_id)
    versions = list(
        await session.scalars(
            scoped(select(DocumentVersion), actor)
            .where(DocumentVersion.document_id == document.id)
            .order_by(DocumentVersion.number.desc())
        )
    )
    return document, latest, versions


async def open_content(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    exchange_id: UUID,
    document_id: UUID,
    *,
    number: int | None = None,
) -> tuple[Document, DocumentVersion, storage.OpenedBlob]:
    """A version's content ready to stream: the given one, else the latest available."""
    exchange = await access.load_exchange(session, actor, exchange_id)
    document, latest = await _load(session, actor, exchange, document_id)
    stmt = scoped(select(DocumentVersion), actor).where(DocumentVersion.document_id == document.id)
    if number is None:
        stmt = stmt.where(DocumentVersion.status == VersionStatus.AVAILABLE).order_by(DocumentVersion.number.desc())
    else:
        stmt = stmt.where(DocumentVersion.number == number)
    version = await session.scalar(stmt.limit(1))
    if version is None and number is not None:
        raise VersionNotFound(number=number)
    if version is None or version.status != VersionStatus.AVAILABLE:
        raise DocumentNotAvailable(status=(version or latest).status)
    # A download is a GET and writes nothing: its audit entry is noted by the caller and
    # written later (audit.DeferredAudit); on SQLite a read that turns into a write can
    # fail on the lock.
    opened = await storage.open_blob(session, keyring, store, actor.tenant_id, version.blob_id)
    return document, version, opened


def download_facts(document: Document, version: DocumentVersion, start: int, stop: int) -> dict[str, Any]:
    """What a download's audit entry says about what went out."""
    whole = start == 0 and stop == version.byte_size
    return {
        "exchangeId": str(document.exchange_id),
        "versionId": str(version.id),
        "version": version.number,
        "bytes": stop - start,
        "size": version.byte_size,
        "range": None if whole else f"bytes {start}-{stop - 1}/{version.byte_size}",
    }


async def share(session: AsyncSession, actor: Actor, exchange_id: UUID, document_id: UUID) -> Document:
    """Make a document visible to the other side; sharing again changes nothing."""
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    document, latest = await _load(session, actor, exchange, document_id)
    if document.side != access.side_of(actor):
        raise DocumentNotYours()
    if document.shared_at is not None:
        return document
    document.shared_at = utcnow()
    document.shared_by = actor.principal
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.document.shared",
        target_type="exchangeDocument",
        target_id=document.id,
        data={"exchangeId": str(exchange.id)},
    )
    await jobs.emit(
        session,
        events.DOCUMENT_SHARED,
        event(exchange, document, latest, by=actor.principal),
        tenant_id=actor.tenant_id,
    )
    return document


async def delete(session: AsyncSession, actor: Actor, exchange_id: UUID, document_id: UUID) -> None:
    """The advisor side deletes any document it sees; a client only its own, unshared ones
    (once shared, the provider may have to keep it)."""
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    document, _latest_version = await _load(session, actor, exchange, document_id)
    if access.side_of(actor) is Side.CLIENT:
        if document.side != Side.CLIENT:
            raise DocumentNotYours()
        if document.shared_at is not None:
            raise DocumentShared()
    await forget(session, actor, exchange, Document.id == document.id)


async def forget(session: AsyncSession, actor: Actor, exchange: Exchange, which: Any) -> int:
    """Delete the exchange's documents that match `which` (a condition on Document), each
    announced by an event; their content follows once the transaction commits."""
    found = [
        (document, latest)
        for document, latest in await session.execute(
            scoped(select(Document, DocumentVersion), actor)
            .join(DocumentVersion, _latest())
            .where(Document.exchange_id == exchange.id, which)
        )
    ]
    for document, latest in found:
        blob_ids = list(
            await session.scalars(
                scoped(select(DocumentVersion.blob_id), actor).where(DocumentVersion.document_id == document.id)
            )
        )
        await session.delete(document)
        await session.flush()
        await storage.discard(session, actor.tenant_id, blob_ids)
        await audit.record(
            session,
            actor,
            "exchange.document.deleted",
            target_type="exchangeDocument",
            target_id=document.id,
            data={"exchangeId": str(exchange.id), "versions": len(blob_ids)},
        )
        await jobs.emit(
            session,
            events.DOCUMENT_DELETED,
            event(exchange, document, latest, by=actor.principal),
            tenant_id=actor.tenant_id,
        )
    return len(found)
