"""Request plumbing of secure exchange shared by the API and the client portal."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor
from ..settings import Settings
from ..storage.blobs import BlobStore
from ..storage.keyring import Keyring
from ..uploads import read_multipart
from .models import Document, DocumentVersion
from .service import documents


async def receive_upload(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    keyring: Keyring,
    store: BlobStore,
    exchange_id: UUID,
    folder_id: UUID,
) -> tuple[Document, DocumentVersion]:
    """An upload's three steps (service.documents), around the streamed request body."""
    target = await documents.prepare_upload(session, actor, keyring, exchange_id, folder_id)
    # Nothing is held while the bytes arrive: on SQLite the write lock, on PostgreSQL a
    # connection would otherwise be taken for the whole upload (ADR 0011).
    await session.commit()
    receiver = documents.Receiver(store, actor.tenant_id, target, settings.exchange.upload_max_bytes)
    try:
        await read_multipart(request, receiver, max_parts=1)
        return await documents.finish_upload(session, actor, target, receiver)
    except BaseException:
        await receiver.abort()
        raise
