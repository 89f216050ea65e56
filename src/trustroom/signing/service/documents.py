"""Documents of a dossier: upload (with an API key or through an upload URL), list, read,
delete while a draft, the current PDF's content; and what sending needs to know.

An upload is three steps, so that no transaction is held while the bytes arrive (ADR 0011),
as in exchanges: `prepare_upload` checks the dossier and its limits and fetches the key,
`Receiver` takes the file into memory (a dossier's documents take 50 MB together at most,
and a PDF must be read whole to be checked), `finish_upload` checks the PDF off the event
loop, seals it into a blob and records it in a new transaction, checking the limits again
under the dossier's lock (two uploads may race). A PDF that is refused is never stored; a
blob whose row fails is deleted, and a killed process leaves at most content without a
row, which the orphan sweep removes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
from sqlalchemy import delete as delete_rows
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tink import aead

from ...actor import Actor
from ...audit import service as audit
from ...db import paginate, scoped
from ...errors import MultipartInvalid
from ...exchange.errors import NoFileGiven
from ...exchange.service import names
from ...schemas import Paging, Slice, SortOrder
from ...settings import SigningSettings
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from ...storage.models import Blob
from .. import pdf, rendering
from ..errors import DocumentNotFound, DocumentsTooLarge, DossierNotDraft, SignedPdf, TooManyDocuments
from ..models import DocumentField, Dossier, DossierDocument, DossierState
from . import access

FILE_PART = "file"
PDF = "application/pdf"
# One keyring purpose for every dossier's documents of a tenant (rotated like any other).
KEK_PURPOSE = "signing.documents"
DOWNLOADED = "signing.document.downloaded"


def require_draft(dossier: Dossier) -> None:
    if dossier.state != DossierState.DRAFT:
        raise DossierNotDraft(state=str(dossier.state))


@dataclass(frozen=True)
class Usage:
    """What a dossier's documents take: how many, their bytes, the last position used."""

    count: int
    byte_size: int
    last_ordinal: int


async def usage(session: AsyncSession, actor: Actor, dossier_id: UUID) -> Usage:
    count, size, last = (
        await session.execute(
            scoped(
                select(
                    func.count(DossierDocument.id),
                    func.coalesce(func.sum(DossierDocument.byte_size), 0),
                    func.coalesce(func.max(DossierDocument.ordinal), -1),
                ),
                actor,
            ).where(DossierDocument.dossier_id == dossier_id)
        )
    ).one()
    return Usage(int(count), int(size), int(last))


@dataclass(frozen=True)
class UploadTarget:
    dossier_id: UUID
    kek: tuple[UUID, aead.Aead]
    limits: SigningSettings
    usage: Usage
    # The upload URL the file came through, if any.
    upload_url_id: UUID | None = None


def _check_limits(limits: SigningSettings, taken: Usage, file: str, size: int) -> None:
    if taken.count >= limits.max_documents:
        raise TooManyDocuments(file=file, limit=limits.max_documents)
    if taken.byte_size + size > limits.max_total_bytes:
        raise DocumentsTooLarge(file=file, limit=limits.max_total_bytes, used=taken.byte_size)


async def prepare_upload(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    limits: SigningSettings,
    dossier_id: UUID,
    *,
    upload_url_id: UUID | None = None,
) -> UploadTarget:
    dossier = await access.load_dossier(session, actor, dossier_id)
    require_draft(dossier)
    kek = await keyring.current(session, actor.tenant_id, KEK_PURPOSE)
    taken = await usage(session, actor, dossier.id)
    return UploadTarget(dossier.id, kek, limits, taken, upload_url_id)


@dataclass
class Receiver:
    """Takes the multipart body of an upload: one part named `file`, refused as soon as it
    would pass the dossier's limits."""

    target: UploadTarget
    name: str = ""
    _data: bytearray = field(default_factory=bytearray)
    _begun: bool = False
    _ended: bool = False

    async def begin(self, name: str, filename: str | None, content_type: str | None) -> None:
        if name != FILE_PART or filename is None or self._begun:
            raise MultipartInvalid(reason=f"unexpected part {name!r}; send one file part named {FILE_PART!r}")
        self._begun = True
        self.name = names.clean(filename, file_name=True)
        _check_limits(self.target.limits, self.target.usage, self.name, 0)

    async def data(self, chunk: bytes) -> None:
        _check_limits(self.target.limits, self.target.usage, self.name, len(self._data) + len(chunk))
        self._data += chunk

    async def end(self) -> None:
        self._ended = True

    def received(self) -> bytes:
        if not self._ended:
            raise NoFileGiven()
        return bytes(self._data)


@dataclass(frozen=True)
class PdfFacts:
    page_count: int
    pages: list[rendering.PageBox]
    signature_fields: list[pdf.SignatureField]


def inspect_pdf(data: bytes, file: str) -> PdfFacts:
    """Refuse what cannot be signed (not a PDF, encrypted, broken, signed already, not
    renderable), else what the dossier keeps about it. Blocking: run it in a worker thread."""
    page_count = pdf.check_pdf(data, file=file)
    found = pdf.signature_fields(data, file=file)
    signed = [sig.name for sig in found if sig.signed]
    if signed:
        raise SignedPdf(f"signature fields {', '.join(signed)}", file=file)
    pages = rendering.page_boxes(data, file=file)
    return PdfFacts(page_count, pages, found)


def _sig_json(sig: pdf.SignatureField) -> dict[str, Any]:
    x0, y0, x1, y1 = sig.box or (None, None, None, None)
    width = None if x0 is None or x1 is None else round(x1 - x0, 2)
    height = None if y0 is None or y1 is None else round(y1 - y0, 2)
    return {"name": sig.name, "page": sig.page, "x": x0, "y": y0, "width": width, "height": height}


async def finish_upload(
    session: AsyncSession, actor: Actor, store: BlobStore, target: UploadTarget, receiver: Receiver
) -> DossierDocument:
    data = receiver.received()
    facts = await anyio.to_thread.run_sync(inspect_pdf, data, receiver.name)
    async with storage.write_blob(store, actor.tenant_id, target.kek, content_type=PDF) as writer:
        for offset in range(0, len(data), storage.BUFFER_BYTES):
            await writer.write(data[offset : offset + storage.BUFFER_BYTES])
    blob = writer.blob
    assert blob is not None
    try:
        return await _record(session, actor, target, receiver.name, blob, facts)
    except BaseException:
        # Nothing points to the content yet: drop it now rather than leave it to the sweep.
        with contextlib.suppress(OSError):
            await anyio.to_thread.run_sync(store.delete, str(blob.id))
        raise


async def _record(
    session: AsyncSession,
    actor: Actor,
    target: UploadTarget,
    name: str,
    blob: Blob,
    facts: PdfFacts,
) -> DossierDocument:
    dossier = await access.load_dossier(session, actor, target.dossier_id, for_update=True)
    require_draft(dossier)
    taken = await usage(session, actor, dossier.id)
    _check_limits(target.limits, taken, name, blob.byte_size)
    session.add(blob)
    await session.flush()
    document = DossierDocument(
        tenant_id=actor.tenant_id,
        dossier_id=dossier.id,
        ordinal=taken.last_ordinal + 1,
        file_name=name,
        byte_size=blob.byte_size,
        page_count=facts.page_count,
        pages=[page.as_json() for page in facts.pages],
        signature_fields=[_sig_json(sig) for sig in facts.signature_fields],
        original_sha256=blob.sha256,
        blob_id=blob.id,
        sha256=blob.sha256,
        uploaded_by=actor.principal,
    )
    session.add(document)
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.document.uploaded",
        target_type="dossierDocument",
        target_id=document.id,
        data={
            "dossierId": str(dossier.id),
            "fileName": name,
            "byteSize": document.byte_size,
            "pageCount": document.page_count,
            "sha256": document.original_sha256,
            "uploadUrlId": str(target.upload_url_id) if target.upload_url_id else None,
        },
    )
    return document


async def fields_of(session: AsyncSession, actor: Actor, document_ids: list[UUID]) -> dict[UUID, list[DocumentField]]:
    """Each document's fields in their order, in one query."""
    found: dict[UUID, list[DocumentField]] = {document_id: [] for document_id in document_ids}
    if not document_ids:
        return found
    rows = await session.scalars(
        scoped(select(DocumentField), actor)
        .where(DocumentField.document_id.in_(document_ids))
        .order_by(DocumentField.document_id, DocumentField.ordinal)
    )
    for row in rows:
        found[row.document_id].append(row)
    return found


async def list_documents(
    session: AsyncSession, actor: Actor, dossier_id: UUID, paging: Paging
) -> Slice[tuple[DossierDocument, list[DocumentField]]]:
    """The dossier's documents in their order (reversed when asked Descending)."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    stmt = scoped(select(DossierDocument), actor).where(DossierDocument.dossier_id == dossier.id)
    descending = paging.sort_order is SortOrder.DESCENDING
    found = await paginate(
        session, stmt, paging, DossierDocument.ordinal.desc() if descending else DossierDocument.ordinal
    )
    page: list[DossierDocument] = found.items
    fields = await fields_of(session, actor, [document.id for document in page])
    return paging.page_of([(document, fields[document.id]) for document in page], found.total_count)


async def documents_with_fields(
    session: AsyncSession, actor: Actor, dossier: Dossier
) -> list[tuple[DossierDocument, list[DocumentField]]]:
    """Every document of a dossier in its order, each with its fields in theirs (for
    sending, certifying and the signer's pages)."""
    documents = list(
        await session.scalars(
            scoped(select(DossierDocument), actor)
            .where(DossierDocument.dossier_id == dossier.id)
            .order_by(DossierDocument.ordinal)
        )
    )
    fields = await fields_of(session, actor, [document.id for document in documents])
    return [(document, fields[document.id]) for document in documents]


async def load_document(
    session: AsyncSession, actor: Actor, dossier: Dossier, document_id: UUID, *, for_update: bool = False
) -> DossierDocument:
    stmt = scoped(select(DossierDocument), actor).where(
        DossierDocument.id == document_id, DossierDocument.dossier_id == dossier.id
    )
    if for_update:
        stmt = stmt.with_for_update()
    document: DossierDocument | None = await session.scalar(stmt)
    if document is None:
        raise DocumentNotFound()
    return document


async def get(
    session: AsyncSession, actor: Actor, dossier_id: UUID, document_id: UUID
) -> tuple[DossierDocument, list[DocumentField]]:
    dossier = await access.load_dossier(session, actor, dossier_id)
    document = await load_document(session, actor, dossier, document_id)
    return document, (await fields_of(session, actor, [document.id]))[document.id]


async def delete(session: AsyncSession, actor: Actor, dossier_id: UUID, document_id: UUID) -> None:
    """Delete a draft's document with its fields; its content follows once the transaction commits."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    require_draft(dossier)
    document = await load_document(session, actor, dossier, document_id)
    facts = {"dossierId": str(dossier.id), "fileName": document.file_name, "sha256": document.original_sha256}
    blob_id = document.blob_id
    await session.delete(document)
    await session.flush()
    await storage.discard(session, actor.tenant_id, [blob_id])
    await audit.record(
        session, actor, "signing.document.deleted", target_type="dossierDocument", target_id=document_id, data=facts
    )


async def discard_all(session: AsyncSession, actor: Actor, dossier: Dossier) -> None:
    """Delete every document of a dossier that is being deleted, with their fields; their
    content follows once the transaction commits. The rows go first: they point at the
    blobs' rows."""
    blob_ids = list(
        await session.scalars(
            scoped(delete_rows(DossierDocument), actor)
            .where(DossierDocument.dossier_id == dossier.id)
            .returning(DossierDocument.blob_id)
        )
    )
    if blob_ids:
        await storage.discard(session, actor.tenant_id, blob_ids)


async def open_content(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    dossier_id: UUID,
    document_id: UUID,
) -> tuple[DossierDocument, storage.OpenedBlob]:
    """The current PDF, ready to stream. A GET writes nothing: the caller notes the
    download's audit entry, written later (audit.DeferredAudit)."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    document = await load_document(session, actor, dossier, document_id)
    opened = await storage.open_blob(session, keyring, store, actor.tenant_id, document.blob_id)
    return document, opened


def download_facts(document: DossierDocument, size: int, start: int, stop: int) -> dict[str, Any]:
    whole = start == 0 and stop == size
    return {
        "dossierId": str(document.dossier_id),
        "sha256": document.sha256,
        "bytes": stop - start,
        "range": None if whole else f"bytes {start}-{stop - 1}/{size}",
    }


async def read_pdf(opened: storage.OpenedBlob) -> bytes:
    return b"".join([chunk async for chunk in opened.chunks()])
