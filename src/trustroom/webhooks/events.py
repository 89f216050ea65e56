"""Events of the webhooks domain."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema


class EndpointDisabled(Schema):
    endpoint_id: UUID
    reason: str = Field(examples=["gone (410)", "failing since 2026-11-17T09:00:00Z"])


ENDPOINT_DISABLED = EventType(
    "webhookEndpoint.disabled",
    EndpointDisabled,
    N_("A webhook endpoint was disabled: it answered 410 or kept failing for days."),
    formerly="webhook.endpoint.disabled",
)


class TestMessage(Schema):
    endpoint_id: UUID
    message: str


TEST = EventType(
    "webhookEndpoint.tested",
    TestMessage,
    N_("An example event, sent on request to one endpoint."),
    formerly="webhook.test",
)

TYPES = (ENDPOINT_DISABLED, TEST)
