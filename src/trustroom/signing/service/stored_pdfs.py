"""The workflow's PDFs at rest: reading a document's current PDF, and replacing it with the
next state (placed and certified, each signature, the archive timestamp) in the caller's
transaction. The new content is written first; the old blob's row goes with the transaction
and its content once it has committed (`storage.service.discard`), so a failed step loses
nothing and a killed one leaves at most an orphan for the sweep."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...keys import ServerKeys
from ...settings import Settings
from ...storage import service as storage
from ...storage.blobs import BlobStore, store_from_settings
from ...storage.keyring import Keyring, SealedKeyring
from ...storage.models import Blob
from ..models import DossierDocument, DossierFile
from .documents import KEK_PURPOSE, PDF, read_pdf


@dataclass(frozen=True)
class Workshop:
    """What signing steps need beyond the database: the server keys, the settings, and the
    sealed blob storage the PDFs live in."""

    keys: ServerKeys
    settings: Settings
    keyring: Keyring
    store: BlobStore

    @classmethod
    def of(cls, keys: ServerKeys, settings: Settings) -> Workshop:
        return cls(keys, settings, SealedKeyring(keys), store_from_settings(settings))

    async def read(self, session: AsyncSession, actor: Actor, blob_id: UUID) -> bytes:
        opened = await storage.open_blob(session, self.keyring, self.store, actor.tenant_id, blob_id)
        return await read_pdf(opened)

    async def write(self, session: AsyncSession, actor: Actor, data: bytes) -> Blob:
        """A new sealed blob with `data`, its row added to the session."""
        kek = await self.keyring.current(session, actor.tenant_id, KEK_PURPOSE)
        async with storage.write_blob(self.store, actor.tenant_id, kek, content_type=PDF) as writer:
            for offset in range(0, len(data), storage.BUFFER_BYTES):
                await writer.write(data[offset : offset + storage.BUFFER_BYTES])
        blob = writer.blob
        assert blob is not None
        session.add(blob)
        await session.flush()
        return blob

    async def replace(
        self, session: AsyncSession, actor: Actor, document: DossierDocument | DossierFile, data: bytes
    ) -> None:
        """The document's (or report's) PDF is now `data`; the previous content is discarded on commit."""
        previous = document.blob_id
        blob = await self.write(session, actor, data)
        document.blob_id, document.sha256 = blob.id, blob.sha256
        await session.flush()
        await storage.discard(session, actor.tenant_id, [previous])
