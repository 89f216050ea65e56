"""Tables of client records: schemas, records, assignments, external ids, change requests,
history, channel verifications and tenant lists."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, Timestamps, utcnow

# JSONB on PostgreSQL: compact, comparable, indexable; plain JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")


class RecordKind(StrEnum):
    CONTACT = "contact"
    LEGAL_ENTITY = "legalEntity"


class DetailsSchema(IdMixin, TenantOwned, Base):
    """One version of a tenant's details schema; the highest version is current. Records
    keep the version they were last validated against."""

    __tablename__ = "details_schemas"
    __table_args__ = (UniqueConstraint("tenant_id", "key", "version"),)

    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int]
    # Plain JSON, not JSONB: property order is the form's order, and JSONB would sort keys.
    json_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    layout: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))


class ClientRecord(IdMixin, TenantOwned, Timestamps, Base):
    """A contact (a person) or a legal entity: schema-driven details and who may see them."""

    __tablename__ = "client_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        Index("ix_client_records_tenant_id_kind_sort_name", "tenant_id", "kind", "sort_name"),
        # Keyset order of exports (and any walk over all records of a kind).
        Index("ix_client_records_tenant_id_kind_id", "tenant_id", "kind", "id"),
    )

    kind: Mapped[RecordKind] = mapped_column(String(16))
    contact_type_id: Mapped[int | None]
    username: Mapped[str | None] = mapped_column(String(320))
    details: Mapped[dict[str, Any]] = mapped_column(Document)
    schema_version: Mapped[int]
    # The display name folded (lists.fold), kept beside the details for sorting and prefix
    # search; byte order on PostgreSQL, so a prefix LIKE uses the index in any collation.
    sort_name: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"), default=""
    )
    # Names, email and city folded (searchtext.search_text), for search by any part of them.
    # Indexed outside this mapping (migration e327763d5434): a pg_trgm GIN index on
    # PostgreSQL (which row-level security keeps ordinary roles from using, ADR 0014); on
    # SQLite an FTS5 trigram table that triggers keep in step with it.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    anonymized_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def concurrency_token(self) -> str:
        return str(self.version)


# Search objects the migration creates by hand (dialect-specific, unknown to the metadata);
# Alembic's comparison leaves them alone (migrations/env.py).
SEARCH_TABLES = ("client_record_search", "client_record_search_keys")
SEARCH_INDEX = "ix_client_records_search_text"


class RecordAssignment(TenantOwned, Base):
    """A member directly responsible for a record; their supervisors see it through them."""

    __tablename__ = "record_assignments"

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


DEFAULT_SYSTEM = "Default"


class ExternalConnection(IdMixin, TenantOwned, Base):
    """The record's id in another system (`Default` is the import's)."""

    __tablename__ = "external_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "record_kind", "system", "external_id"),)

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), index=True)
    record_kind: Mapped[RecordKind] = mapped_column(String(16))
    system: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeRequestStatus(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"
    STALE = "Stale"


# The reference numbers its statuses; the numbers are part of the API.
STATUS_IDS = {
    ChangeRequestStatus.PENDING: 1,
    ChangeRequestStatus.APPROVED: 2,
    ChangeRequestStatus.REJECTED: 3,
    ChangeRequestStatus.CANCELLED: 4,
    ChangeRequestStatus.STALE: 5,
}


class ChangeRequest(IdMixin, TenantOwned, Base):
    """Changes a member asked for that another member must approve (four eyes)."""

    __tablename__ = "change_requests"
    __table_args__ = (
        # Separation of duties, also against code that forgets the rule.
        CheckConstraint(
            "review_member_id IS NULL OR review_member_id <> initiator_member_id", name="reviewer_not_initiator"
        ),
        # One pending request per record: a second would be approved against a moving base.
        Index(
            "uq_change_requests_pending_record",
            "record_id",
            unique=True,
            sqlite_where=text("status = 'Pending'"),
            postgresql_where=text("status = 'Pending'"),
        ),
        Index("ix_change_requests_tenant_id_created_at", "tenant_id", "created_at"),
    )

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), index=True)
    status: Mapped[ChangeRequestStatus] = mapped_column(String(16))
    initiator_member_id: Mapped[UUID] = mapped_column(ForeignKey("members.id"))
    initiator_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_member_id: Mapped[UUID | None] = mapped_column(ForeignKey("members.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def status_id(self) -> int:
        return STATUS_IDS[ChangeRequestStatus(self.status)]


class ChangeRequestItem(IdMixin, TenantOwned, Base):
    """One field of a change request: the value it replaces (None: absent) and the new one."""

    __tablename__ = "change_request_items"

    change_request_id: Mapped[UUID] = mapped_column(ForeignKey("change_requests.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))
    old_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)


class DetailChange(IdMixin, TenantOwned, Base):
    """History: one applied change of one field. Rows of one write share a change set."""

    __tablename__ = "detail_changes"
    __table_args__ = (
        Index("ix_detail_changes_record_id_executed_at", "record_id", "executed_at"),
        Index("ix_detail_changes_record_id_path", "record_id", "path"),
    )

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"))
    change_set_id: Mapped[UUID] = mapped_column(index=True)
    path: Mapped[str] = mapped_column(String(500))
    old_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[UUID | None]
    api_key_id: Mapped[UUID | None]
    change_request_id: Mapped[UUID | None] = mapped_column(ForeignKey("change_requests.id", ondelete="SET NULL"))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelVerification(IdMixin, TenantOwned, Base):
    """A new email address or mobile number held until the key sent to it comes back."""

    __tablename__ = "channel_verifications"
    __table_args__ = (UniqueConstraint("record_id", "channel"),)

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # Email | Mobile
    path: Mapped[str] = mapped_column(String(500))
    pending_value: Mapped[str] = mapped_column(String(320))
    key_hash: Mapped[str] = mapped_column(String(64))  # keyed hash: the key itself is never stored
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who asked for the change, recorded in the history once the channel is verified.
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[UUID | None]
    api_key_id: Mapped[UUID | None]
    change_request_id: Mapped[UUID | None] = mapped_column(ForeignKey("change_requests.id", ondelete="SET NULL"))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LegalEntityAccess(TenantOwned, Base):
    """A contact that may see a legal entity (`View`) or also act for it (`Act`), in a role."""

    __tablename__ = "legal_entity_access"
    __table_args__ = (Index("ix_legal_entity_access_contact_id", "contact_id"),)

    legal_entity_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int]
    access: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetentionHold(TenantOwned, Base):
    """While set (and not past `until`), the contact must be kept: anonymization is refused."""

    __tablename__ = "retention_holds"

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfilePicture(TenantOwned, Base):
    """A contact's picture, re-encoded and sealed with the server key (never stored in clear)."""

    __tablename__ = "profile_pictures"

    record_id: Mapped[UUID] = mapped_column(ForeignKey("client_records.id", ondelete="CASCADE"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    sealed_content: Mapped[bytes] = mapped_column(LargeBinary)
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantListItem(IdMixin, TenantOwned, Base):
    """An entry of a list a tenant defined itself (built-in lists live in code)."""

    __tablename__ = "tenant_list_items"
    __table_args__ = (UniqueConstraint("tenant_id", "list_key", "item_id"),)

    list_key: Mapped[str] = mapped_column(String(60))
    item_id: Mapped[str] = mapped_column(String(60))
    parent_id: Mapped[str | None] = mapped_column(String(60))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int]


class TransferStatus(StrEnum):
    """Of an export or an import run, as its status answers."""

    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    PARTIALLY_SUCCEEDED = "PartiallySucceeded"  # an import where some records failed
    FAILED = "Failed"


class ClientExport(IdMixin, TenantOwned, Base):
    """A CSV export: who asked, for what, how far it got, and the sealed file once done."""

    __tablename__ = "client_exports"

    kind: Mapped[RecordKind] = mapped_column(String(16))
    status: Mapped[TransferStatus] = mapped_column(String(20), default=TransferStatus.QUEUED)
    # {"where": {...}} or {"graphql": "..."}; {} exports every record the requester sees.
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The requester, so the job sees what they see and only they (or a tenant-wide
    # reader) fetch the file: {"kind", "id", "apiKeyId", "permissions"}.
    requested_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    principal: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(2))
    total_count: Mapped[int | None]
    processed_count: Mapped[int] = mapped_column(default=0)
    blob_id: Mapped[UUID | None] = mapped_column(ForeignKey("blobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class ImportFile(IdMixin, TenantOwned, Base):
    """An uploaded JSON file of records, sealed in blob storage until it is synced and expires."""

    __tablename__ = "client_import_files"
    __table_args__ = (Index("ix_client_import_files_pending", "tenant_id", "kind", "run_id"),)

    kind: Mapped[RecordKind] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    blob_id: Mapped[UUID | None] = mapped_column(ForeignKey("blobs.id", ondelete="SET NULL"))
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int]
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The sync run that took the file; null while it waits for one.
    run_id: Mapped[UUID | None] = mapped_column(ForeignKey("client_import_runs.id", ondelete="SET NULL"))


class ImportRun(IdMixin, TenantOwned, Base):
    """One sync of uploaded files: counts as it goes, and the records that failed."""

    __tablename__ = "client_import_runs"

    kind: Mapped[RecordKind] = mapped_column(String(16))
    status: Mapped[TransferStatus] = mapped_column(String(20), default=TransferStatus.QUEUED)
    requested_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(2))
    total_count: Mapped[int] = mapped_column(default=0)
    processed_count: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class ImportFailure(IdMixin, TenantOwned, Base):
    """A record an import run could not apply, and why (in the requester's language)."""

    __tablename__ = "client_import_failures"

    run_id: Mapped[UUID] = mapped_column(ForeignKey("client_import_runs.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[UUID | None] = mapped_column(ForeignKey("client_import_files.id", ondelete="SET NULL"))
    position: Mapped[int]  # the record's index in its file
    external_id: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
