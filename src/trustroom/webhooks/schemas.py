"""Webhook endpoints as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from ..schemas import Bool, InputSchema, Int, Schema, Text, Timestamp

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00\s]+$",
        examples=["https://crm.bank.example/trustroom/webhooks"],
        description="https (http only where the server allows it); private addresses only if allowed.",
    ),
]
Headers = Annotated[
    dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$")], Annotated[str, Field(pattern=r"^[^\r\n\x00]{0,4000}$")]
    ],
    Field(max_length=20, examples=[{"Authorization": "Bearer receiver-token"}]),
]


class EndpointCreate(InputSchema):
    url: Url
    description: Annotated[Text, Field(max_length=1000, examples=["CRM sync"])] = ""
    event_types: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list,
        max_length=200,
        description="Event types to receive; empty = all.",
        examples=[["member.created"]],
    )
    enabled: Bool = True
    rate_limit: Int | None = Field(None, ge=1, le=10_000, description="Deliveries per second at most.")
    headers: Headers | None = Field(None, description="Sent with every delivery; stored sealed, never shown again.")


class EndpointUpdate(InputSchema):
    url: Url | None = None
    description: Annotated[Text | None, Field(max_length=1000)] = None
    event_types: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=200)
    enabled: Bool | None = None
    rate_limit: Int | None = Field(None, ge=1, le=10_000)
    headers: Headers | None = Field(None, description="Replaces all custom headers; {} removes them.")
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class EndpointRead(Schema):
    id: UUID = Field(examples=["0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"])
    url: str = Field(examples=["https://crm.bank.example/trustroom/webhooks"])
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    rate_limit: int | None
    header_names: list[str] = Field(description="Names of the custom headers; their values are never shown.")
    created_at: datetime
    updated_at: datetime
    concurrency_token: str


# The signing secret is `secret` in every answer that carries it (create, read, rotate).
Secret = Annotated[
    str,
    Field(
        description="The signing secret (Standard Webhooks), also readable at …/{id}/secret.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    ),
]


class SecretRead(Schema):
    secret: Secret


class EndpointCreated(EndpointRead):
    secret: Secret


class TestSent(Schema):
    event_id: str = Field(description="The `webhook-id` the test delivery carries.", examples=["msg_0190b5a06c1e7a3b"])


class MessageRead(Schema):
    """One event on its way to one endpoint."""

    id: UUID = Field(description="The message (delivery) id.", examples=["0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"])
    event_id: str = Field(description="The `webhook-id` every attempt carries.", examples=["msg_0190b5a06c1e7a3b"])
    event_type: str = Field(examples=["member.created"])
    endpoint_id: UUID
    status: str = Field(examples=["delivered"], description="pending, delivered, failed or cancelled.")
    attempts: int
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptRead(Schema):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None = Field(description="The first 4 kB of the receiver's answer.")
    trigger: str = Field(examples=["scheduled"], description="scheduled, or manual for a resend.")


class MessageDetail(MessageRead):
    payload: dict[str, Any] = Field(description="The body sent: {type, timestamp, data}.")
    attempt_log: list[AttemptRead]


class RecoverRequest(InputSchema):
    since: Timestamp = Field(
        description="Re-queue every failed message of the endpoint created since then.",
        examples=["2026-11-01T00:00:00Z"],
    )


class RecoverResult(Schema):
    requeued: int
