"""Reminders: every `reminderIn` seconds after delivery, at most five, while the invite is
open, the invitee has not finished and the dossier is pending. Each is a job
(`signing.remind_invitee`) that sends reminder n only if n - 1 is the last one sent, so a
repeated run reminds once; a link invite's reminder is the event alone (ADR 0017)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped, utcnow
from ...jobs import service as jobs
from .. import channels, events
from ..models import DossierState, Invite, InviteChannel, Invitee, InviteState
from .delivery import Letterhead, Outbound, is_done, locked, schedule_reminder


async def remind(
    session: AsyncSession, actor: Actor, outbound: Outbound, dossier_id: UUID, invite_id: UUID, number: int
) -> str:
    """Send the `number`-th reminder of an invite, unless it is no longer due; what happened."""
    dossier = await locked(session, actor, dossier_id)
    if dossier is None:
        return "dossier gone"
    invite = await session.scalar(scoped(select(Invite), actor).where(Invite.id == invite_id))
    if invite is None or invite.dossier_id != dossier.id:
        return "invite gone"
    now = utcnow()
    invitee = await session.scalar(scoped(select(Invitee), actor).where(Invitee.id == invite.invitee_id))
    if dossier.state != DossierState.PENDING:
        return f"dossier {dossier.state}"
    if invite.state != InviteState.SENT or (invite.expires_at is not None and invite.expires_at <= now):
        return f"invite {invite.state}"
    if invite.reminders_sent != number - 1:
        return f"reminder {number} already sent"
    if invitee is None or is_done(invitee):
        return "invitee done"
    letterhead = await Letterhead.of(session, dossier)
    letter = letterhead.letter(channels.Kind.REMINDER, invitee, invite, outbound.link(invite), number)
    message_id = await channels.by_name(invite.channel).deliver(session, outbound.keys, letter)
    invite.reminders_sent = number
    invite.last_reminder_at = now
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.invite.reminded",
        target_type="invite",
        target_id=invite.id,
        data={
            "dossierId": str(dossier.id),
            "inviteeId": str(invite.invitee_id),
            "reminder": number,
            "channel": str(invite.channel),
            "messageId": str(message_id) if message_id else None,
        },
    )
    reminded = events.ReminderSent(
        dossier_id=dossier.id,
        invite_id=invite.id,
        invitee_id=invite.invitee_id,
        channel=InviteChannel(invite.channel),
        reminder=number,
    )
    await jobs.emit(session, events.REMINDER_SENT, reminded, tenant_id=dossier.tenant_id)
    await schedule_reminder(session, dossier, invite, number + 1, now)
    return f"reminder {number} sent"
