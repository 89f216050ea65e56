"""What completing a dossier leaves besides its signed PDFs (issue 14, item 6): the audit
report, sealed by the provider and stored as the dossier's `audit_report` file, and, for a
dossier of a client's exchange, the signed PDFs and the report placed in that room, shared.

`complete` runs inside finalisation's transaction, after the dossier became `completed`:
a completed dossier always has its report, and a finalisation killed half-way (or failing
for want of a timestamp) leaves neither report nor hand-over, and is retried as a whole.
What reaches the blob store before such a failure is an orphan for the sweep.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped
from .. import pades
from ..evidence.report import audit_report, seal_report
from ..models import Dossier, DossierFile
from . import authority, evidence, handover
from .stored_pdfs import Workshop

AUDIT_REPORT = "audit_report"
REPORT_SEALED = "signing.report.sealed"


async def complete(session: AsyncSession, actor: Actor, workshop: Workshop, dossier: Dossier) -> None:
    """The sealed audit report stored, and the hand-over to the client's room when there is one."""
    report = await store_audit_report(session, actor, workshop, dossier)
    if dossier.exchange_id is not None:
        await handover.place_in_exchange(session, actor, workshop, dossier, report)


async def find_report(session: AsyncSession, actor: Actor, dossier: Dossier) -> DossierFile | None:
    found: DossierFile | None = await session.scalar(
        scoped(select(DossierFile), actor).where(DossierFile.dossier_id == dossier.id, DossierFile.kind == AUDIT_REPORT)
    )
    return found


async def store_audit_report(session: AsyncSession, actor: Actor, workshop: Workshop, dossier: Dossier) -> bytes:
    """The report in the dossier's locale, sealed (B-LTA, no changes allowed), stored once."""
    existing = await find_report(session, actor, dossier)
    if existing is not None:
        return await workshop.read(session, actor, existing.blob_id)
    facts = await evidence.report_facts(session, actor, dossier)
    kit = await authority.signing_kit(session, workshop.keys, workshop.settings, dossier.tenant_id)
    async with kit.revocation_source() as source:
        sealed = await seal_report(
            audit_report(facts),
            kit.seal,
            kit.timestamper,
            long_term=kit.long_term(source),
            dossier_id=str(dossier.id),
            locale=dossier.locale,
        )
    blob = await workshop.write(session, actor, sealed)
    session.add(
        DossierFile(
            tenant_id=dossier.tenant_id,
            dossier_id=dossier.id,
            kind=AUDIT_REPORT,
            blob_id=blob.id,
            sha256=blob.sha256,
            archive_due_at=pades.renewal_due(sealed),
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor,
        REPORT_SEALED,
        target_type="dossier",
        target_id=dossier.id,
        data={"sha256": blob.sha256, "bytes": blob.byte_size, "events": len(facts.events)},
    )
    return sealed
