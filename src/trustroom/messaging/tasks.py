"""The send task: one message, sent after the transaction that queued it committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from ..db import bind_tenant, utcnow
from ..jobs import service as jobs
from ..jobs.service import JobContext, Task, TaskRef
from . import transports
from .models import Channel, MessageStatus, OutboundMessage
from .service import SEND, Content, seal_context

# Immediate, then about 10 s, 1 min, 5 min, 30 min and 2 h: a verification key is only
# useful for minutes, but a link or a notice is worth delivering late.
RETRY_DELAYS = (10.0, 60.0, 300.0, 1800.0, 7200.0)
ERROR_LENGTH = 500


async def _send(ctx: JobContext, message_id: str, notify: str | None = None) -> dict[str, Any]:
    # Read in a short transaction of its own, so no write lock is held while talking SMTP.
    async with ctx.database.session(write=False) as read:
        assert ctx.tenant_id is not None
        await bind_tenant(read, ctx.tenant_id)
        message = await read.scalar(
            select(OutboundMessage).where(
                OutboundMessage.tenant_id == ctx.tenant_id, OutboundMessage.id == UUID(message_id)
            )
        )
        if message is None or message.status != MessageStatus.QUEUED or message.sealed_content is None:
            return {"skipped": "gone" if message is None else message.status}
        content = Content.loads(ctx.keys.unseal(message.sealed_content, context=seal_context(message.id)))
        channel = Channel(message.channel)
        outcome = Outcome(notify, message.id, message.about_id, message.purpose)
    done = {"sealed_content": None, "attempts": OutboundMessage.attempts + 1}
    try:
        route = await transports.send(ctx.settings, channel, message.id, content)
    except transports.PermanentFailure as exc:
        await _finish(ctx, message.id, status=MessageStatus.FAILED, last_error=str(exc)[:ERROR_LENGTH], **done)
        await outcome.tell(ctx, MessageStatus.FAILED)
        return {"failed": str(exc)}
    except Exception as exc:  # noqa: BLE001 - network, SMTP, gateway or disk: all worth a retry
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
        if ctx.attempt >= SEND.max_attempts:
            await _finish(ctx, message.id, status=MessageStatus.FAILED, last_error=error, **done)
            await outcome.tell(ctx, MessageStatus.FAILED)
            return {"failed": error}
        await _finish(ctx, message.id, attempts=OutboundMessage.attempts + 1, last_error=error)
        ctx.retry_later(error)
        return {"retrying": error}
    await _finish(ctx, message.id, status=MessageStatus.SENT, sent_at=utcnow(), last_error=None, **done)
    await outcome.tell(ctx, MessageStatus.SENT)
    return {"sent": route}


@dataclass(frozen=True)
class Outcome:
    """Who is told how a message ended (`service.queue(notify=...)`), and what about."""

    notify: str | None
    message_id: UUID
    about_id: UUID | None
    purpose: str

    async def tell(self, ctx: JobContext, status: MessageStatus) -> None:
        # In the job's transaction: the outcome and the notice commit together or not at all.
        if self.notify is None:
            return
        await jobs.enqueue(
            ctx.session,
            TaskRef(self.notify),
            tenant_id=ctx.tenant_id,
            message_id=str(self.message_id),
            about_id=str(self.about_id) if self.about_id else None,
            purpose=self.purpose,
            outcome=str(status),
        )


async def _finish(ctx: JobContext, message_id: UUID, **values: Any) -> None:
    await ctx.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.tenant_id == ctx.tenant_id, OutboundMessage.id == message_id)
        .values(**values)
    )


SEND_MESSAGE = Task(SEND.name, _send, max_attempts=SEND.max_attempts, retry_delays=RETRY_DELAYS)
