"""The fields of a dossier's documents: set as a whole while the dossier is a draft, and
checked before it is sent.

A field is either an empty `/Sig` field the PDF already has, named (flexperto's way), or
a box placed on a page (CM.com's), in PDF points in the page's user space. Signatures and
initials are a signer's; dates, texts and checkboxes a signer's or an approver's; a viewer
fills nothing. Removing an invitee from the draft removes their fields (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped, uuid7
from ...errors import json_pointer
from ..errors import (
    FieldInviteeNotFound,
    FieldInviteeNotSigner,
    FieldInviteeViewer,
    FieldNameOnlyForSignatures,
    FieldOutsidePage,
    FieldPageNotFound,
    FieldsOfNonSigner,
    FieldTargetRequired,
    NoDocuments,
    SignatureFieldMissing,
    SignatureFieldRepeated,
    SignatureFieldUnknown,
)
from ..fieldkinds import FieldKind
from ..models import DocumentField, Dossier, DossierDocument, Invitee, InviteeRole
from ..rendering import PageBox
from ..schemas.documents import FieldWrite
from . import access, documents, invitees

SIGNER_KINDS = frozenset({FieldKind.SIGNATURE, FieldKind.INITIALS})
PLACEMENT = ("page", "x", "y", "width", "height")


def _check_invitee(given: FieldWrite, invitee: Invitee | None, where: str) -> None:
    if invitee is None:
        raise FieldInviteeNotFound(where)
    if invitee.role == InviteeRole.VIEWER:
        raise FieldInviteeViewer(where)
    if given.type in SIGNER_KINDS and invitee.role != InviteeRole.SIGNER:
        raise FieldInviteeNotSigner(where)


def _check_place(given: FieldWrite, index: int, document: DossierDocument, assigned: set[str]) -> None:
    """The field names an empty signature field of the document, once; or it is a box on
    one of its pages."""
    placed = [name for name in PLACEMENT if getattr(given, name) is not None]
    if given.field_name is not None:
        where = json_pointer("fields", index, "fieldName")
        if placed:
            raise FieldTargetRequired(json_pointer("fields", index, placed[0]))
        if given.type != FieldKind.SIGNATURE:
            raise FieldNameOnlyForSignatures(where)
        if given.field_name not in {field["name"] for field in document.signature_fields}:
            raise SignatureFieldUnknown(where)
        if given.field_name in assigned:
            raise SignatureFieldRepeated(where)
        assigned.add(given.field_name)
        return
    missing = [name for name in PLACEMENT if name not in placed]
    if missing:
        raise FieldTargetRequired(json_pointer("fields", index, missing[0] if placed else "fieldName"))
    assert given.page is not None and given.x is not None and given.y is not None
    assert given.width is not None and given.height is not None
    if given.page > document.page_count:
        raise FieldPageNotFound(json_pointer("fields", index, "page"))
    if not PageBox.from_json(document.pages[given.page - 1]).holds(given.x, given.y, given.width, given.height):
        raise FieldOutsidePage(json_pointer("fields", index))


async def replace(
    session: AsyncSession, actor: Actor, dossier_id: UUID, document_id: UUID, given: Sequence[FieldWrite]
) -> tuple[DossierDocument, list[DocumentField]]:
    """The document's fields become `given`, in that order; nothing changes when one is refused."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    documents.require_draft(dossier)
    document = await documents.load_document(session, actor, dossier, document_id)
    people = {invitee.id: invitee for invitee in await invitees.of_dossier(session, actor, dossier)}
    assigned: set[str] = set()
    for index, field in enumerate(given):
        _check_invitee(field, people.get(field.invitee_id), json_pointer("fields", index, "inviteeId"))
        _check_place(field, index, document, assigned)
    removed = await session.execute(
        scoped(delete(DocumentField), actor).where(DocumentField.document_id == document.id)
    )
    rows = []
    for ordinal, field in enumerate(given):
        row = DocumentField(
            id=uuid7(),
            tenant_id=actor.tenant_id,
            document_id=document.id,
            invitee_id=field.invitee_id,
            ordinal=ordinal,
            kind=field.type,
            field_name=field.field_name,
            page=field.page,
            x=field.x,
            y=field.y,
            width=field.width,
            height=field.height,
            # A signer who does not sign has not signed: a signature field is never optional.
            required=True if field.type == FieldKind.SIGNATURE else field.required,
            label=field.label,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    kinds = sorted({str(field.type) for field in given})
    await audit.record(
        session,
        actor,
        "signing.document.fields_replaced",
        target_type="dossierDocument",
        target_id=document.id,
        data={
            "dossierId": str(dossier.id),
            "removed": getattr(removed, "rowcount", None),
            "fields": len(rows),
            "types": kinds,
            "invitees": sorted({str(field.invitee_id) for field in given}),
        },
    )
    return document, rows


# --- what sending needs ----------------------------------------------------------------------


async def signers_missing_signature_field(session: AsyncSession, actor: Actor, dossier: Dossier) -> list[Invitee]:
    """The dossier's signers (in list order) who have no signature field in any document."""
    documents_of_dossier = scoped(select(DossierDocument.id), actor).where(DossierDocument.dossier_id == dossier.id)
    having = set(
        await session.scalars(
            scoped(select(DocumentField.invitee_id), actor).where(
                DocumentField.document_id.in_(documents_of_dossier), DocumentField.kind == FieldKind.SIGNATURE
            )
        )
    )
    people = await invitees.of_dossier(session, actor, dossier)
    return [person for person in people if person.role == InviteeRole.SIGNER and person.id not in having]


async def check_ready(session: AsyncSession, actor: Actor, dossier: Dossier) -> None:
    """What sending needs of the documents: at least one, a signature field for every
    signer, and no field left to an invitee whose role no longer fits it (400 otherwise)."""
    pairs = await documents.documents_with_fields(session, actor, dossier)
    if not pairs:
        raise NoDocuments()
    missing = await signers_missing_signature_field(session, actor, dossier)
    if missing:
        raise SignatureFieldMissing(names=", ".join(person.name for person in missing))
    people = {person.id: person for person in await invitees.of_dossier(session, actor, dossier)}
    misfits = {
        people[field.invitee_id].name
        for _document, fields in pairs
        for field in fields
        if people[field.invitee_id].role == InviteeRole.VIEWER
        or (field.kind in SIGNER_KINDS and people[field.invitee_id].role != InviteeRole.SIGNER)
    }
    if misfits:
        raise FieldsOfNonSigner(names=", ".join(sorted(misfits)))
