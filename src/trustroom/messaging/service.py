"""Queueing outbound messages in the caller's transaction, and forgetting them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import uuid7
from ..jobs import service as jobs
from ..jobs.service import TaskRef
from ..keys import ServerKeys
from .models import Channel, MessageStatus, OutboundMessage

# The send task lives in `tasks.py`, which imports this module.
SEND = TaskRef("messaging.send", max_attempts=6)


@dataclass(frozen=True)
class Content:
    """What a message says and to whom; only ever stored sealed."""

    to: str
    subject: str
    text: str

    def dumps(self) -> str:
        return json.dumps({"to": self.to, "subject": self.subject, "text": self.text})

    @classmethod
    def loads(cls, raw: str) -> Content:
        found = json.loads(raw)
        return cls(to=found["to"], subject=found["subject"], text=found["text"])


def seal_context(message_id: UUID) -> str:
    return f"outbound-message:{message_id}"


def mask(recipient: str) -> str:
    """`an***@example.com`, `+41*******67`: enough to recognise, not to contact."""
    if "@" in recipient:
        local, _, domain = recipient.rpartition("@")
        return f"{local[:2]}***@{domain}"[:64]
    return f"{recipient[:3]}{'*' * max(0, len(recipient) - 5)}{recipient[-2:]}"[:64]


async def queue(
    session: AsyncSession,
    keys: ServerKeys,
    *,
    tenant_id: UUID,
    channel: Channel,
    content: Content,
    purpose: str,
    about_id: UUID | None = None,
    notify: TaskRef | None = None,
) -> OutboundMessage:
    """A message that is sent once the caller's transaction commits (and never otherwise).

    `notify` names a task of the calling domain that is enqueued, in the transaction that
    records the outcome, once the message is sent or has failed for good: it is called with
    `message_id`, `about_id`, `purpose` and `outcome` (`sent` | `failed`), so a domain learns
    of a refused address without messaging knowing the domain."""
    message_id = uuid7()
    message = OutboundMessage(
        id=message_id,
        tenant_id=tenant_id,
        channel=channel,
        purpose=purpose,
        about_id=about_id,
        recipient_hint=mask(content.to),
        sealed_content=keys.seal(content.dumps(), context=seal_context(message_id)),
        status=MessageStatus.QUEUED,
    )
    session.add(message)
    await session.flush()
    if notify is None:
        await jobs.enqueue(session, SEND, tenant_id=tenant_id, message_id=str(message_id))
    else:
        await jobs.enqueue(session, SEND, tenant_id=tenant_id, message_id=str(message_id), notify=notify.name)
    return message


async def purge_about(session: AsyncSession, tenant_id: UUID, about_id: UUID) -> int:
    """Delete every message about a record, sent or not (anonymization)."""
    result = await session.execute(
        delete(OutboundMessage).where(OutboundMessage.tenant_id == tenant_id, OutboundMessage.about_id == about_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
