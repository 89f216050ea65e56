"""Tables of e-signatures: dossiers and their invitees.

Documents (with their fields), invites (with their channels), the signer's authentication
and the signatures are tables of their own that point at `dossiers.id` and `invitees.id`;
nothing here changes when they come. An invitee keeps its id while its dossier is a draft
(updates match invitees by id), so what later tables hang on it stays attached.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, Timestamps, utcnow
from .fieldkinds import FieldKind


class Method(StrEnum):
    """The signature level. `ves` and `qes` need a trust service, a later issue's work."""

    SES = "ses"
    AES = "aes"
    VES = "ves"
    QES = "qes"


AVAILABLE_METHODS = frozenset({Method.SES, Method.AES})


class DossierState(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Where each state may go; an end state goes nowhere.
DOSSIER_TRANSITIONS: dict[DossierState, frozenset[DossierState]] = {
    DossierState.DRAFT: frozenset({DossierState.PENDING}),
    DossierState.PENDING: frozenset(
        {DossierState.COMPLETED, DossierState.DECLINED, DossierState.CANCELLED, DossierState.EXPIRED}
    ),
    DossierState.COMPLETED: frozenset(),
    DossierState.DECLINED: frozenset(),
    DossierState.CANCELLED: frozenset(),
    DossierState.EXPIRED: frozenset(),
}


class InviteeRole(StrEnum):
    SIGNER = "signer"
    APPROVER = "approver"
    VIEWER = "viewer"


class InviteeState(StrEnum):
    WAITING = "waiting"
    INVITED = "invited"
    VIEWED = "viewed"
    SIGNED = "signed"
    APPROVED = "approved"
    DECLINED = "declined"


# Where each invitee state may go. Which end a role may reach (signed for signers, approved
# for approvers; a viewer ends at viewed) is `INVITEE_ENDS`.
INVITEE_TRANSITIONS: dict[InviteeState, frozenset[InviteeState]] = {
    InviteeState.WAITING: frozenset({InviteeState.INVITED}),
    InviteeState.INVITED: frozenset({InviteeState.VIEWED, InviteeState.DECLINED}),
    InviteeState.VIEWED: frozenset({InviteeState.SIGNED, InviteeState.APPROVED, InviteeState.DECLINED}),
    InviteeState.SIGNED: frozenset(),
    InviteeState.APPROVED: frozenset(),
    InviteeState.DECLINED: frozenset(),
}
INVITEE_ENDS: dict[InviteeRole, frozenset[InviteeState]] = {
    InviteeRole.SIGNER: frozenset({InviteeState.SIGNED, InviteeState.DECLINED}),
    InviteeRole.APPROVER: frozenset({InviteeState.APPROVED, InviteeState.DECLINED}),
    InviteeRole.VIEWER: frozenset(),
}


class AuthenticationMethod(StrEnum):
    """How an invitee proves who they are before signing: a one-time code by email or SMS."""

    OTP_EMAIL = "otp_email"
    OTP_SMS = "otp_sms"


class Dossier(IdMixin, TenantOwned, Timestamps, Base):
    """A set of documents to be signed by its invitees (CM.com's dossier, flexperto's
    contract session)."""

    __tablename__ = "dossiers"
    __table_args__ = (
        # The list's filters; the id (UUIDv7, creation order) is the list's order.
        Index("ix_dossiers_tenant_id_state_id", "tenant_id", "state", "id"),
        Index("ix_dossiers_tenant_id_created_at", "tenant_id", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    method: Mapped[Method] = mapped_column(String(8))
    # BCP 47 as given (de-CH); texts go in its language (i18n.normalize: de, en, fr or it).
    locale: Mapped[str] = mapped_column(String(35))
    reminder_in: Mapped[int | None]
    expires_in: Mapped[int]
    # Set when the dossier is sent: the invitees have `expires_in` from then on.
    expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    state: Mapped[DossierState] = mapped_column(String(12), default=DossierState.DRAFT)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancel_reason: Mapped[str | None] = mapped_column(String(1000))
    # Members are deactivated, never deleted: a plain foreign key (as exchanges.owner_member_id).
    owner_member_id: Mapped[UUID] = mapped_column(ForeignKey("members.id"), index=True)
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("client_records.id", ondelete="SET NULL"), index=True)
    exchange_id: Mapped[UUID | None] = mapped_column(ForeignKey("exchanges.id", ondelete="SET NULL"), index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def concurrency_token(self) -> str:
        return str(self.version)

    @property
    def completed(self) -> bool:
        return self.state == DossierState.COMPLETED


class Invitee(IdMixin, TenantOwned, Timestamps, Base):
    """Someone asked to sign, approve or view a dossier."""

    __tablename__ = "invitees"
    # Not unique: reordering a draft's invitees rewrites ordinals row by row.
    __table_args__ = (Index("ix_invitees_dossier_id_ordinal", "dossier_id", "ordinal"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    # The place in the dossier's list as last given (positions may repeat; this does not).
    ordinal: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    # None: the dossier's locale.
    locale: Mapped[str | None] = mapped_column(String(35))
    role: Mapped[InviteeRole] = mapped_column(String(10))
    # Equal positions sign in parallel; a higher position waits for every lower one.
    position: Mapped[int]
    authentication_methods: Mapped[list[str]]
    reference: Mapped[str | None] = mapped_column(String(200))
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("client_records.id", ondelete="SET NULL"), index=True)
    state: Mapped[InviteeState] = mapped_column(String(10), default=InviteeState.WAITING)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why the invitee declined, in their words.
    decline_reason: Mapped[str | None] = mapped_column(String(1000))


class DossierDocument(IdMixin, TenantOwned, Timestamps, Base):
    """A PDF of a dossier, in the order the signers see it.

    The original's SHA-256 is kept for the audit report; `blob_id` and `sha256` name the
    current state of the PDF, which each signing step replaces (certification, every
    signature, the archive timestamp). `pages` and `signature_fields` are read once at
    upload: the portal maps clicks to PDF points from the first, and the second lists the
    empty `/Sig` fields the document already has (flexperto's way of placing signatures).
    """

    __tablename__ = "dossier_documents"
    __table_args__ = (UniqueConstraint("dossier_id", "ordinal"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    # The document's place in the dossier (from 0); a deleted document leaves a gap.
    ordinal: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(255))
    # Of the original upload: what the dossier's size limit counts.
    byte_size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int]
    # Per page: {"width", "height", "left", "bottom"} of the visible box in points, "rotation".
    pages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The empty signature fields found at upload: {"name", "page", "x", "y", "width", "height"}.
    signature_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    original_sha256: Mapped[str] = mapped_column(String(64))
    # No ON DELETE action: a blob goes with its document (storage.service.discard), never alone.
    blob_id: Mapped[UUID] = mapped_column(ForeignKey("blobs.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(80))


class DocumentField(IdMixin, TenantOwned, Base):
    """A field an invitee fills or signs in a document: either an existing empty `/Sig`
    field by name (`field_name`), or a box placed on a page, in PDF points from the lower
    left corner (`page` from 1). Fields are replaced as a whole while the dossier is a
    draft; an invitee removed from the draft takes its fields with it."""

    __tablename__ = "document_fields"
    __table_args__ = (Index("ix_document_fields_document_id_ordinal", "document_id", "ordinal"),)

    document_id: Mapped[UUID] = mapped_column(ForeignKey("dossier_documents.id", ondelete="CASCADE"))
    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int]
    kind: Mapped[FieldKind] = mapped_column(String(10))
    field_name: Mapped[str | None] = mapped_column(String(255))
    page: Mapped[int | None]
    x: Mapped[float | None]
    y: Mapped[float | None]
    width: Mapped[float | None]
    height: Mapped[float | None]
    required: Mapped[bool] = mapped_column(default=True)
    label: Mapped[str | None] = mapped_column(String(200))


class DocumentUploadUrl(IdMixin, TenantOwned, Base):
    """An upload URL of a dossier: its token (kept only as a keyed hash) lets whoever holds
    the URL upload documents into that dossier, without an API key, until it expires. The
    uploads act as the URL's creator (`created_by`, an actor snapshot) and are audited so."""

    __tablename__ = "document_upload_urls"

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
