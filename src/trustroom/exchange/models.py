"""Tables of secure exchange: client accounts, exchanges, folders, documents and their
versions, and access links."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, Timestamps, utcnow


class Side(StrEnum):
    """Who a document belongs to: the provider's people (members and apps) or the client."""

    ADVISOR = "advisor"
    CLIENT = "client"


class VersionStatus(StrEnum):
    # Stored, waiting for the virus scanner; nobody can download it yet.
    PROCESSING = "processing"
    AVAILABLE = "available"
    # The scanner found something; kept for the provider to inspect, never served.
    INFECTED = "infected"
    # The scanner refused it (say, over its size limits): not known to be clean, never served.
    SCAN_FAILED = "scanFailed"


class ClientAccount(IdMixin, TenantOwned, Timestamps, Base):
    """The client's portal login, made with its exchange (one each)."""

    __tablename__ = "client_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "username"), UniqueConstraint("tenant_id", "external_user_id"))

    username: Mapped[str] = mapped_column(String(200))
    external_user_id: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2))
    password_hash: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(64))
    last_name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320))
    mobile_number: Mapped[str] = mapped_column(String(32))
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]


class Exchange(IdMixin, TenantOwned, Timestamps, Base):
    """One client's room; its KEK is the keyring's `exchange:<id>` key."""

    __tablename__ = "exchanges"
    __table_args__ = (UniqueConstraint("tenant_id", "external_exchange_id"),)

    account_id: Mapped[UUID] = mapped_column(ForeignKey("client_accounts.id", ondelete="CASCADE"), unique=True)
    external_exchange_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1024))
    advisor_first_name: Mapped[str | None] = mapped_column(String(64))
    advisor_last_name: Mapped[str | None] = mapped_column(String(64))
    advisor_email: Mapped[str | None] = mapped_column(String(320))
    advisor_mobile_number: Mapped[str | None] = mapped_column(String(32))
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("client_records.id", ondelete="SET NULL"), index=True)
    # The member responsible for the room: they (and their supervisors) see it even when
    # they do not see its contact (clients.service.access.follows_contact). No ON DELETE
    # action: members are deactivated, never deleted, and SQLite adds a column only with
    # a plain REFERENCES (migration 6dd35dbe83eb).
    owner_member_id: Mapped[UUID | None] = mapped_column(ForeignKey("members.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def concurrency_token(self) -> str:
        return str(self.version)

    @property
    def kek_purpose(self) -> str:
        return f"exchange:{self.id}"


class Folder(IdMixin, TenantOwned, Timestamps, Base):
    __tablename__ = "exchange_folders"
    __table_args__ = (Index("ix_exchange_folders_exchange_id_parent_id", "exchange_id", "parent_id"),)

    exchange_id: Mapped[UUID] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("exchange_folders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def concurrency_token(self) -> str:
        return str(self.version)


class Document(IdMixin, TenantOwned, Timestamps, Base):
    """A named document of one side in a folder; its content is its versions'."""

    __tablename__ = "exchange_documents"
    __table_args__ = (UniqueConstraint("folder_id", "side", "name_key"),)

    exchange_id: Mapped[UUID] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    folder_id: Mapped[UUID] = mapped_column(ForeignKey("exchange_folders.id", ondelete="CASCADE"))
    side: Mapped[Side] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    # The name folded for comparison: `Report.pdf` and `report.PDF` are one document.
    name_key: Mapped[str] = mapped_column(String(255))
    version_count: Mapped[int] = mapped_column(default=0)
    shared_at: Mapped[datetime | None]
    shared_by: Mapped[str | None] = mapped_column(String(80))


class DocumentVersion(IdMixin, TenantOwned, Base):
    """One upload of a document: a sealed blob with what the upload was found to be."""

    __tablename__ = "exchange_document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    document_id: Mapped[UUID] = mapped_column(ForeignKey("exchange_documents.id", ondelete="CASCADE"))
    number: Mapped[int]
    blob_id: Mapped[UUID] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"), unique=True)
    # Sniffed from the content; what the uploader claimed is kept only for the record.
    content_type: Mapped[str] = mapped_column(String(100))
    declared_type: Mapped[str | None] = mapped_column(String(100))
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[VersionStatus] = mapped_column(String(12))
    scan_result: Mapped[str | None] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessLink(IdMixin, TenantOwned, Base):
    """An invitation to the room: opening it only shows a page; the client's confirmation
    uses it up and leads to the sign-in (mail scanners follow links)."""

    __tablename__ = "exchange_access_links"

    exchange_id: Mapped[UUID] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ClientSession(IdMixin, TenantOwned, Base):
    """A client's browser session: `code` after the password, until the one-time code is
    given, then `active`. The code is kept as a keyed hash only."""

    __tablename__ = "client_sessions"

    account_id: Mapped[UUID] = mapped_column(ForeignKey("client_accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(8))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    code_sent_at: Mapped[datetime | None]
    codes_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
