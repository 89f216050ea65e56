"""Preparing a dossier's documents as it is sent: the placed fields go into each PDF
(`pdf.place_fields`), then the tenant's seal certifies it (DocMDP "fill forms", B-LTA
within the step), each stored anew, and `dossier.prepared` is announced.

This runs in the first invite's transaction (ADR 0018): fields must be placed before the
certification (ADR 0016, decision 6), and a document must be certified before anyone can
sign it, so a dossier whose documents cannot be prepared (no timestamp: 503) is not sent
at all; nothing is written and the provider tries again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...jobs import service as jobs
from .. import events, pades, pdf
from ..models import DocumentField, Dossier
from . import authority, documents
from .stored_pdfs import Workshop


def field_name(field: DocumentField) -> str:
    """The PDF field a dossier field is: the existing /Sig field it names, or ours by id."""
    return field.field_name or f"trustroom-{field.kind}-{field.id.hex}"


def placement(field: DocumentField) -> pdf.Placement | None:
    if field.page is None or field.x is None or field.y is None or field.width is None or field.height is None:
        return None
    return pdf.Placement(
        field_name(field), pdf.FieldKind(field.kind), field.page, field.x, field.y, field.width, field.height
    )


async def prepare(session: AsyncSession, actor: Actor, workshop: Workshop, dossier: Dossier) -> None:
    """Place the fields into every document of the dossier and certify it (see the module doc)."""
    pairs = await documents.documents_with_fields(session, actor, dossier)
    kit = await authority.signing_kit(session, workshop.keys, workshop.settings, dossier.tenant_id)
    async with kit.revocation_source() as source:
        for document, fields in pairs:
            original = await workshop.read(session, actor, document.blob_id)
            placed = [made for made in map(placement, fields) if made is not None]
            ready = pdf.place_fields(original, placed, file=document.file_name) if placed else original
            certified = await pades.certify(ready, kit.seal, kit.timestamper, long_term=kit.long_term(source))
            await workshop.replace(session, actor, document, certified)
    event = events.DossierPrepared(dossier_id=dossier.id, documents=len(pairs))
    await jobs.emit(session, events.DOSSIER_PREPARED, event, tenant_id=dossier.tenant_id)
