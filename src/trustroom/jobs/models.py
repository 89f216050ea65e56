"""The jobs table."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, utcnow


class JobStatus(StrEnum):
    PENDING = "pending"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


CLAIMABLE = (JobStatus.PENDING, JobStatus.LEASED)


class Job(IdMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim reads only live rows, oldest due first.
        Index(
            "ix_jobs_claimable",
            "visible_at",
            "id",
            postgresql_where=text("status IN ('pending', 'leased')"),
            sqlite_where=text("status IN ('pending', 'leased')"),
        ),
        # The claim counts what runs per concurrency key.
        Index(
            "ix_jobs_running_concurrency_key",
            "concurrency_key",
            postgresql_where=text("status = 'leased'"),
            sqlite_where=text("status = 'leased'"),
        ),
    )

    # Jobs of the platform itself (schedules, sweeps) belong to no tenant.
    tenant_id: Mapped[UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    # Not before (pending) or lease end (leased): one column serves both, like SQS.
    visible_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # At most `concurrency_limit` leased jobs share a key (e.g. one webhook endpoint), so a
    # slow receiver holds a bounded share of the workers and never delays the others.
    concurrency_key: Mapped[str | None] = mapped_column(String(200))
    concurrency_limit: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Event(IdMixin, Base):
    """An outbox row: something happened in a tenant; handed to subscribers by the dispatcher."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        # The dispatcher reads only undispatched events, oldest first.
        Index(
            "ix_events_undispatched",
            "occurred_at",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    tenant_id: Mapped[UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]]
    dispatched_at: Mapped[datetime | None]
    # Set when dispatching this event failed: not tried again before then.
    dispatch_after: Mapped[datetime | None]

    @property
    def event_id(self) -> str:
        """The id receivers see (Standard Webhooks `webhook-id`), stable across retries."""
        return message_id(self.id)

    def envelope(self) -> dict[str, Any]:
        return envelope(self.type, self.occurred_at, self.data)


def message_id(event_id: UUID) -> str:
    """An event's id as receivers see it (Standard Webhooks `webhook-id`)."""
    return f"msg_{event_id.hex}"


def envelope(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """What a webhook delivers of an event: thin, the type, the time and the data."""
    timestamp = occurred_at.isoformat().replace("+00:00", "Z")
    return {"type": event_type, "timestamp": timestamp, "data": data}
