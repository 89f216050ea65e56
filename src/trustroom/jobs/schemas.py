"""Jobs as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from ..schemas import Schema
from .models import JobStatus


class JobRead(Schema):
    id: UUID = Field(examples=["0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"])
    task: str = Field(examples=["clients.export_contacts"])
    status: JobStatus
    attempts: int
    max_attempts: int
    progress: dict[str, Any] | None = Field(description="Task-defined, e.g. {done, total}.", examples=[{"done": 5}])
    result: dict[str, Any] | None
    last_error: str | None = Field(description="Why the last attempt failed, if it did.")
    created_at: datetime
    visible_at: datetime = Field(description="When a pending job is due, or a leased job's lease ends.")
    finished_at: datetime | None


class EventTypeRead(Schema):
    type: str = Field(examples=["member.created"])
    description: str = Field(examples=["A member was added."])
    data_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the event's `data`.")
    formerly: str | None = Field(
        None,
        description="The type's name before a rename; webhook endpoint filters still take it, for one release.",
        examples=["api_key.created"],
    )
