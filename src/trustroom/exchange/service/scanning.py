"""The virus scan of an upload held in quarantine: its plaintext streamed to clamd, then
the verdict recorded. Only a clean verdict makes the version available (and announces
the upload); anything else keeps it, unserved, and tells the provider."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...db import Database, bind_tenant, scoped
from ...jobs import service as jobs
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from .. import events
from ..clamd import Clamd, Verdict
from ..models import Document, DocumentVersion, Exchange, VersionStatus
from . import documents


def _system(tenant_id: UUID) -> Actor:
    return Actor(tenant_id, ActorKind.SYSTEM, None)


async def _waiting(session: AsyncSession, tenant_id: UUID, version_id: UUID) -> DocumentVersion | None:
    version: DocumentVersion | None = await session.scalar(
        scoped(select(DocumentVersion), _system(tenant_id)).where(DocumentVersion.id == version_id)
    )
    return version if version is not None and version.status == VersionStatus.PROCESSING else None


async def scan(
    database: Database, keyring: Keyring, store: BlobStore, scanner: Clamd, tenant_id: UUID, version_id: UUID
) -> Verdict | None:
    """The scanner's verdict on a version still in quarantine (None if it is not, any more).

    The key is unwrapped in a short read transaction; the scan itself holds none.
    """
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant_id)
        version = await _waiting(session, tenant_id, version_id)
        if version is None:
            return None
        opened = await storage.open_blob(session, keyring, store, tenant_id, version.blob_id)
    return await scanner.scan(opened.chunks())


async def record(session: AsyncSession, tenant_id: UUID, version_id: UUID, verdict: Verdict) -> VersionStatus | None:
    """Apply a verdict: available and announced, or quarantined and reported."""
    version = await _waiting(session, tenant_id, version_id)
    if version is None:
        return None
    system = _system(tenant_id)
    document = await session.scalar(scoped(select(Document), system).where(Document.id == version.document_id))
    exchange = await session.scalar(scoped(select(Exchange), system).where(Exchange.id == document.exchange_id))
    assert document is not None and exchange is not None
    if verdict.clean:
        version.status = VersionStatus.AVAILABLE
        await jobs.emit(
            session, events.DOCUMENT_UPLOADED, documents.event(exchange, document, version), tenant_id=tenant_id
        )
    else:
        version.status = VersionStatus.SCAN_FAILED if verdict.failed else VersionStatus.INFECTED
        version.scan_result = verdict.finding
        facts = documents.event(exchange, document, version).model_dump()
        quarantined = events.DocumentQuarantined(**facts, status=version.status, finding=verdict.finding or "")
        await jobs.emit(session, events.DOCUMENT_QUARANTINED, quarantined, tenant_id=tenant_id)
    await session.flush()
    await audit.record(
        session,
        system,
        "exchange.document.scanned",
        target_type="exchangeDocument",
        target_id=document.id,
        data={"version": version.number, "status": version.status, "finding": verdict.finding},
    )
    return version.status
