"""API shapes of the auth domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import EmailStr, Field

from ..actor import Scope
from ..schemas import Bool, InputSchema, Int, Schema, Text
from .models import Role

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
