"""Jobs of e-signatures: the later groups' invites, reminders, expiry, what the mail
server said about an invite's email, the signing steps and finalisation. Each checks,
under the dossier's row lock, that what it is for is still due, so running one twice (two
workers, a lost lease, a restart) does it once (ADR 0005)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ..actor import Actor
from ..db import bind_tenant
from ..errors import AppError
from ..jobs.service import JobContext, Task
from .channels import MESSAGE_OUTCOME
from .errors import TimestampUnavailable
from .models import STEP_TASK
from .service import archive, delivery, expiry, invites, reminders, steps
from .service.stored_pdfs import Workshop


def _outbound(ctx: JobContext) -> delivery.Outbound:
    return delivery.Outbound(ctx.keys, ctx.settings.public_url)


def _actor(ctx: JobContext) -> Actor:
    assert ctx.tenant_id is not None, "signing jobs belong to a tenant"
    return delivery.system_actor(ctx.tenant_id)


async def _deliver(ctx: JobContext, dossier_id: str) -> dict[str, Any]:
    delivered = await invites.deliver_due(ctx.session, _actor(ctx), _outbound(ctx), UUID(dossier_id))
    return {"delivered": delivered}


async def _remind(ctx: JobContext, dossier_id: str, invite_id: str, number: int) -> dict[str, Any]:
    outcome = await reminders.remind(
        ctx.session, _actor(ctx), _outbound(ctx), UUID(dossier_id), UUID(invite_id), number
    )
    return {"outcome": outcome}


async def _expire_invite(ctx: JobContext, dossier_id: str, invite_id: str) -> dict[str, Any]:
    early = await expiry.expire_invite(ctx.session, _actor(ctx), UUID(dossier_id), UUID(invite_id))
    if early is not None:
        ctx.defer(early)  # a worker whose clock runs ahead; try again when it is time
    return {"early": early}


async def _expire_dossier(ctx: JobContext, dossier_id: str) -> dict[str, Any]:
    early = await expiry.expire_dossier(ctx.session, _actor(ctx), UUID(dossier_id))
    if early is not None:
        ctx.defer(early)
    return {"early": early}


async def _message_outcome(
    ctx: JobContext, message_id: str, about_id: str | None, purpose: str, outcome: str
) -> dict[str, Any]:
    if about_id is not None:
        await delivery.message_outcome(ctx.session, _actor(ctx), UUID(about_id), message_id, outcome)
    return {"outcome": outcome, "purpose": purpose}


DELIVER_INVITES = Task(delivery.DELIVER.name, _deliver)
REMIND_INVITEE = Task(delivery.REMIND.name, _remind)
EXPIRE_INVITE = Task(delivery.EXPIRE_INVITE.name, _expire_invite)
EXPIRE_DOSSIER = Task(delivery.EXPIRE_DOSSIER.name, _expire_dossier)
INVITE_MESSAGE = Task(MESSAGE_OUTCOME.name, _message_outcome)

TASKS: tuple[Task, ...] = (DELIVER_INVITES, REMIND_INVITEE, EXPIRE_INVITE, EXPIRE_DOSSIER, INVITE_MESSAGE)


# --- the signing workflow (ADR 0018) -----------------------------------------------------------


async def _apply_step(ctx: JobContext, dossierId: str, inviteeId: str) -> dict[str, Any]:  # noqa: N803 - ADR 0018's args
    dossier_id, invitee_id = dossierId, inviteeId
    actor = _actor(ctx)
    workshop = Workshop.of(ctx.keys, ctx.settings)
    try:
        outcome = await steps.apply_step(ctx.session, actor, workshop, UUID(dossier_id), UUID(invitee_id))
    except AppError as error:
        # Fail closed: nothing of the step is kept; the failure is, and the job is retried.
        await ctx.session.rollback()
        await bind_tenant(ctx.session, actor.tenant_id)
        reason = error.sub_code
        await steps.record_failure(ctx.session, actor, UUID(dossier_id), UUID(invitee_id), ctx.attempt, reason)
        ctx.retry_later(reason)
        return {"failed": reason}
    return {"outcome": outcome}


async def _finalize(ctx: JobContext, dossier_id: str) -> dict[str, Any]:
    outcome = await steps.finalize(ctx.session, _actor(ctx), Workshop.of(ctx.keys, ctx.settings), UUID(dossier_id))
    return {"outcome": outcome}


# A TSA may be down for a while: retry soon, then every half hour, for about a day.
STEP_RETRY_DELAYS = (10.0, 60.0, 300.0, 900.0, 1800.0)
APPLY_STEP = Task(STEP_TASK, _apply_step, max_attempts=50, retry_delays=STEP_RETRY_DELAYS)
FINALIZE_DOSSIER = Task(steps.FINALIZE.name, _finalize, max_attempts=50, retry_delays=STEP_RETRY_DELAYS)

TASKS = (*TASKS, APPLY_STEP, FINALIZE_DOSSIER)


# --- archive timestamps (B-LTA over the years) ---------------------------------------------------

ARCHIVE_BATCH = 50


async def _archive_timestamps(ctx: JobContext) -> dict[str, Any]:
    """A platform job: every due document and audit report of every tenant renewed (`archive.renew`), each in
    a transaction of its own bound to its tenant, so a killed run loses nothing it did. No
    timestamp to be had stops the run (every document needs one) and the job is retried."""
    workshop = Workshop.of(ctx.keys, ctx.settings)
    counts = {"renewed": 0, "failed": 0}
    for kind in archive.ARCHIVED:
        after = None
        while True:
            async with ctx.database.session(write=False) as read:
                batch = await archive.due_documents(read, after=after, limit=ARCHIVE_BATCH, kind=kind)
            for due in batch:
                after = due.id
                failure = await _renew_one(ctx, workshop, due)
                if failure is None:
                    counts["renewed"] += 1
                    continue
                counts["failed"] += 1
                ctx.retry_later(failure.sub_code)
                if isinstance(failure, TimestampUnavailable):
                    return counts
            if len(batch) < ARCHIVE_BATCH:
                break
            await ctx.report_progress(counts)
    return counts


async def _renew_one(ctx: JobContext, workshop: Workshop, due: archive.DueDocument) -> AppError | None:
    actor = delivery.system_actor(due.tenant_id)
    async with ctx.database.session() as session:
        await bind_tenant(session, due.tenant_id)
        try:
            await archive.renew(session, actor, workshop, due)
        except AppError as error:
            # Fail closed: the document keeps its PDF and its due date; the failure is recorded.
            await session.rollback()
            await bind_tenant(session, due.tenant_id)
            await archive.record_failure(session, actor, due, error.sub_code)
            await session.commit()
            return error
        await session.commit()
    return None


ARCHIVE_TIMESTAMPS = Task("signing.archive_timestamps", _archive_timestamps, retry_delays=STEP_RETRY_DELAYS)

TASKS = (*TASKS, ARCHIVE_TIMESTAMPS)
