"""Webhook endpoints and their signing secrets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, Timestamps, utcnow


class WebhookEndpoint(IdMixin, TenantOwned, Timestamps, Base):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # Event type names this endpoint wants; empty means every type.
    event_types: Mapped[list[str]]
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Start of the current run of failed attempts; None after any success.
    failing_since: Mapped[datetime | None]
    rate_limit: Mapped[int | None] = mapped_column(doc="Deliveries per second at most; none = unlimited.")
    # The rate limit's theoretical arrival time (GCRA): the next free sending slot.
    next_send_at: Mapped[datetime | None]
    # Custom headers as sealed JSON: they often carry credentials of the receiver.
    headers_sealed: Mapped[str | None] = mapped_column(Text)
    header_names: Mapped[list[str]]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once

    @property
    def concurrency_token(self) -> str:
        return str(self.version)


class WebhookSecret(IdMixin, TenantOwned, Base):
    """A signing secret; the current one has no end, a rotated-out one ends after the overlap."""

    __tablename__ = "webhook_secrets"

    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WebhookDelivery(IdMixin, TenantOwned, Base):
    """One event on its way to one endpoint (a "message" in the API)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    event_id: Mapped[UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(IdMixin, TenantOwned, Base):
    """One HTTP attempt of a delivery: what the receiver answered, and how fast."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(16), default="scheduled")
