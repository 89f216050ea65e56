"""What `…/download`, `…/evidence` and `…/audit-report` hand out of a completed dossier
(for the API and the advisor portal alike): its signed PDFs, its sealed audit report, and
the facts the evidence bundle lays out. Reached as reading the dossier is (access rules,
404 beyond them); 409 `DossierNotCompleted` until it is completed. A GET writes nothing:
the routes note their audit entries, written later (audit.DeferredAudit).

Everything is read before the answer starts, so the archive streams without the session.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from .. import pades
from ..errors import DossierNotCompleted
from ..evidence import archive
from ..evidence.facts import ReportFacts
from ..models import Dossier, DossierFile, DossierState
from . import access, completion, evidence
from .documents import documents_with_fields, read_pdf

# The audit actions of handing each out.
DOWNLOADED = "signing.dossier.downloaded"
EVIDENCE_DOWNLOADED = "signing.dossier.evidence.downloaded"
REPORT_DOWNLOADED = "signing.dossier.report.downloaded"


async def completed_dossier(session: AsyncSession, actor: Actor, dossier_id: UUID) -> tuple[Dossier, DossierFile]:
    """The dossier and its audit report's row; DossierNotFound, or DossierNotCompleted."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    report = await completion.find_report(session, actor, dossier) if dossier.state == DossierState.COMPLETED else None
    if report is None:
        raise DossierNotCompleted()
    return dossier, report


async def open_report(
    session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, dossier_id: UUID
) -> tuple[Dossier, DossierFile, storage.OpenedBlob]:
    dossier, report = await completed_dossier(session, actor, dossier_id)
    return dossier, report, await storage.open_blob(session, keyring, store, actor.tenant_id, report.blob_id)


@dataclass(frozen=True)
class Completed:
    """A completed dossier's files in memory: the signed PDFs by name, the sealed report, the facts."""

    dossier: Dossier
    facts: ReportFacts
    documents: tuple[archive.SignedDocument, ...]
    report: bytes

    @property
    def completed_at(self) -> datetime:
        return self.dossier.state_changed_at


async def read_completed(
    session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, dossier_id: UUID
) -> Completed:
    dossier, _report, opened = await open_report(session, actor, keyring, store, dossier_id)
    signed = []
    for document, _fields in await documents_with_fields(session, actor, dossier):
        content = await read_pdf(await storage.open_blob(session, keyring, store, actor.tenant_id, document.blob_id))
        signed.append(archive.SignedDocument(document.file_name, content))
    facts = await evidence.report_facts(session, actor, dossier)
    return Completed(dossier, facts, tuple(signed), await read_pdf(opened))


def _validated_here(document: archive.SignedDocument, trust: pades.Trust, now: datetime) -> archive.SignedDocument:
    return asyncio.run(archive.validated(document.name, document.content, trust, now=now))


async def validated(
    documents: tuple[archive.SignedDocument, ...], trust: pades.Trust, executor: Executor, *, now: datetime
) -> list[archive.SignedDocument]:
    """Each document with pyHanko's verdict, judged on the validation threads (about a second
    of CPU each, validating.py), so the server's event loop goes on answering."""
    loop = asyncio.get_running_loop()
    return list(
        await asyncio.gather(*(loop.run_in_executor(executor, _validated_here, d, trust, now) for d in documents))
    )
