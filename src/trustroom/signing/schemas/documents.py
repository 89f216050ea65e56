"""API shapes of a dossier's documents, their pages and the invitees' fields on them."""

# No `from __future__ import annotations` here: FieldRead and DocumentRead give their
# `__module__` below, and pydantic resolves string annotations in that module, so theirs must
# be real types when the class is made.
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from ...schemas import InputSchema, Schema, Text
from ..fieldkinds import FieldKind
from ..models import DocumentField, DossierDocument

MAX_FIELDS = 200
# Beyond any paper size (A0 is 2384 points high); PDF's own limit is 14400.
MAX_POINTS = 14400.0

Points = Annotated[float, Field(ge=0, le=MAX_POINTS, allow_inf_nan=False)]
Extent = Annotated[float, Field(gt=0, le=MAX_POINTS, allow_inf_nan=False)]


class FieldWrite(InputSchema):
    """A field for an invitee: an existing empty signature field by `fieldName`, or a box
    placed on a page (`page` from 1; `x`, `y` of its lower-left corner, `width`, `height`,
    all in PDF points from the page's lower-left corner)."""

    invitee_id: UUID = Field(description="The invitee who fills or signs it (a signer for signature and initials).")
    type: FieldKind = Field(examples=[FieldKind.SIGNATURE])
    field_name: Annotated[Text, Field(min_length=1, max_length=255)] | None = Field(
        None, examples=["ClientSignature"], description="An empty /Sig field the document has (signature only)."
    )
    page: int | None = Field(None, ge=1, le=100000, examples=[1])
    x: Points | None = Field(None, examples=[72])
    y: Points | None = Field(None, examples=[96])
    width: Extent | None = Field(None, examples=[200])
    height: Extent | None = Field(None, examples=[60])
    required: bool = Field(True, description="Whether the invitee must fill it (a signature field always is).")
    label: Annotated[Text, Field(max_length=200)] | None = Field(
        None, examples=["Place, date"], description="Shown to the invitee beside the field."
    )


class FieldsReplace(InputSchema):
    """The document's fields, replacing those it had."""

    fields: Annotated[list[FieldWrite], Field(max_length=MAX_FIELDS)]


class FieldRead(Schema):
    # The exchange's DocumentRead and the clients' FieldRead share the short name, so the
    # OpenAPI document names this schema after its module: keep the name it was published
    # under (`trustroom__signing__schemas__…`, from before schemas became a package).
    __module__ = "trustroom.signing.schemas"

    id: UUID
    invitee_id: UUID
    type: FieldKind
    field_name: str | None = Field(description="Set for an existing signature field of the document.")
    page: int | None = Field(description="From 1; for an existing field, where its widget is (none: invisible).")
    x: float | None
    y: float | None
    width: float | None
    height: float | None
    required: bool
    label: str | None


class SignatureFieldRead(Schema):
    """An empty signature field the uploaded PDF already had."""

    name: str
    page: int | None = Field(description="From 1; none for a field shown on no page.")
    x: float | None
    y: float | None
    width: float | None
    height: float | None


class PageRead(Schema):
    """A page's visible box in PDF user space, in points, and its turn: the image of the
    page shows this box turned `rotation` degrees clockwise. Fields are placed in this
    space, unturned, from the lower-left corner."""

    number: int = Field(description="From 1.")
    width: float
    height: float
    left: float = Field(description="Where the visible box starts; usually 0.")
    bottom: float = Field(description="Where the visible box starts; usually 0.")
    rotation: int = Field(description="0, 90, 180 or 270.")


class DocumentRead(Schema):
    # The exchange's DocumentRead and the clients' FieldRead share the short name, so the
    # OpenAPI document names this schema after its module: keep the name it was published
    # under (`trustroom__signing__schemas__…`, from before schemas became a package).
    __module__ = "trustroom.signing.schemas"

    id: UUID
    dossier_id: UUID
    position: int = Field(description="The document's place in the dossier (ascending).")
    name: str = Field(description="The uploaded file's name.")
    byte_size: int = Field(description="Of the original upload.")
    page_count: int
    sha256: str = Field(description="SHA-256 of the original upload, hex.")
    current_sha256: str = Field(description="SHA-256 of the current PDF (…/content), which each signing step changes.")
    signature_fields: list[SignatureFieldRead] = Field(description="Empty signature fields the PDF already had.")
    fields: list[FieldRead] = Field(description="The invitees' fields, in the order given.")
    uploaded_by: str = Field(description="`member:<id>`, `app:<api key id>`; through an upload URL, its creator.")
    created_at: datetime


class UploadUrlRead(Schema):
    url: str = Field(
        description="POST a multipart body (one part named `file`) here, without an API key, until expiresAt."
    )
    expires_at: datetime


def field_read(field: DocumentField, document: DossierDocument) -> FieldRead:
    place: dict[str, Any] = {
        "page": field.page,
        "x": field.x,
        "y": field.y,
        "width": field.width,
        "height": field.height,
    }
    # An existing field is where the PDF has it.
    if field.field_name is not None:
        existing = next((f for f in document.signature_fields if f["name"] == field.field_name), None)
        if existing is not None:
            place = {key: existing.get(key) for key in ("page", "x", "y", "width", "height")}
    return FieldRead(
        id=field.id,
        invitee_id=field.invitee_id,
        type=field.kind,
        field_name=field.field_name,
        required=field.required,
        label=field.label,
        **place,
    )


def document_read(document: DossierDocument, fields: list[DocumentField]) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        dossier_id=document.dossier_id,
        position=document.ordinal,
        name=document.file_name,
        byte_size=document.byte_size,
        page_count=document.page_count,
        sha256=document.original_sha256,
        current_sha256=document.sha256,
        signature_fields=[SignatureFieldRead.model_validate(f) for f in document.signature_fields],
        fields=[field_read(field, document) for field in fields],
        uploaded_by=document.uploaded_by,
        created_at=document.created_at,
    )
