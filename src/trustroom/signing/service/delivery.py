"""Delivering invites: the parts that creating them, the later groups, reminders and
expiry share. Whose turn it is (`reachable`), who a message comes from (`Letterhead`),
delivering an invite through its channel (`deliver`), ending one (`end`), and what the
mail server said (`message_outcome`).

Every change of an invite's state or reminders happens under the dossier's row lock
(`locked`), so requests and jobs that touch one dossier go one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...auth.models import Member, Tenant
from ...db import scoped, utcnow
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from ...keys import ServerKeys
from .. import channels, events
from ..errors import DossierNotFound
from ..models import (
    OPEN_INVITE_STATES,
    Dossier,
    Invite,
    InviteChannel,
    Invitee,
    InviteeRole,
    InviteeState,
    InviteState,
)
from . import access, lifecycle, tokens

MAX_REMINDERS = 5
# The tasks live in signing/tasks.py, which imports this module.
DELIVER = TaskRef("signing.deliver_invites")
REMIND = TaskRef("signing.remind_invitee")
EXPIRE_INVITE = TaskRef("signing.expire_invite")
EXPIRE_DOSSIER = TaskRef("signing.expire_dossier")


@dataclass(frozen=True)
class Outbound:
    """What delivering needs beyond the database: the server keys (links, sealed messages)
    and the public URL the links start with."""

    keys: ServerKeys
    public_url: str

    def link(self, invite: Invite) -> str:
        return tokens.link_of(self.keys, invite, self.public_url)

    def invite_uri(self, invite: Invite) -> str | None:
        """The link the API shows: for channels the provider delivers, while the invite is open."""
        if channels.by_name(invite.channel).shows_link and invite.state in OPEN_INVITE_STATES:
            return self.link(invite)
        return None


def system_actor(tenant_id: UUID) -> Actor:
    """Who acts in the jobs: reminders, expiry, later groups' delivery."""
    return Actor(tenant_id, ActorKind.SYSTEM, None)


def is_done(invitee: Invitee) -> bool:
    """Finished: signed, approved or declined; a viewer once they viewed."""
    state = InviteeState(invitee.state)
    if invitee.role == InviteeRole.VIEWER:
        return state == InviteeState.VIEWED
    return state in lifecycle.FINISHED


def reachable(people: Sequence[Invitee]) -> set[UUID]:
    """The invitees whose turn it is: every viewer, and the group at the lowest position that
    still has a signer or approver to finish (the groups below it have all finished)."""
    waiting = [p.position for p in people if p.role != InviteeRole.VIEWER and p.state not in lifecycle.FINISHED]
    current = min(waiting, default=None)
    return {
        p.id
        for p in people
        if p.role == InviteeRole.VIEWER or (current is not None and p.position <= current and not is_done(p))
    }


def event(invite: Invite, state: InviteState | None = None) -> events.InviteChanged:
    return events.InviteChanged(
        dossier_id=invite.dossier_id,
        invite_id=invite.id,
        invitee_id=invite.invitee_id,
        channel=InviteChannel(invite.channel),
        state=state or InviteState(invite.state),
    )


async def open_invites(
    session: AsyncSession, actor: Actor, dossier_id: UUID, invitee_ids: Sequence[UUID] | None = None
) -> list[Invite]:
    stmt = scoped(select(Invite), actor).where(
        Invite.dossier_id == dossier_id, Invite.state.in_([str(state) for state in OPEN_INVITE_STATES])
    )
    if invitee_ids is not None:
        stmt = stmt.where(Invite.invitee_id.in_(invitee_ids))
    return list(await session.scalars(stmt.order_by(Invite.id)))


async def end(session: AsyncSession, actor: Actor, invite: Invite, state: InviteState, now: datetime) -> None:
    """An open invite ends: expired (announced) or revoked by a newer one."""
    previous = invite.state
    invite.state = state
    invite.state_changed_at = now
    await session.flush()
    await audit.record(
        session,
        actor,
        f"signing.invite.{state}",
        target_type="invite",
        target_id=invite.id,
        data={"dossierId": str(invite.dossier_id), "inviteeId": str(invite.invitee_id), "from": str(previous)},
    )
    if state == InviteState.EXPIRED:
        await jobs.emit(session, events.INVITE_EXPIRED, event(invite), tenant_id=invite.tenant_id)


@dataclass(frozen=True)
class Letterhead:
    """Who the messages of a dossier come from: the member responsible for it, and the provider."""

    dossier: Dossier
    sender: str
    organisation: str

    @classmethod
    async def of(cls, session: AsyncSession, dossier: Dossier) -> Letterhead:
        sender = await session.scalar(
            select(Member.display_name).where(
                Member.tenant_id == dossier.tenant_id, Member.id == dossier.owner_member_id
            )
        )
        organisation = await session.scalar(select(Tenant.name).where(Tenant.id == dossier.tenant_id))
        return cls(dossier, sender or "", organisation or "")

    def letter(
        self, kind: channels.Kind, invitee: Invitee, invite: Invite, link: str, reminder: int = 0
    ) -> channels.Letter:
        assert invite.expires_at is not None, "set on delivery"
        return channels.Letter(
            kind=kind,
            dossier=self.dossier,
            invitee=invitee,
            invite=invite,
            link=link,
            sender=self.sender,
            organisation=self.organisation,
            expires_at=invite.expires_at,
            reminder=reminder,
        )


async def deliver(
    session: AsyncSession,
    actor: Actor,
    outbound: Outbound,
    letterhead: Letterhead,
    invitee: Invitee,
    invite: Invite,
    now: datetime,
) -> None:
    """scheduled → sent: the invitee is invited, the channel delivers, reminders and expiry are due."""
    dossier = letterhead.dossier
    assert dossier.expires_at is not None
    invite.state = InviteState.SENT
    invite.state_changed_at = now
    invite.sent_at = now
    invite.expires_at = min(now + timedelta(seconds=invite.expires_in), dossier.expires_at)
    if invitee.state == InviteeState.WAITING:
        await lifecycle.move_invitee(session, actor, invitee, InviteeState.INVITED)
    letter = letterhead.letter(channels.Kind.INVITE, invitee, invite, outbound.link(invite))
    message_id = await channels.by_name(invite.channel).deliver(session, outbound.keys, letter)
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.invite.sent",
        target_type="invite",
        target_id=invite.id,
        data={
            "dossierId": str(dossier.id),
            "inviteeId": str(invitee.id),
            "channel": str(invite.channel),
            "expiresAt": invite.expires_at.isoformat(),
            "messageId": str(message_id) if message_id else None,
        },
    )
    await schedule_reminder(session, dossier, invite, 1, now)
    if invite.expires_at < dossier.expires_at:  # else the dossier's expiry ends it
        await jobs.enqueue(
            session,
            EXPIRE_INVITE,
            tenant_id=invite.tenant_id,
            run_at=invite.expires_at,
            dossier_id=str(dossier.id),
            invite_id=str(invite.id),
        )


async def schedule_reminder(
    session: AsyncSession, dossier: Dossier, invite: Invite, number: int, now: datetime
) -> None:
    if dossier.reminder_in is None or number > MAX_REMINDERS:
        return
    at = now + timedelta(seconds=dossier.reminder_in)
    if invite.expires_at is not None and at >= invite.expires_at:
        return  # no reminder of a link that no longer works
    await jobs.enqueue(
        session,
        REMIND,
        tenant_id=invite.tenant_id,
        run_at=at,
        dossier_id=str(dossier.id),
        invite_id=str(invite.id),
        number=number,
    )


async def locked(session: AsyncSession, actor: Actor, dossier_id: UUID) -> Dossier | None:
    try:
        return await access.load_dossier(session, actor, dossier_id, for_update=True)
    except DossierNotFound:
        return None  # deleted meanwhile (only drafts are, so nothing was due)


async def message_outcome(session: AsyncSession, actor: Actor, invite_id: UUID, message_id: str, outcome: str) -> None:
    """What the mail server said about an email of an invite: `emailSentAt`, or
    `emailBouncedAt` with `dossier.invite.undelivered`."""
    invite = await session.scalar(scoped(select(Invite), actor).where(Invite.id == invite_id))
    if invite is None:
        return
    now = utcnow()
    if outcome == "sent":
        invite.email_sent_at = now
        await session.flush()
        return
    invite.email_bounced_at = now
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.invite.undelivered",
        target_type="invite",
        target_id=invite.id,
        data={"dossierId": str(invite.dossier_id), "inviteeId": str(invite.invitee_id), "messageId": message_id},
    )
    await jobs.emit(session, events.INVITE_UNDELIVERED, event(invite), tenant_id=invite.tenant_id)
