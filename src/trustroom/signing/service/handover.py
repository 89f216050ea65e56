"""A completed dossier of a client's exchange hands its signed PDFs and its audit report to
that room: a folder of its own at the top (named as the dossier; " (2)" when that name is
taken), each file uploaded on the advisor side through the exchange's own service, then
shared with the client. It runs in finalisation's transaction (completion.complete), so it
happens exactly once: with the completion, or not at all and again on the retry.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped
from ...exchange.errors import NameInvalid
from ...exchange.models import Exchange, Folder
from ...exchange.service import documents as exchange_documents
from ...exchange.service import folders, names
from ...storage import service as storage
from ..evidence import archive
from ..models import Dossier
from . import documents
from .stored_pdfs import Workshop

HANDED_OVER = "signing.dossier.handed_over"
PDF = "application/pdf"
FALLBACK_FOLDER = "Dossier"


async def _folder(session: AsyncSession, actor: Actor, exchange: Exchange, dossier: Dossier) -> Folder:
    try:
        wanted = names.clean(dossier.name)
    except NameInvalid:
        wanted = FALLBACK_FOLDER
    taken = {
        names.key(name)
        for name in await session.scalars(
            scoped(select(Folder.name), actor).where(Folder.exchange_id == exchange.id, Folder.parent_id.is_(None))
        )
    }
    name, number = wanted, 1
    while names.key(name) in taken:
        number += 1
        name = f"{wanted} ({number})"
    return await folders.create(session, actor, exchange.id, name, None)


async def _place(
    session: AsyncSession, actor: Actor, workshop: Workshop, exchange: Exchange, folder: Folder, name: str, data: bytes
) -> str:
    """Upload `data` as `name` into the folder (a new sealed blob under the room's key) and share it."""
    target = await exchange_documents.prepare_upload(session, actor, workshop.keyring, exchange.id, folder.id)
    receiver = exchange_documents.Receiver(workshop.store, actor.tenant_id, target, max_bytes=len(data) + 1)
    try:
        await receiver.begin(exchange_documents.FILE_PART, name, PDF)
        for offset in range(0, len(data), storage.BUFFER_BYTES):
            await receiver.data(data[offset : offset + storage.BUFFER_BYTES])
        await receiver.end()
        document, _version = await exchange_documents.finish_upload(session, actor, target, receiver)
    except BaseException:
        await receiver.abort()
        raise
    await exchange_documents.share(session, actor, exchange.id, document.id)
    return str(document.id)


async def place_in_exchange(
    session: AsyncSession, actor: Actor, workshop: Workshop, dossier: Dossier, report: bytes
) -> None:
    """The signed PDFs and the sealed report in the client's room, shared (see the module doc)."""
    exchange = await session.scalar(scoped(select(Exchange), actor).where(Exchange.id == dossier.exchange_id))
    if exchange is None:
        return  # the room was deleted meanwhile: the dossier keeps its documents
    pairs = await documents.documents_with_fields(session, actor, dossier)
    file_names = archive.unique_names(
        [*(document.file_name for document, _ in pairs), archive.report_name(dossier.name, dossier.locale)]
    )
    folder = await _folder(session, actor, exchange, dossier)
    placed = []
    for name, (document, _fields) in zip(file_names, pairs, strict=False):
        data = await workshop.read(session, actor, document.blob_id)
        placed.append(await _place(session, actor, workshop, exchange, folder, name, data))
    placed.append(await _place(session, actor, workshop, exchange, folder, file_names[-1], report))
    await audit.record(
        session,
        actor,
        HANDED_OVER,
        target_type="dossier",
        target_id=dossier.id,
        data={"exchangeId": str(exchange.id), "folderId": str(folder.id), "documents": placed},
    )
