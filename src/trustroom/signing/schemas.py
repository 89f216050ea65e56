"""API shapes of e-signature dossiers (field names from reference 003, CM.com Sign; `method`
from reference 002, flexperto contract sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import EmailStr, Field, field_validator

from ..schemas import Bool, InputSchema, MobileNumber, Schema, Text
from .fieldkinds import FieldKind
from .models import (
    AuthenticationMethod,
    DocumentField,
    Dossier,
    DossierDocument,
    DossierState,
    Invite,
    InviteChannel,
    Invitee,
    InviteeRole,
    InviteeState,
    InviteState,
    Method,
    SigningRequestState,
)
from .validation import SignatureReport

DAY = 86400
DEFAULT_EXPIRES_IN = 30 * DAY
MAX_EXPIRES_IN = 90 * DAY
MIN_SECONDS = 3600
MAX_INVITEES = 50
MAX_POSITION = 100

DossierName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Mandate agreement 2026"])]
PersonName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Anna Muster"])]
NamePart = Annotated[Text, Field(min_length=1, max_length=100, examples=["Anna"])]
Locale = Annotated[
    str,
    Field(
        min_length=2,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        examples=["de-CH"],
        description="BCP 47 (de-CH, de-DE, en-GB, fr-CH, it-CH …); texts are in its language: de, en, fr or it.",
    ),
]
Reason = Annotated[Text, Field(min_length=1, max_length=1000, examples=["The client chose another offer."])]
ExpiresIn = Annotated[
    int,
    Field(
        ge=MIN_SECONDS,
        le=MAX_EXPIRES_IN,
        examples=[DEFAULT_EXPIRES_IN],
        description="Seconds the invitees have to sign, counted from sending: one hour to 90 days (default 30 days).",
    ),
]
ReminderIn = Annotated[
    int,
    Field(
        ge=MIN_SECONDS,
        le=MAX_EXPIRES_IN,
        examples=[604800],
        description="Seconds between reminders to those who have not finished (at most 5); none: no reminders.",
    ),
]


class InviteeWrite(InputSchema):
    """An invitee as given. With `contactId`, what is left out (names, email, phone number)
    comes from the contact's verified details."""

    id: UUID | None = Field(
        None, description="On update only: keep this invitee (and what hangs on it) and change it; none: a new one."
    )
    name: PersonName | None = Field(None, description="Or firstName and lastName.")
    first_name: NamePart | None = None
    last_name: NamePart | None = None
    email: EmailStr | None = Field(None, examples=["anna.muster@mail.example"])
    phone_number: MobileNumber | None = Field(None, examples=["+41791234567"], description="E.164.")
    locale: Locale | None = Field(None, description="None: the dossier's locale.")
    role: InviteeRole = InviteeRole.SIGNER
    position: int = Field(
        1,
        ge=1,
        le=MAX_POSITION,
        description="Invitees at the same position are invited together; a higher position after every lower one.",
    )
    authentication_methods: list[AuthenticationMethod] = Field(
        default_factory=list,
        max_length=len(AuthenticationMethod),
        description="One-time codes the invitee must enter before signing; an aes signer needs at least one.",
    )
    reference: Annotated[Text, Field(max_length=200)] | None = Field(
        None, description="Your reference; shown to nobody."
    )
    contact_id: UUID | None = Field(None, description="The client record this invitee is.")

    @field_validator("authentication_methods")
    @classmethod
    def _each_once(cls, methods: list[AuthenticationMethod]) -> list[AuthenticationMethod]:
        if len(set(methods)) != len(methods):
            raise ValueError("an authentication method is named twice")
        return methods


Invitees = Annotated[list[InviteeWrite], Field(max_length=MAX_INVITEES)]


class DossierCreate(InputSchema):
    name: DossierName
    method: Method = Field(Method.SES, description="ses or aes; ves and qes are refused (MethodNotAvailable) for now.")
    locale: Locale | None = Field(None, description="None: the tenant's default language.")
    reminder_in: ReminderIn | None = None
    expires_in: ExpiresIn = DEFAULT_EXPIRES_IN
    contact_id: UUID | None = Field(None, description="The client this dossier is for (default: the exchange's).")
    exchange_id: UUID | None = Field(None, description="The client's exchange, which receives the signed documents.")
    owner_member_id: UUID | None = Field(
        None,
        description="The member responsible (default: the acting member; an app without one must name one). "
        "Naming another member needs contacts:assign.",
    )
    invitees: Invitees = Field(default_factory=list)


class DossierUpdate(InputSchema):
    """Only the fields sent change; `null` clears an optional one (expiresIn: back to 30
    days, locale: the tenant's). `invitees` replaces the list: an entry with the `id` of an
    invitee keeps and changes it, one without adds an invitee, and those left out go."""

    name: DossierName | None = None
    method: Method | None = None
    locale: Locale | None = None
    reminder_in: ReminderIn | None = None
    expires_in: ExpiresIn | None = None
    contact_id: UUID | None = None
    exchange_id: UUID | None = None
    owner_member_id: UUID | None = Field(
        None, description="Naming another member needs contacts:assign; null is refused (a dossier has an owner)."
    )
    invitees: Invitees | None = None
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class CancelRequest(InputSchema):
    reason: Reason
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class InviteeRead(Schema):
    id: UUID
    name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone_number: str | None
    authentication_methods: list[AuthenticationMethod]
    reference: str | None
    state: InviteeState
    state_changed: datetime = Field(description="When the invitee reached this state.")
    position: int
    locale: str = Field(description="The invitee's, else the dossier's.")
    role: InviteeRole
    contact_id: UUID | None


class DossierRead(Schema):
    id: UUID
    name: str
    method: Method
    state: DossierState
    state_changed: datetime = Field(description="When the dossier reached this state.")
    locale: str
    completed: bool
    reminder_in: int | None
    expires_in: int
    expires_at: datetime | None = Field(description="Set when the dossier is sent: then plus expiresIn.")
    sent_at: datetime | None
    cancel_reason: str | None
    owner_member_id: UUID
    contact_id: UUID | None
    exchange_id: UUID | None
    invitees: list[InviteeRead]
    created_at: datetime
    updated_at: datetime
    concurrency_token: str


def invitee_read(invitee: Invitee, dossier: Dossier) -> InviteeRead:
    return InviteeRead(
        id=invitee.id,
        name=invitee.name,
        first_name=invitee.first_name,
        last_name=invitee.last_name,
        email=invitee.email,
        phone_number=invitee.phone_number,
        authentication_methods=[AuthenticationMethod(m) for m in invitee.authentication_methods],
        reference=invitee.reference,
        state=invitee.state,
        state_changed=invitee.state_changed_at,
        position=invitee.position,
        locale=invitee.locale or dossier.locale,
        role=invitee.role,
        contact_id=invitee.contact_id,
    )


def dossier_read(dossier: Dossier, invitees: list[Invitee]) -> DossierRead:
    return DossierRead(
        id=dossier.id,
        name=dossier.name,
        method=dossier.method,
        state=dossier.state,
        state_changed=dossier.state_changed_at,
        locale=dossier.locale,
        completed=dossier.completed,
        reminder_in=dossier.reminder_in,
        expires_in=dossier.expires_in,
        expires_at=dossier.expires_at,
        sent_at=dossier.sent_at,
        cancel_reason=dossier.cancel_reason,
        owner_member_id=dossier.owner_member_id,
        contact_id=dossier.contact_id,
        exchange_id=dossier.exchange_id,
        invitees=[invitee_read(invitee, dossier) for invitee in invitees],
        created_at=dossier.created_at,
        updated_at=dossier.updated_at,
        concurrency_token=dossier.concurrency_token,
    )


class InviteCreate(InputSchema):
    invitee_id: UUID = Field(description="The invitee of this dossier to invite.")
    channel: InviteChannel = Field(
        InviteChannel.EMAIL,
        description="`email`: Trustroom sends the invite and its reminders; `link`: the answer carries "
        "`inviteUri` and you deliver it (and its reminders, on `dossier.reminder.sent`) yourself.",
    )
    expires_in: ExpiresIn | None = Field(
        None,
        description="Seconds the invitee has from delivery (never beyond the dossier's expiry); none: until the "
        "dossier expires.",
    )


MAX_INVITES_PER_REQUEST = MAX_INVITEES
InviteBatch = Annotated[list[InviteCreate], Field(min_length=1, max_length=MAX_INVITES_PER_REQUEST)]


class InviteRead(Schema):
    id: UUID
    invitee_id: UUID
    invite_uri: str | None = Field(
        description="The invitee's personal link, for the link channel while the invite is open; null otherwise."
    )
    channel: InviteChannel
    state: InviteState = Field(
        description="scheduled (waiting for the invitee's group), sent, expired, or revoked (replaced by a newer one)."
    )
    state_changed: datetime
    reminder: bool = Field(description="Whether a reminder was sent.")
    reminders_sent: int
    last_reminder_at: datetime | None
    sent_at: datetime | None = Field(description="When the invite was delivered (or handed to you, for link).")
    email_sent_at: datetime | None = Field(description="When the mail server last accepted an email of this invite.")
    email_bounced_at: datetime | None = Field(description="When the mail server refused the address for good.")
    expires_in: int
    expires_at: datetime | None = Field(description="Set on delivery: then plus expiresIn, at most the dossier's.")
    created_at: datetime


def invite_read(invite: Invite, invite_uri: str | None) -> InviteRead:
    return InviteRead(
        id=invite.id,
        invitee_id=invite.invitee_id,
        invite_uri=invite_uri,
        channel=invite.channel,
        state=invite.state,
        state_changed=invite.state_changed_at,
        reminder=invite.reminders_sent > 0,
        reminders_sent=invite.reminders_sent,
        last_reminder_at=invite.last_reminder_at,
        sent_at=invite.sent_at,
        email_sent_at=invite.email_sent_at,
        email_bounced_at=invite.email_bounced_at,
        expires_in=invite.expires_in,
        expires_at=invite.expires_at,
        created_at=invite.created_at,
    )


# --- POST /signing/validate -----------------------------------------------------------------


class SignatureValidationRead(Schema):
    """One signature or document timestamp, judged offline from what the PDF carries (ADR 0016)."""

    field_name: str = Field(examples=["Client"])
    kind: Literal["certification", "approval", "timestamp"] = Field(
        description="certification (the first, DocMDP) signature, an approval signature, or a document timestamp."
    )
    signer: str = Field(
        description="The certificate's common name (the TSA's for a timestamp).", examples=["Anna Muster"]
    )
    signing_time: datetime | None = Field(
        description="The time in the signature's RFC 3161 timestamp, else what the signer claimed."
    )
    level: Literal["B-B", "B-T", "B-LT", "B-LTA", "DTS"] = Field(
        description="PAdES baseline level; DTS for a document timestamp.", examples=["B-LTA"]
    )
    intact: bool = Field(description="The signed bytes are unchanged.")
    valid: bool = Field(description="The cryptographic signature checks.")
    trusted: bool = Field(
        description="The certificate chains to a trusted root (this installation's, or one configured) and the "
        "AdES validation passed."
    )
    revoked: bool
    modification_level: str | None = Field(
        description="What changed after this signature: NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS or OTHER.",
        examples=["FORM_FILLING"],
    )
    docmdp_allowed: bool | None = Field(
        description="The changes after this signature are allowed by the document's certification (DocMDP)."
    )
    ades_indication: str | None = Field(description="pyHanko's AdES sub-indication, e.g. OK.", examples=["OK"])
    ok: bool = Field(description="intact, valid, trusted, not revoked and no forbidden change after it.")


class ValidationRead(Schema):
    sha256: str = Field(description="SHA-256 of the PDF validated, hex.")
    valid: bool = Field(description="The document has signatures and every one of them is ok.")
    signatures: list[SignatureValidationRead]


def validation_read(sha256: str, reports: list[SignatureReport]) -> ValidationRead:
    signatures = [
        SignatureValidationRead(
            field_name=report.field,
            kind=report.kind,
            signer=report.signer,
            signing_time=report.signing_time,
            level=report.level,
            intact=report.intact,
            valid=report.valid,
            trusted=report.trusted,
            revoked=report.revoked,
            modification_level=report.modification_level,
            docmdp_allowed=report.docmdp_ok,
            ades_indication=report.ades_indication,
            ok=report.ok,
        )
        for report in reports
    ]
    return ValidationRead(
        sha256=sha256, valid=bool(signatures) and all(s.ok for s in signatures), signatures=signatures
    )


# --- documents and fields -------------------------------------------------------------------

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


# --- the signer's side (/api/v1/signer/…) ---------------------------------------------------


class SignerFieldRead(Schema):
    """A field on a page, in PDF points from the page's lower left corner. `own` fields are
    the signer's to fill; the others are placeholders of other invitees' fields."""

    id: UUID
    type: FieldKind
    page: int
    x: float
    y: float
    width: float
    height: float
    required: bool
    label: str | None
    own: bool


class SignerPageRead(Schema):
    width: float = Field(description="Of the visible page, in points.")
    height: float


class SignerDocumentRead(Schema):
    id: UUID
    file_name: str
    page_count: int
    pages: list[SignerPageRead]
    fields: list[SignerFieldRead]


class SignerMethodRead(Schema):
    method: AuthenticationMethod
    passed: bool = Field(description="Passed recently enough to sign.")


class SignerInviteeRead(Schema):
    id: UUID
    name: str
    role: InviteeRole
    state: InviteeState


class SignerDossierRead(Schema):
    """The dossier as its signer may see it."""

    id: UUID
    name: str
    method: Method
    state: DossierState
    language: str = Field(description="Of the texts the signer is shown: de, en, fr or it.")
    expires_at: datetime | None
    invitee: SignerInviteeRead
    authentication: list[SignerMethodRead]
    authenticated: bool
    documents: list[SignerDocumentRead]
    signing_request: SigningRequestState | None = Field(
        description="pending once signed and being applied, applied when done."
    )


class SignerCodeSend(InputSchema):
    method: AuthenticationMethod


class SignerCodeSent(Schema):
    method: AuthenticationMethod
    destination: str = Field(description="Where the code went, masked.")
    expires_at: datetime | None
    resend_after: int | None = Field(description="Seconds until another code may be asked for.")


class SignerCodeVerify(InputSchema):
    method: AuthenticationMethod
    code: str = Field(min_length=1, max_length=20)


class SignerDecline(InputSchema):
    reason: str = Field(min_length=1, max_length=1000, description="Why, in the signer's words.")


class SignerStatusRead(Schema):
    dossier_state: DossierState
    invitee_state: InviteeState
    signing_request: SigningRequestState | None


class SignerSign(InputSchema):
    """The signer's signature (or approval): their fields' values, a drawn or typed signature
    and their consent to the consent text shown in `consentLocale`."""

    values: dict[UUID, Bool | Text] = Field(
        default_factory=dict, description="By field id: text for text fields, true/false for checkboxes."
    )
    typed_name: Text | None = Field(default=None, max_length=200, description="The name typed as signature.")
    signature_png: str | None = Field(
        default=None, max_length=400_000, description="The drawn signature: a PNG image, base64-encoded."
    )
    consent: bool = Field(description="Must be true: the signer agrees to the consent text.")
    consent_locale: str | None = Field(
        default=None,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="The language the consent text was shown in; the signer's language if not given.",
    )
