"""The send task: one message, sent after the transaction that queued it committed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from ..db import bind_tenant, utcnow
from ..jobs.service import JobContext, Task
from . import transports
from .models import Channel, MessageStatus, OutboundMessage
from .service import SEND, Content, seal_context

# Immediate, then about 10 s, 1 min, 5 min, 30 min and 2 h: a verification key is only
# useful for minutes, but a link or a notice is worth delivering late.
RETRY_DELAYS = (10.0, 60.0, 300.0, 1800.0, 7200.0)
ERROR_LENGTH = 500


async def _send(ctx: JobContext, message_id: str) -> dict[str, Any]:
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
    done = {"sealed_content": None, "attempts": OutboundMessage.attempts + 1}
    try:
        route = await transports.send(ctx.settings, channel, message.id, content)
    except transports.PermanentFailure as exc:
        await _finish(ctx, message.id, status=MessageStatus.FAILED, last_error=str(exc)[:ERROR_LENGTH], **done)
        return {"failed": str(exc)}
    except Exception as exc:  # noqa: BLE001 - network, SMTP, gateway or disk: all worth a retry
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
        if ctx.attempt >= SEND.max_attempts:
            await _finish(ctx, message.id, status=MessageStatus.FAILED, last_error=error, **done)
            return {"failed": error}
        await _finish(ctx, message.id, attempts=OutboundMessage.attempts + 1, last_error=error)
        ctx.retry_later(error)
        return {"retrying": error}
    await _finish(ctx, message.id, status=MessageStatus.SENT, sent_at=utcnow(), last_error=None, **done)
    return {"sent": route}


async def _finish(ctx: JobContext, message_id: UUID, **values: Any) -> None:
    await ctx.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.tenant_id == ctx.tenant_id, OutboundMessage.id == message_id)
        .values(**values)
    )


SEND_MESSAGE = Task(SEND.name, _send, max_attempts=SEND.max_attempts, retry_delays=RETRY_DELAYS)
