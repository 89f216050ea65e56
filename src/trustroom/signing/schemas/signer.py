"""API shapes of the signer's side (/api/v1/signer/…): what an invitee sees and sends."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from ...schemas import Bool, InputSchema, Schema, Text
from ..fieldkinds import FieldKind
from ..models import AuthenticationMethod, DossierState, InviteeRole, InviteeState, Method, SigningRequestState


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
