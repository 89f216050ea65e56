"""Pages of a dossier's documents as PNG images: what the advisor places fields on, and
what the signer reads later.

A page is rendered from the current PDF (decrypted in memory), in a worker thread, one
render at a time per process (PDFium is not thread-safe: rendering.py); recent images are
kept in memory, keyed by the PDF's SHA-256, so every change of the PDF renders afresh.
Clients cache too: the image's ETag is derived from the same hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from .. import rendering
from ..errors import PageNotFound
from ..models import DossierDocument
from . import access, documents

DEFAULT_WIDTH = 1000
MIN_WIDTH = rendering.MIN_WIDTH
MAX_WIDTH = rendering.MAX_WIDTH


@dataclass
class PageImages:
    """The per-process renderer: its cache and the limiter that keeps renders one at a
    time (so waiting renders hold no worker threads). Made inside the event loop."""

    cache: rendering.ImageCache
    limiter: anyio.CapacityLimiter

    @classmethod
    def create(cls, cache_bytes: int) -> PageImages:
        return cls(rendering.ImageCache(cache_bytes), anyio.CapacityLimiter(1))


def etag(document: DossierDocument, page: int, width: int) -> str:
    return f'"{document.sha256}-{page}-{width}"'


async def locate(
    session: AsyncSession, actor: Actor, dossier_id: UUID, document_id: UUID, page: int
) -> DossierDocument:
    """The document, once the actor may see it and it has the page."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    document = await documents.load_document(session, actor, dossier, document_id)
    if page > document.page_count:
        raise PageNotFound(page=page, pages=document.page_count)
    return document


async def render(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    images: PageImages,
    document: DossierDocument,
    page: int,
    width: int,
) -> bytes:
    """The page as a PNG `width` pixels wide, from the cache or rendered now."""
    key = (document.tenant_id, document.sha256, page, width)
    image = images.cache.get(key)
    if image is not None:
        return image
    opened = await storage.open_blob(session, keyring, store, actor.tenant_id, document.blob_id)
    data = await documents.read_pdf(opened)
    image = await anyio.to_thread.run_sync(
        lambda: rendering.render_png(data, page, width, file=document.file_name), limiter=images.limiter
    )
    images.cache.put(key, image)
    return image
