"""API shapes of e-signature dossiers and their invitees (field names from reference 003,
CM.com Sign; `method` from reference 002, flexperto contract sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import EmailStr, Field, field_validator

from ...schemas import InputSchema, MobileNumber, Schema, Text
from ..models import AuthenticationMethod, Dossier, DossierState, Invitee, InviteeRole, InviteeState, Method
from .common import DEFAULT_EXPIRES_IN, MAX_INVITEES, ExpiresIn, Locale, ReminderIn

MAX_POSITION = 100

DossierName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Mandate agreement 2026"])]
PersonName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Anna Muster"])]
NamePart = Annotated[Text, Field(min_length=1, max_length=100, examples=["Anna"])]
Reason = Annotated[Text, Field(min_length=1, max_length=1000, examples=["The client chose another offer."])]


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
