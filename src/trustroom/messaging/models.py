"""The outbound message rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, utcnow


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboundMessage(IdMixin, TenantOwned, Base):
    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_messages_tenant_id_about_id", "tenant_id", "about_id"),)

    channel: Mapped[str] = mapped_column(String(8))
    # What the message is for (e.g. `clients.channel_key`) and which record it is about.
    purpose: Mapped[str] = mapped_column(String(64))
    about_id: Mapped[UUID | None]
    recipient_hint: Mapped[str] = mapped_column(String(64))  # masked, for support questions
    # Recipient, subject and text, sealed with the server key; erased once sent or failed.
    sealed_content: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=MessageStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
