"""API shapes of secure exchange (field names and limits from reference 000)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast
from uuid import UUID

from pydantic import EmailStr, Field, model_validator
from pydantic_core import PydanticCustomError

from ..schemas import InputSchema, MobileNumber, Schema, Text
from .models import ClientAccount, Document, DocumentVersion, Exchange, Side, VersionStatus

LanguageCode = Literal["DE", "EN", "FR", "IT"]
Name64 = Annotated[Text, Field(min_length=1, max_length=64)]
ExternalId = Annotated[Text, Field(min_length=1, max_length=200, examples=["0b5e2a4c-8f2d-4f7e-9a51-4c1d2e3f4a5b"])]
RoomName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Mandate Muster"])]
Description = Annotated[Text, Field(min_length=1, max_length=1024, examples=["Documents for your mandate"])]
ItemName = Annotated[Text, Field(min_length=1, max_length=255, examples=["Tax 2026"])]


class ClientPerson(InputSchema):
    """The client's card. With `contactId`, what is left out comes from the contact."""

    first_name: Name64 | None = None
    last_name: Name64 | None = None
    email: EmailStr | None = Field(
        None, examples=["anna.muster@mail.example"], description="Required unless the exchange has a contactId."
    )
    mobile_number: MobileNumber | None = Field(
        None,
        examples=["+41791234567"],
        description="E.164; receives the one-time sign-in codes. Required unless the exchange has a contactId.",
    )


class AdvisorPerson(InputSchema):
    """The provider's contact card shown to the client (any of it may be left out)."""

    first_name: Name64 | None = None
    last_name: Name64 | None = None
    email: EmailStr | None = Field(None, examples=["advisor@bank.example"])
    mobile_number: MobileNumber | None = Field(None, examples=["+41441234567"])


class ExchangeCreate(InputSchema):
    username: ExternalId = Field(description="The client's sign-in name; unique (a UUID is recommended).")
    external_user_id: ExternalId = Field(description="Your id of the client's account; unique.")
    language_code: LanguageCode = Field(description="The client's language: pages, emails and SMS.")
    password: Annotated[str, Field(min_length=10, max_length=200, description="The client's initial password.")]
    client: ClientPerson | None = Field(None, description="Required unless the exchange has a contactId.")
    external_exchange_id: ExternalId = Field(description="Your id of the exchange; unique per tenant.")
    name: RoomName
    description: Description | None = None
    advisor: AdvisorPerson | None = None
    contact_id: UUID | None = Field(
        None,
        description="The client record this exchange serves: the client's names, email and mobile "
        "default to its verified details, and the room starts with a Documents folder.",
    )
    owner_member_id: UUID | None = Field(
        None, description="The member responsible (default: the acting member); they see the exchange."
    )

    @model_validator(mode="after")
    def _client_known(self) -> ExchangeCreate:
        if self.contact_id is None:
            card = self.client
            missing = [name for name in ("email", "mobileNumber") if card is None or not getattr(card, _SNAKE[name])]
            if missing:
                raise PydanticCustomError(
                    "missing",
                    "client.{fields} required unless contactId is given",
                    {"fields": " and client.".join(missing)},
                )
        return self


_SNAKE = {"email": "email", "mobileNumber": "mobile_number"}


class ExchangeUpdate(InputSchema):
    """Only the fields sent change; `null` clears an optional one."""

    name: RoomName | None = None
    description: Description | None = None
    language_code: LanguageCode | None = None
    advisor: AdvisorPerson | None = Field(None, description="Replaces the whole contact card.")
    owner_member_id: UUID | None = Field(None, description="The member responsible; null: none.")
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class ClientRead(Schema):
    first_name: str | None
    last_name: str | None
    email: str
    mobile_number: str


class AdvisorRead(Schema):
    first_name: str | None
    last_name: str | None
    email: str | None
    mobile_number: str | None


class ExchangeRead(Schema):
    id: UUID
    external_exchange_id: str
    name: str
    description: str | None
    username: str
    external_user_id: str
    language_code: LanguageCode
    client: ClientRead
    advisor: AdvisorRead
    contact_id: UUID | None
    owner_member_id: UUID | None
    created_at: datetime
    updated_at: datetime
    concurrency_token: str


class LinkCreate(InputSchema):
    expires_in: int | None = Field(
        None, ge=300, le=90 * 86400, description="Seconds the link stays valid; default from the settings."
    )


class LinkRead(Schema):
    url: str = Field(description="Send it to the client; it is shown only in this answer.")
    expires_at: datetime


class FolderCreate(InputSchema):
    name: ItemName
    parent_id: UUID | None = Field(None, description="The folder to create it in; none: the top level.")


class FolderUpdate(InputSchema):
    name: ItemName
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class FolderRead(Schema):
    id: UUID
    exchange_id: UUID
    parent_id: UUID | None
    name: str
    created_at: datetime
    updated_at: datetime
    concurrency_token: str


class Uploader(Schema):
    kind: str = Field(description="member, app or client.")
    name: str


class VersionRead(Schema):
    number: int
    content_type: str = Field(description="Found from the content, not taken from the upload.")
    byte_size: int
    sha256: str = Field(description="SHA-256 of the content, hex.")
    status: VersionStatus
    uploaded_by: Uploader
    created_at: datetime


class DocumentRead(Schema):
    id: UUID
    exchange_id: UUID
    folder_id: UUID
    name: str
    side: Side = Field(description="Whose document it is: the advisor's side or the client's.")
    shared: bool = Field(description="Visible to the other side too.")
    shared_at: datetime | None
    version: int = Field(description="The latest version's number.")
    content_type: str
    byte_size: int
    sha256: str
    status: VersionStatus = Field(description="Of the latest version; only `available` content can be downloaded.")
    uploaded_by: Uploader
    created_at: datetime
    updated_at: datetime
    versions: list[VersionRead] | None = Field(None, description="Every version, newest first (single reads only).")


def exchange_read(exchange: Exchange, account: ClientAccount) -> ExchangeRead:
    return ExchangeRead(
        id=exchange.id,
        external_exchange_id=exchange.external_exchange_id,
        name=exchange.name,
        description=exchange.description,
        username=account.username,
        external_user_id=account.external_user_id,
        language_code=cast(LanguageCode, account.language.upper()),
        client=ClientRead(
            first_name=account.first_name,
            last_name=account.last_name,
            email=account.email,
            mobile_number=account.mobile_number,
        ),
        advisor=AdvisorRead(
            first_name=exchange.advisor_first_name,
            last_name=exchange.advisor_last_name,
            email=exchange.advisor_email,
            mobile_number=exchange.advisor_mobile_number,
        ),
        contact_id=exchange.contact_id,
        owner_member_id=exchange.owner_member_id,
        created_at=exchange.created_at,
        updated_at=exchange.updated_at,
        concurrency_token=exchange.concurrency_token,
    )


def _uploader(version: DocumentVersion) -> Uploader:
    return Uploader(kind=version.uploaded_by.partition(":")[0], name=version.uploaded_by_name)


def version_read(version: DocumentVersion) -> VersionRead:
    return VersionRead(
        number=version.number,
        content_type=version.content_type,
        byte_size=version.byte_size,
        sha256=version.sha256,
        status=version.status,
        uploaded_by=_uploader(version),
        created_at=version.created_at,
    )


def document_read(
    document: Document, latest: DocumentVersion, versions: list[DocumentVersion] | None = None
) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        exchange_id=document.exchange_id,
        folder_id=document.folder_id,
        name=document.name,
        side=document.side,
        shared=document.shared_at is not None,
        shared_at=document.shared_at,
        version=latest.number,
        content_type=latest.content_type,
        byte_size=latest.byte_size,
        sha256=latest.sha256,
        status=latest.status,
        uploaded_by=_uploader(latest),
        created_at=document.created_at,
        updated_at=document.updated_at,
        versions=[version_read(v) for v in versions] if versions is not None else None,
    )
