"""API shapes of the auth domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast
from uuid import UUID

from pydantic import EmailStr, Field

from ..actor import Scope
from ..schemas import Bool, InputSchema, Int, Schema, Text
from .models import MemberInvitation, Role

EXAMPLE_ID = "0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"


class ApiKeyCreate(InputSchema):
    name: Annotated[Text, Field(min_length=1, max_length=200, examples=["CRM integration"])]
    scopes: list[Scope] = Field(min_length=1, examples=[["contacts:read", "contacts:write"]])
    expires_in: Int | None = Field(
        None, ge=60, le=10 * 365 * 86400, description="Seconds until the key stops working; none = never."
    )


class ApiKeyRead(Schema):
    id: UUID = Field(examples=[EXAMPLE_ID])
    name: str = Field(examples=["CRM integration"])
    prefix: str = Field(description="The key's first characters, to tell keys apart.", examples=["trk_Q2xp3k9a"])
    scopes: list[str] = Field(examples=[["contacts:read"]])
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown only in this answer; store it safely.")


class MemberCreate(InputSchema):
    email: EmailStr = Field(
        examples=["anna.muster@bank.example"],
        description="A deliverable address; special-use domains such as .test or .invalid are refused.",
    )
    display_name: Annotated[Text | None, Field(max_length=200, examples=["Anna Muster"])] = None
    role: Role = Field(examples=["advisor"])


class MemberUpdate(InputSchema):
    display_name: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    role: Role | None = None
    disabled: Bool | None = None
    supervisor_id: UUID | None = Field(
        None, description="The member this one reports to (the team hierarchy); null removes it."
    )
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class MemberRead(Schema):
    id: UUID = Field(examples=[EXAMPLE_ID])
    email: str = Field(examples=["anna.muster@bank.example"])
    display_name: str = Field(examples=["Anna Muster"])
    role: Role
    totp_enrolled: bool = Field(description="Whether the member has confirmed their authenticator app.")
    locked_until: datetime | None
    disabled: bool
    supervisor_id: UUID | None = Field(description="The member this one reports to, if any.")
    created_at: datetime
    concurrency_token: str


class MemberCreated(MemberRead):
    password: str = Field(description="Initial password, shown only in this answer.")
    totp_secret: str = Field(description="TOTP secret (base32), shown only in this answer and at enrolment.")


InvitationLanguage = Literal["DE", "EN", "FR", "IT"]
InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class InvitationCreate(InputSchema):
    email: EmailStr = Field(examples=["anna.muster@bank.example"], description="Where the invitation is sent.")
    role: Role = Field(examples=["advisor"])
    display_name: Annotated[Text | None, Field(max_length=200, examples=["Anna Muster"])] = None
    language_code: InvitationLanguage | None = Field(
        None, description="The email's and the sign-up page's language; default: the tenant's."
    )


class InvitationRead(Schema):
    id: UUID = Field(examples=[EXAMPLE_ID])
    email: str = Field(examples=["anna.muster@bank.example"])
    display_name: str | None
    role: Role
    language_code: InvitationLanguage
    status: InvitationStatus = Field(
        description="`pending` until accepted, revoked (or replaced by a newer invitation) or expired."
    )
    invited_by: str = Field(description="`app:<api key id>` or `member:<member id>`.")
    created_at: datetime
    expires_at: datetime = Field(description="The link works for 7 days.")
    accepted_at: datetime | None
    revoked_at: datetime | None
    member_id: UUID | None = Field(description="The member made by accepting it.")

    @classmethod
    def of(cls, invitation: MemberInvitation) -> InvitationRead:
        return cls(
            id=invitation.id,
            email=invitation.email,
            display_name=invitation.display_name,
            role=Role(invitation.role),
            language_code=cast(InvitationLanguage, invitation.language.upper()),
            status=cast(InvitationStatus, invitation.status),
            invited_by=invitation.invited_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            accepted_at=invitation.accepted_at,
            revoked_at=invitation.revoked_at,
            member_id=invitation.member_id,
        )
