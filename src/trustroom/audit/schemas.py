"""Audit log as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from ..schemas import Schema


class AuditEventRead(Schema):
    id: UUID
    seq: int = Field(description="Position in the tenant's hash chain, from 1.")
    occurred_at: datetime
    actor_kind: str = Field(examples=["member"])
    actor_id: str | None
    api_key_id: str | None = Field(description="The app's key when an app acted, also for a member.")
    action: str = Field(examples=["auth.api_key.created"])
    target_type: str | None = Field(examples=["api_key"])
    target_id: str | None
    data: dict[str, Any]
    correlation_id: str | None
    hash: str


class AuditFilter(Schema):
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
