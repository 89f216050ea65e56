"""Renewing the archive timestamps of completed dossiers' documents and sealed audit reports
(PAdES B-LTA over years).

A B-LTA document is verifiable offline only while its newest document timestamp is: once
that timestamp's TSA certificate (or an OCSP responder certificate vouching for it)
expires, nothing proves any more that the signatures existed while they were valid. So
before then, fresh revocation info for the newest timestamp goes into the DSS and a new
document timestamp covers it all (`pades.renew_archive_timestamp`); `archive_due_at` then
moves to the new timestamp's expiry.

One document is one transaction (`renew`), under its dossier's row lock like every
signing step: a renewal killed half-way leaves the document as it was, due, and the next
run does it; two runs at once renew it once (the second finds it no longer due). A
document whose timestamp cannot be had keeps its PDF and its due date (fail closed), and
the caller retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import cross_tenant, scoped, utcnow
from .. import pades
from ..models import Dossier, DossierDocument, DossierFile, DossierState
from . import authority, delivery
from .stored_pdfs import Workshop

log = logging.getLogger("trustroom.signing")

# Renew this long before the newest timestamp stops being verifiable: weeks of TSA or
# worker outages fit in before any proof is lost.
RENEWAL_MARGIN = timedelta(days=30)
# A document changed less than this ago waits. When even a new timestamp would expire within
# the margin (the TSA's certificate itself is about to expire), renewing at every run would
# only pile up revisions; once a day is enough until the operator gives the TSA a new one.
RENEWAL_INTERVAL = timedelta(days=1)


Archived = DossierDocument | DossierFile
# What is kept verifiable: the signed documents, and the sealed audit report beside them
# (an auditor checks its seal years later too). The key names it in the audit log.
ARCHIVED: dict[str, type[Archived]] = {"dossierDocument": DossierDocument, "dossierFile": DossierFile}


@dataclass(frozen=True)
class DueDocument:
    id: UUID
    tenant_id: UUID
    dossier_id: UUID
    kind: str = "dossierDocument"  # a key of ARCHIVED


def _is_due(model: type[Archived], now: datetime) -> ColumnElement[bool]:
    return and_(model.archive_due_at <= now + RENEWAL_MARGIN, model.updated_at <= now - RENEWAL_INTERVAL)


async def due_documents(
    session: AsyncSession,
    *,
    after: UUID | None,
    limit: int,
    now: datetime | None = None,
    kind: str = "dossierDocument",
) -> Sequence[DueDocument]:
    """The next `limit` due rows of `kind` of every tenant (ids after `after`), for a platform
    job that then renews each in its own tenant-bound transaction."""
    model = ARCHIVED[kind]
    stmt = (
        select(model.id, model.tenant_id, model.dossier_id)
        .join(Dossier, Dossier.id == model.dossier_id)
        .where(_is_due(model, now or utcnow()), Dossier.state == DossierState.COMPLETED)
        .order_by(model.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(model.id > after)
    async with cross_tenant(session):
        rows = (await session.execute(stmt)).all()
    return [DueDocument(*row, kind=kind) for row in rows]


async def renew(session: AsyncSession, actor: Actor, workshop: Workshop, due: DueDocument) -> str:
    """Renew one document's (or report's) archive timestamp if it is (still) due; what became of it.

    Raises `TimestampUnavailable` or `RevocationInfoUnavailable` with nothing written.
    """
    dossier = await delivery.locked(session, actor, due.dossier_id)
    if dossier is None or dossier.state != DossierState.COMPLETED:
        return "nothing"
    model = ARCHIVED[due.kind]
    document = await session.scalar(
        scoped(select(model), actor).where(model.id == due.id, model.dossier_id == dossier.id, _is_due(model, utcnow()))
    )
    if document is None or document.archive_due_at is None:
        return "not due"  # renewed meanwhile by another run
    kit = await authority.signing_kit(session, workshop.keys, workshop.settings, dossier.tenant_id)
    data = await workshop.read(session, actor, document.blob_id)
    async with kit.revocation_source() as source:
        renewed = await pades.renew_archive_timestamp(data, kit.trust, source, kit.timestamper)
    previous_due = document.archive_due_at
    await workshop.replace(session, actor, document, renewed)
    document.archive_due_at = pades.renewal_due(renewed)
    if document.archive_due_at is not None and document.archive_due_at <= utcnow() + RENEWAL_MARGIN:
        log.warning(
            "the new archive timestamp expires soon too: give the TSA a new certificate",
            extra={"document": str(document.id), "dueAt": document.archive_due_at.isoformat()},
        )
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.document.archive_timestamp_renewed",
        target_type=due.kind,
        target_id=document.id,
        data={
            "dossierId": str(dossier.id),
            "sha256": document.sha256,
            "previousDueAt": previous_due.isoformat(),
            "dueAt": document.archive_due_at.isoformat() if document.archive_due_at else None,
        },
    )
    return "renewed"


async def record_failure(session: AsyncSession, actor: Actor, due: DueDocument, error: str) -> None:
    """A renewal failed (nothing of it was kept): say why in the tenant's audit log."""
    await audit.record(
        session,
        actor,
        "signing.document.archive_timestamp_failed",
        target_type=due.kind,
        target_id=due.id,
        data={"dossierId": str(due.dossier_id), "error": error[:1000]},
    )
