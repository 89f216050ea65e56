"""The signing workflow's jobs (ADR 0018): a step applies one invitee's request to every
document; the last step also finalises (every document B-LTA, the dossier completed) in
the same transaction, so a dossier completes as soon as its last signature is applied.

Steps run under the dossier's concurrency key (limit 1) and take its row lock, and each
does all its work in one transaction: a step killed half-way leaves the request pending
and the documents as they were, a rerun does it from the start; one that finds its work
done (request applied, dossier completed) does nothing. A step that cannot get a
timestamp fails closed: nothing of it is kept, the failure is recorded (audit,
`dossier.step.failed`) in a transaction of its own and the job engine retries.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import utcnow
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from .. import events, pades, pdf
from ..fieldkinds import FieldKind
from ..models import (
    DocumentField,
    Dossier,
    DossierDocument,
    DossierState,
    Invitee,
    InviteeRole,
    InviteeState,
    Method,
    SignatureRecord,
    SigningRequest,
    SigningRequestState,
)
from ..revocation import RevocationSource
from . import authority, completion, credentials, delivery, documents, invites, lifecycle, requests
from . import invitees as invitee_rows
from .authority import SigningKit
from .preparation import field_name
from .stored_pdfs import Workshop

FINALIZE = TaskRef("signing.finalize_dossier")
SIGNATURE_KINDS = frozenset({FieldKind.SIGNATURE, FieldKind.INITIALS})
ACTIVE = frozenset({InviteeRole.SIGNER, InviteeRole.APPROVER})


async def _void(session: AsyncSession, actor: Actor, request: SigningRequest, dossier: Dossier) -> None:
    request.state = SigningRequestState.VOID
    request.sealed_input, request.sealed_image = None, None
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.request.voided",
        target_type="invitee",
        target_id=request.invitee_id,
        data={"dossierId": str(dossier.id), "requestId": str(request.id), "dossierState": str(dossier.state)},
    )


def _fill(fields: list[DocumentField], values: Mapping[str, str | bool], today: date) -> dict[str, pdf.FieldValue]:
    """What the invitee's other fields of one document get: their values, and today's date."""
    filled: dict[str, pdf.FieldValue] = {}
    for field in fields:
        if field.kind == FieldKind.DATE:
            filled[field_name(field)] = today
        elif field.kind in (FieldKind.TEXT, FieldKind.CHECKBOX) and str(field.id) in values:
            filled[field_name(field)] = values[str(field.id)]
    return filled


async def _sign_document(
    kit: SigningKit,
    long_term: pades.LongTerm | None,
    data: bytes,
    signing: list[DocumentField],
    fill: dict[str, pdf.FieldValue],
    credential: Any,
    dossier: Dossier,
    invitee: Invitee,
    request: SigningRequest,
    drawn: bytes | None,
) -> bytes:
    """Each of the invitee's signature fields of one document signed; the fill goes with the first.
    A drawn signature shows in the signature fields' stamps (initials keep the text stamp)."""
    for index, field in enumerate(signing):
        given = fill if index == 0 else None
        image = drawn if field.kind == FieldKind.SIGNATURE else None
        if credential is None:
            data = await pades.seal_step(
                data,
                field_name(field),
                kit.seal,
                kit.timestamper,
                signer_name=invitee.name,
                audit_event_id=str(request.audit_event_id),
                fill=given,
                long_term=long_term,
                image=image,
            )
        else:
            data = await pades.approve(
                data,
                field_name(field),
                credential,
                kit.timestamper,
                name=invitee.name,
                reason=f"Signed in the dossier {dossier.id}",
                fill=given,
                long_term=long_term,
                image=image,
            )
    if not signing and fill:
        # An approver's fields: filled in a revision of their own (DocMDP "fill forms" allows it).
        writer = pdf.open_writer(data)
        pdf.fill_fields(writer, fill)
        output = io.BytesIO()
        writer.write(output)
        data = output.getvalue()
    return data


async def apply_step(
    session: AsyncSession, actor: Actor, workshop: Workshop, dossier_id: UUID, invitee_id: UUID
) -> str:
    """Apply the invitee's pending request (see the module doc); what became of it."""
    dossier = await delivery.locked(session, actor, dossier_id)
    request = await requests.find(session, actor, invitee_id)
    if dossier is None or request is None or request.state != SigningRequestState.PENDING:
        return "nothing"
    if dossier.state != DossierState.PENDING or (dossier.expires_at is not None and dossier.expires_at <= utcnow()):
        await _void(session, actor, request, dossier)
        return "void"
    invitee = await session.get(Invitee, invitee_id)
    assert invitee is not None and invitee.dossier_id == dossier.id
    values, _typed_name = requests.opened_input(workshop.keys, request)
    # Held only for this step: the sealed copy goes with the request's input when it is applied.
    drawn = requests.opened_image(workshop.keys, request)
    today = utcnow().date()
    pairs = await documents.documents_with_fields(session, actor, dossier)
    people = await invitee_rows.of_dossier(session, actor, dossier)
    # The last step finalises in its own transaction (ADR 0018, decision 9).
    last = all(delivery.is_done(person) for person in people if person.role in ACTIVE and person.id != invitee.id)
    kit = await authority.signing_kit(session, workshop.keys, workshop.settings, dossier.tenant_id)
    signed: list[tuple[DossierDocument, DocumentField]] = []
    changed: dict[UUID, bytes] = {}
    async with kit.revocation_source() as source:
        # The last step's own DSS and document timestamp would be overtaken at once by
        # finalisation's, which covers this signature too (its certificate is still valid).
        long_term = None if last else kit.long_term(source)
        credential = None
        if dossier.method == Method.AES and invitee.role == InviteeRole.SIGNER:
            # One certificate per step, for every field of every document; destroyed at the block's end.
            credential = await kit.issue_signer(name=invitee.name, email=invitee.email)
        with credential if credential is not None else contextlib.nullcontext():
            for document, fields in pairs:
                mine = [field for field in fields if field.invitee_id == invitee.id]
                if not mine:
                    continue
                signing = [field for field in mine if field.kind in SIGNATURE_KINDS]
                fill = _fill(mine, values, today)
                if not signing and not fill:
                    continue
                data = await workshop.read(session, actor, document.blob_id)
                data = await _sign_document(
                    kit, long_term, data, signing, fill, credential, dossier, invitee, request, drawn
                )
                if not last:  # the last step stores each document once, finalised
                    await workshop.replace(session, actor, document, data)
                changed[document.id] = data
                signed.extend((document, field) for field in signing)
        certificate = credential.certificate if credential is not None else kit.seal.certificate
        for document, field in signed:
            session.add(
                SignatureRecord(
                    tenant_id=dossier.tenant_id,
                    dossier_id=dossier.id,
                    invitee_id=invitee.id,
                    document_id=document.id,
                    field_name=field_name(field),
                    certificate_serial=credentials.serial_text(certificate.serial_number),
                    certificate_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
                    sealed=credential is None,
                )
            )
        await _finish_invitee(session, actor, dossier, invitee, request)
        if last:
            await _make_lta(session, actor, workshop, kit, source, pairs, changed)
            await _complete(session, actor, workshop, dossier, len(pairs))
    return "completed" if last else "applied"


async def _finish_invitee(
    session: AsyncSession, actor: Actor, dossier: Dossier, invitee: Invitee, request: SigningRequest
) -> None:
    if invitee.state == InviteeState.INVITED:
        await lifecycle.move_invitee(session, actor, invitee, InviteeState.VIEWED)
    done = InviteeState.APPROVED if invitee.role == InviteeRole.APPROVER else InviteeState.SIGNED
    await lifecycle.move_invitee(session, actor, invitee, done)
    request.state = SigningRequestState.APPLIED
    request.applied_at = utcnow()
    request.sealed_input, request.sealed_image = None, None
    await session.flush()
    await invites.advance(session, actor, dossier)


async def record_failure(
    session: AsyncSession, actor: Actor, dossier_id: UUID, invitee_id: UUID, attempt: int, error: str
) -> None:
    """A step failed (its own writes are gone): say so in the audit log and as an event."""
    request = await requests.find(session, actor, invitee_id)
    if request is not None:
        request.failures += 1
        request.last_error = error[:1000]
    await audit.record(
        session,
        actor,
        "signing.step.failed",
        target_type="invitee",
        target_id=invitee_id,
        data={"dossierId": str(dossier_id), "attempt": attempt, "error": error[:1000]},
    )
    event = events.StepFailed(dossier_id=dossier_id, invitee_id=invitee_id, attempt=attempt, error=error[:200])
    await jobs.emit(session, events.DOSSIER_STEP_FAILED, event, tenant_id=actor.tenant_id)


async def finalize(session: AsyncSession, actor: Actor, workshop: Workshop, dossier_id: UUID) -> str:
    """Every document B-LTA, the dossier completed; once. The job for a finalisation queued
    apart from the last step (before ADR 0018, decision 9); the last step does it itself now."""
    dossier = await delivery.locked(session, actor, dossier_id)
    if dossier is None or dossier.state != DossierState.PENDING:
        return "nothing"
    people = await invitee_rows.of_dossier(session, actor, dossier)
    if not all(delivery.is_done(person) for person in people if person.role in ACTIVE):
        return "not yet"
    pairs = await documents.documents_with_fields(session, actor, dossier)
    kit = await authority.signing_kit(session, workshop.keys, workshop.settings, dossier.tenant_id)
    async with kit.revocation_source() as source:
        await _make_lta(session, actor, workshop, kit, source, pairs, {})
    await _complete(session, actor, workshop, dossier, len(pairs))
    return "completed"


async def _make_lta(
    session: AsyncSession,
    actor: Actor,
    workshop: Workshop,
    kit: SigningKit,
    source: RevocationSource,
    pairs: Sequence[tuple[DossierDocument, Sequence[DocumentField]]],
    current: Mapping[UUID, bytes],
) -> None:
    """Every document B-LTA (`pades.finalize_lta`) and stored; `current` holds documents
    this transaction already has in hand (the last step's), the others are read."""
    for document, _fields in pairs:
        data = current.get(document.id)
        if data is None:
            data = await workshop.read(session, actor, document.blob_id)
        final = await pades.finalize_lta(data, kit.trust, source, kit.timestamper)
        await workshop.replace(session, actor, document, final)
        document.archive_due_at = pades.renewal_due(final)


async def _complete(
    session: AsyncSession, actor: Actor, workshop: Workshop, dossier: Dossier, document_count: int
) -> None:
    """The dossier completed with its sealed audit report (and handed to the client's room),
    and announced, in the finalising transaction."""
    await lifecycle.transition(session, actor, dossier, DossierState.COMPLETED)
    await completion.complete(session, actor, workshop, dossier)
    event = events.DossierCompleted(dossier_id=dossier.id, documents=document_count, exchange_id=dossier.exchange_id)
    await jobs.emit(session, events.DOSSIER_COMPLETED, event, tenant_id=dossier.tenant_id)
