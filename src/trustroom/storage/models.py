"""Tables of blob storage: the keyring's key-encryption keys and the blobs' envelopes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, utcnow


class KeyEncryptionKey(IdMixin, TenantOwned, Base):
    """A tenant's KEK for one purpose (say `clients.exports`, or one exchange room), sealed
    with the server key. A destroyed KEK keeps its row without key material, so the blobs it
    wrapped stay accounted for while nobody can open them again.

    Rotation retires a KEK and makes a new one for the purpose: one current KEK per purpose,
    any number of retired ones, each erased once no blob needs it any more."""

    __tablename__ = "key_encryption_keys"
    __table_args__ = (
        Index(
            "uq_key_encryption_keys_current",
            "tenant_id",
            "purpose",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    purpose: Mapped[str] = mapped_column(String(80))
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]


class Blob(IdMixin, TenantOwned, Base):
    """One sealed piece of content: where it is, its wrapped data key, and what it held."""

    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_expires_at", "expires_at"),)

    kek_id: Mapped[UUID] = mapped_column(ForeignKey("key_encryption_keys.id", ondelete="RESTRICT"), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    # Of the plaintext: what a reader gets back, and what it can check it against.
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
