"""Tables and permission vocabulary of the auth domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..actor import Scope
from ..db import Base, IdMixin, TenantOwned, Timestamps, utcnow
from ..errors import N_

ALL_SCOPES = frozenset(Scope)


class Role(StrEnum):
    ADMIN = "admin"
    ADVISOR = "advisor"
    REVIEWER = "reviewer"


ROLE_LABELS = {Role.ADMIN: N_("Administrator"), Role.ADVISOR: N_("Advisor"), Role.REVIEWER: N_("Reviewer")}


_ADVISOR = {
    Scope.CONTACTS_READ,
    Scope.CONTACTS_WRITE,
    Scope.EXCHANGES_READ,
    Scope.EXCHANGES_WRITE,
    Scope.SIGNING_READ,
    Scope.SIGNING_WRITE,
    Scope.CREDENTIALS_READ,
    Scope.CREDENTIALS_WRITE,
    Scope.MEMBERS_READ,
}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    # An admin may do anything a member can do; acting for others is an app's privilege.
    Role.ADMIN: frozenset(ALL_SCOPES - {Scope.MEMBERS_ACT}),
    Role.ADVISOR: frozenset(_ADVISOR),
    # The checker of four eyes reviews changes wherever they are made, so sees every record.
    Role.REVIEWER: frozenset(
        {
            Scope.CONTACTS_READ,
            Scope.CONTACTS_READ_ALL,
            Scope.CHANGE_REQUESTS_REVIEW,
            Scope.AUDIT_READ,
            Scope.MEMBERS_READ,
        }
    ),
}


class Tenant(IdMixin, Timestamps, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200))
    default_language: Mapped[str] = mapped_column(String(2), default="en")
    # Contacts' usernames are their email addresses (kept in step) instead of chosen names.
    username_from_email: Mapped[bool] = mapped_column(default=False)
    # Where exchange clients get their one-time sign-in codes: `sms` (their mobile) or `email`.
    client_code_channel: Mapped[str] = mapped_column(String(8), default="sms", server_default="sms")


class ApiKey(IdMixin, TenantOwned, Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    # The first characters of the key, kept so people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Which server secret made key_hash (a fingerprint); see auth.keys on rotation.
    secret_id: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Member(IdMixin, TenantOwned, Timestamps, Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Sealed with the server key: TOTP needs the secret itself, so it cannot be hashed.
    totp_secret_sealed: Mapped[str] = mapped_column(String(200))
    totp_enrolled_at: Mapped[datetime | None]
    # The last accepted TOTP time step; a code is never accepted twice.
    totp_last_step: Mapped[int] = mapped_column(default=0)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    # The member hierarchy (teams): a supervisor sees what the members under them see.
    supervisor_id: Mapped[UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    version: Mapped[int] = mapped_column(default=1)

    # The version counter is the concurrencyToken: a stale write fails instead of winning.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS[Role(self.role)]

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_enrolled_at is not None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def concurrency_token(self) -> str:
        return str(self.version)


class PortalSession(IdMixin, TenantOwned, Base):
    """A browser session of a member; `stage` is `totp` until the second factor is given."""

    __tablename__ = "portal_sessions"

    member_id: Mapped[UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))


class RateLimitWindow(Base):
    """Attempts counted per key (e.g. `login-ip:203.0.113.7`) in fixed windows, with the
    previous window's count kept for the sliding estimate (service.rate_limits)."""

    __tablename__ = "rate_limit_windows"
    __table_args__ = (Index("ix_rate_limit_windows_window_start", "window_start"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int]
    previous_count: Mapped[int] = mapped_column(default=0, server_default="0")


class MemberInvitation(IdMixin, TenantOwned, Base):
    """An invitation to become a member: a one-time link, stored as a keyed hash only.

    Pending until it is accepted (the member then exists), revoked (by an admin, or replaced
    by a newer invitation to the same address) or past `expires_at`.
    """

    __tablename__ = "member_invitations"
    __table_args__ = (Index("ix_member_invitations_tenant_id_email", "tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who invited: `app:<key id>` or `member:<id>` (Actor.principal).
    invited_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    member_id: Mapped[UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "pending"
