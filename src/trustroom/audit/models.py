"""Audit rows and the per-tenant chain head."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TenantOwned, utcnow

GENESIS_HASH = "0" * 64


class AuditEvent(IdMixin, TenantOwned, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index("ix_audit_events_tenant_id_target", "tenant_id", "target_type", "target_id"),
    )

    seq: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def chained_content(self) -> dict[str, Any]:
        """Everything the hash covers."""
        return {
            "tenantId": str(self.tenant_id),
            "seq": self.seq,
            "occurredAt": self.occurred_at.isoformat(),
            "actorKind": self.actor_kind,
            "actorId": self.actor_id,
            "apiKeyId": self.api_key_id,
            "action": self.action,
            "targetType": self.target_type,
            "targetId": self.target_id,
            "data": self.data,
            "correlationId": self.correlation_id,
            "ip": self.ip,
            "prevHash": self.prev_hash,
        }


class AuditChainHead(Base):
    """The newest sequence number and hash of a tenant's chain; it also reveals a deleted tail."""

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
