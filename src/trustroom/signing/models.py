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

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
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


class SignerCode(IdMixin, TenantOwned, Timestamps, Base):
    """The one-time code of one of an invitee's authentication methods, and what became of it.

    One row per invitee and method: a new code replaces the last (which stops working), and
    `verified_at` says when the method was last passed. The code is kept as a keyed hash
    only (auth.service.one_time_codes), bound to this row.
    """

    __tablename__ = "signer_codes"
    __table_args__ = (UniqueConstraint("invitee_id", "method", name="uq_signer_codes_invitee_id_method"),)

    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"))
    method: Mapped[AuthenticationMethod] = mapped_column(String(10))
    # Where the last code went, masked (an***@example.com): for the audit report.
    destination_hint: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    codes_sent: Mapped[int] = mapped_column(default=0)
    # Wrong codes since the last code was sent; at the limit the code dies.
    attempts: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None]
    # Too many wrong codes: no code is sent or checked for this method until then.
    locked_until: Mapped[datetime | None]
    lockouts: Mapped[int] = mapped_column(default=0)


class InviteChannel(StrEnum):
    """How an invite reaches its invitee (`signing.channels`); SMS and WhatsApp come later."""

    EMAIL = "email"
    # The provider delivers `inviteUri` itself (CM.com's "include invite in your own system").
    LINK = "link"


class InviteState(StrEnum):
    # Created for an invitee whose group's turn has not come (a higher position).
    SCHEDULED = "scheduled"
    # Delivered (email queued, or the link handed to the provider); the link works.
    SENT = "sent"
    EXPIRED = "expired"
    # Replaced by a newer invite of the same invitee; its link no longer works.
    REVOKED = "revoked"


OPEN_INVITE_STATES = frozenset({InviteState.SCHEDULED, InviteState.SENT})


class Invite(IdMixin, TenantOwned, Timestamps, Base):
    """One invitation of an invitee to a dossier, by one channel. Its link's token is never
    stored: it is derived from the server key and `token_salt` (ADR 0017)."""

    __tablename__ = "invites"
    __table_args__ = (Index("ix_invites_dossier_id_invitee_id", "dossier_id", "invitee_id"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"), index=True)
    channel: Mapped[InviteChannel] = mapped_column(String(16))
    state: Mapped[InviteState] = mapped_column(String(10), default=InviteState.SCHEDULED)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Seconds the invitee has from delivery; `expires_at` is set on delivery (never after the dossier's).
    expires_in: Mapped[int]
    expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminder_at: Mapped[datetime | None]
    # When the mail server last accepted an email of this invite, or refused one for good.
    email_sent_at: Mapped[datetime | None]
    email_bounced_at: Mapped[datetime | None]
    # Random, per invite: the link's token is a MAC over the ids and this, under the server key.
    token_salt: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(80))


# --- the PKI (ADR 0016; service/authority.py) ------------------------------------------------


class PlatformCredentialKind(StrEnum):
    """The installation's own credentials: the root CA, its OCSP responder, the in-process TSA."""

    ROOT = "root"
    ROOT_OCSP = "root_ocsp"
    TSA = "tsa"


class TenantCredentialKind(StrEnum):
    """A tenant's credentials: its signing CA, that CA's OCSP responder, its platform seal."""

    CA = "ca"
    OCSP = "ocsp"
    SEAL = "seal"


class _Credential:
    """A certificate and its private key, sealed with the server keys (`sealed_keys.seal_key`).

    One current row per kind; a replaced one is retired, never deleted, since documents
    signed with it still name it. A CA row also keeps its CRL: the number of the last one it
    issued (RFC 5280 §5.2.3: it only grows), and that CRL while it is fresh.
    """

    kind: Mapped[str] = mapped_column(String(10))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[datetime]
    crl_number: Mapped[int] = mapped_column(default=0)
    crl: Mapped[bytes | None] = mapped_column(LargeBinary)
    crl_next_update: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class PlatformCredential(IdMixin, _Credential, Base):
    """Platform-wide, not a tenant's: every tenant's CA chains to this root."""

    __tablename__ = "signing_platform_credentials"
    __table_args__ = (
        Index(
            "uq_signing_platform_credentials_current",
            "kind",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )


class TenantCredential(IdMixin, TenantOwned, _Credential, Base):
    __tablename__ = "signing_tenant_credentials"
    __table_args__ = (
        Index(
            "uq_signing_tenant_credentials_current",
            "tenant_id",
            "kind",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )


class _Issued:
    """A certificate a Trustroom CA issued: what its OCSP responder and CRL answer from.

    The serial is kept as lower-case hex (up to 159 bits, more than a database integer
    holds). Revocation is a time and an RFC 5280 reason name (`keyCompromise`, …).
    """

    serial: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    subject: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformCertificate(IdMixin, _Issued, Base):
    """Issued by the platform root: tenant CAs, the TSA, the root's OCSP responder."""

    __tablename__ = "signing_platform_certificates"
    __table_args__ = (UniqueConstraint("issuer_id", "serial"),)

    issuer_id: Mapped[UUID] = mapped_column(ForeignKey("signing_platform_credentials.id", ondelete="RESTRICT"))


class IssuedCertificate(IdMixin, TenantOwned, _Issued, Base):
    """Issued by a tenant's CA: signer certificates, the seal, the CA's OCSP responder."""

    __tablename__ = "signing_certificates"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial"),
        Index("ix_signing_certificates_revoked", "issuer_id", "revoked_at"),
    )

    issuer_id: Mapped[UUID] = mapped_column(ForeignKey("signing_tenant_credentials.id", ondelete="RESTRICT"))


class SigningRequestState(StrEnum):
    # Submitted: the signing step (a job, one at a time per dossier) has not applied it yet.
    PENDING = "pending"
    # The signature (or approval) is in every document; the invitee is signed / approved.
    APPLIED = "applied"
    # The dossier ended (cancelled, expired, declined by another) before the step ran.
    VOID = "void"


class SigningRequest(IdMixin, TenantOwned, Timestamps, Base):
    """An invitee's "sign" (or "approve"): what they submitted, recorded in the request's
    transaction before any cryptography, and applied to the documents by the signing step.

    The contract between the signer's side (pages and `/api/v1/signer/…`), which writes it
    and queues `STEP_TASK` with `{"dossierId", "inviteeId"}` under the dossier's concurrency
    key, and the workflow, which applies it (ADR 0018). One per invitee: a second submission
    finds the first, so a double click signs once. The signer's input (field values, the
    typed name) and the drawn signature are sealed with the server keys and dropped once
    applied: from then on they live in the signed PDF only.
    """

    __tablename__ = "signing_requests"
    __table_args__ = (UniqueConstraint("invitee_id", name="uq_signing_requests_invitee_id"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"))
    state: Mapped[SigningRequestState] = mapped_column(String(10), default=SigningRequestState.PENDING)
    # ServerKeys.seal of {"values": {fieldId: text | bool}, "typedName": str | None}, context `input_context(id)`.
    sealed_input: Mapped[str | None]
    # ServerKeys.seal_bytes of the drawn signature as PNG, context `image_context(id)`; None when typed.
    sealed_image: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The consent text the signer agreed to: its SHA-256 and language (the text is in the catalogue).
    consent_sha256: Mapped[str | None] = mapped_column(String(64))
    consent_locale: Mapped[str | None] = mapped_column(String(35))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # The methods passed for this signature: [{"method", "destination", "verifiedAt"}].
    authentication: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The audit event of the submission: `ses` signatures name it in /Reason.
    audit_event_id: Mapped[UUID | None]
    applied_at: Mapped[datetime | None]
    # Step attempts that failed (no timestamp, say) and why the last one did.
    failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))

    @staticmethod
    def input_context(request_id: UUID) -> str:
        return f"signing-request-input:{request_id}"

    @staticmethod
    def image_context(request_id: UUID) -> str:
        return f"signing-request-image:{request_id}"


# The signing step's task name (signing.tasks) and its concurrency key: one step at a time per dossier.
STEP_TASK = "signing.apply_step"


def dossier_concurrency_key(dossier_id: UUID) -> str:
    return f"dossier:{dossier_id}"


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
    # Once completed: when its newest archive timestamp must be renewed (`pades.renewal_due`),
    # kept here so the renewal job finds what is due with one indexed query.
    archive_due_at: Mapped[datetime | None] = mapped_column(index=True)


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


class SignerSession(IdMixin, TenantOwned, Base):
    """A signer's browser session, opened by posting the invite token once (`/s/<token>`):
    the pages after it carry no token in their URLs (which get logged), only this session's
    cookie. Bound to the invite it was opened with (inviting again ends it); short-lived.
    The cookie's token is kept as a keyed hash only."""

    __tablename__ = "signer_sessions"

    invite_id: Mapped[UUID] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"), index=True)
    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


# --- the signing workflow (ADR 0018; service/steps.py) ----------------------------------------


class SignatureRecord(IdMixin, TenantOwned, Base):
    """A signature a step put in a document, for the audit report: whose (the invitee), in
    which field, with which certificate (the signer's own for `aes`, the seal for `ses`)."""

    __tablename__ = "signatures"
    __table_args__ = (Index("ix_signatures_dossier_id", "dossier_id"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    invitee_id: Mapped[UUID] = mapped_column(ForeignKey("invitees.id", ondelete="CASCADE"))
    document_id: Mapped[UUID] = mapped_column(ForeignKey("dossier_documents.id", ondelete="CASCADE"))
    field_name: Mapped[str] = mapped_column(String(255))
    certificate_serial: Mapped[str] = mapped_column(String(40))
    certificate_fingerprint: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bool]
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class DossierFile(IdMixin, TenantOwned, Timestamps, Base):
    """A file the workflow made for a dossier beside its documents: the sealed audit report."""

    __tablename__ = "dossier_files"
    __table_args__ = (UniqueConstraint("dossier_id", "kind"),)

    dossier_id: Mapped[UUID] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    # No ON DELETE action: a blob goes with its row (storage.service.discard), never alone.
    blob_id: Mapped[UUID] = mapped_column(ForeignKey("blobs.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    # When the report's newest archive timestamp must be renewed, as for documents.
    archive_due_at: Mapped[datetime | None] = mapped_column(index=True)
