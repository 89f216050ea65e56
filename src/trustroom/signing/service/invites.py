"""Invites: sending a dossier to its invitees, group by group, by their channels.

The first invite sends the dossier (draft → pending, after `readiness.assert_ready`) and
schedules its expiry. An invite is delivered at once when its invitee's group has its turn
(`reachable`: the lowest position with a signer or approver still to finish, and every
viewer), else it waits as `scheduled` until `advance` finds the group before finished.
Inviting an invitee again replaces their open invite (its link stops working).

Every change of an invite's state or reminders happens under the dossier's row lock, so
requests and jobs that touch one dossier go one after the other. Delivery, reminders and
expiry after the request are jobs (`signing/tasks.py`, ADR 0005): rows with `visible_at`,
idempotent (each checks the state it expects under that lock and does nothing otherwise),
and they survive restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import paginate, scoped, utcnow, uuid7
from ...jobs import service as jobs
from ...schemas import Paging, Slice, SortOrder
from .. import channels, events
from ..errors import DossierNotSendable, InviteeFinished, InviteeRepeated, InviteeUnknown, InviteNotFound
from ..models import Dossier, DossierState, Invite, Invitee, InviteState
from ..schemas.invites import InviteCreate
from . import access, lifecycle, preparation, readiness, tokens
from . import invitees as invitee_rows
from .delivery import (
    DELIVER,
    EXPIRE_DOSSIER,
    Letterhead,
    Outbound,
    deliver,
    end,
    event,
    is_done,
    locked,
    open_invites,
    reachable,
)
from .stored_pdfs import Workshop

__all__ = ["Outbound", "advance", "create", "deliver_due", "get", "list_invites"]


def _check_sendable(dossier: Dossier, now: datetime) -> None:
    state = DossierState(dossier.state)
    if state == DossierState.PENDING and dossier.expires_at is not None and dossier.expires_at <= now:
        state = DossierState.EXPIRED  # its expiry job has not run yet
    if state not in (DossierState.DRAFT, DossierState.PENDING):
        raise DossierNotSendable(state=str(state))


def _chosen(body: Sequence[InviteCreate], people: Sequence[Invitee]) -> list[tuple[InviteCreate, Invitee]]:
    by_id = {person.id: person for person in people}
    seen: set[UUID] = set()
    chosen = []
    for index, entry in enumerate(body):
        where = f"/{index}/inviteeId"
        if entry.invitee_id in seen:
            raise InviteeRepeated(where)
        invitee = by_id.get(entry.invitee_id)
        if invitee is None:
            raise InviteeUnknown(where)
        if is_done(invitee):
            raise InviteeFinished(where, state=str(invitee.state))
        channels.by_name(entry.channel).check(invitee, f"/{index}/channel")
        seen.add(entry.invitee_id)
        chosen.append((entry, invitee))
    return chosen


async def create(
    session: AsyncSession,
    actor: Actor,
    outbound: Outbound,
    workshop: Workshop,
    dossier_id: UUID,
    body: Sequence[InviteCreate],
) -> list[Invite]:
    """Invite the given invitees; the first invites send the dossier, whose documents are
    prepared (fields placed, certified) in the same transaction."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    now = utcnow()
    _check_sendable(dossier, now)
    people = await invitee_rows.of_dossier(session, actor, dossier)
    chosen = _chosen(body, people)
    if dossier.state == DossierState.DRAFT:
        await readiness.assert_ready(session, actor, dossier, people)
        await lifecycle.mark_sent(session, actor, dossier)
        await preparation.prepare(session, actor, workshop, dossier)
        assert dossier.expires_at is not None
        await jobs.enqueue(
            session, EXPIRE_DOSSIER, tenant_id=dossier.tenant_id, run_at=dossier.expires_at, dossier_id=str(dossier.id)
        )
        now = dossier.state_changed_at
    assert dossier.expires_at is not None
    remaining = max(1, int((dossier.expires_at - now).total_seconds()))
    replaced = await open_invites(session, actor, dossier.id, [invitee.id for _, invitee in chosen])
    for old in replaced:
        await end(session, actor, old, InviteState.REVOKED, now)
    made = []
    for entry, invitee in chosen:
        invite = Invite(
            id=uuid7(),
            tenant_id=dossier.tenant_id,
            dossier_id=dossier.id,
            invitee_id=invitee.id,
            channel=entry.channel,
            state=InviteState.SCHEDULED,
            state_changed_at=now,
            expires_in=entry.expires_in or remaining,
            reminders_sent=0,
            token_salt=tokens.new_salt(),
            created_by=actor.principal,
            created_at=now,
            updated_at=now,
        )
        session.add(invite)
        made.append((invite, invitee))
    await session.flush()
    turn = reachable(people)
    for invite, invitee in made:
        due = invitee.id in turn
        await audit.record(
            session,
            actor,
            "signing.invite.created",
            target_type="invite",
            target_id=invite.id,
            data={
                "dossierId": str(dossier.id),
                "inviteeId": str(invitee.id),
                "channel": str(invite.channel),
                "expiresIn": invite.expires_in,
                "scheduled": not due,
            },
        )
        state = InviteState.SENT if due else InviteState.SCHEDULED
        await jobs.emit(session, events.INVITE_CREATED, event(invite, state), tenant_id=dossier.tenant_id)
    letterhead = await Letterhead.of(session, dossier)
    for invite, invitee in made:
        if invitee.id in turn:
            await deliver(session, actor, outbound, letterhead, invitee, invite, now)
    return [invite for invite, _ in made]


async def advance(session: AsyncSession, actor: Actor, dossier: Dossier) -> None:
    """After an invitee finished: deliver the invites of the group whose turn has come. The
    delivery runs as a job once the caller's transaction commits (it needs the server keys
    and the public URL); it changes nothing while the group before has not finished."""
    if dossier.state != DossierState.PENDING:
        return
    await jobs.enqueue(session, DELIVER, tenant_id=dossier.tenant_id, dossier_id=str(dossier.id))


async def deliver_due(session: AsyncSession, actor: Actor, outbound: Outbound, dossier_id: UUID) -> int:
    """Deliver every scheduled invite whose invitee's turn has come; how many were."""
    dossier = await locked(session, actor, dossier_id)
    if dossier is None or dossier.state != DossierState.PENDING:
        return 0
    people = await invitee_rows.of_dossier(session, actor, dossier)
    turn = reachable(people)
    by_id = {person.id: person for person in people}
    due = [i for i in await open_invites(session, actor, dossier.id) if i.state == InviteState.SCHEDULED]
    due = [invite for invite in due if invite.invitee_id in turn]
    if not due:
        return 0
    letterhead = await Letterhead.of(session, dossier)
    now = utcnow()
    for invite in due:
        await deliver(session, actor, outbound, letterhead, by_id[invite.invitee_id], invite, now)
    return len(due)


async def list_invites(
    session: AsyncSession,
    actor: Actor,
    dossier_id: UUID,
    paging: Paging,
    *,
    invitee_id: UUID | None = None,
    state: InviteState | None = None,
) -> Slice[Invite]:
    """A dossier's invites, newest first unless Ascending."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    stmt = scoped(select(Invite), actor).where(Invite.dossier_id == dossier.id)
    if invitee_id is not None:
        stmt = stmt.where(Invite.invitee_id == invitee_id)
    if state is not None:
        stmt = stmt.where(Invite.state == state)
    order = Invite.id.asc() if paging.sort_order is SortOrder.ASCENDING else Invite.id.desc()
    return await paginate(session, stmt, paging, order)


async def get(session: AsyncSession, actor: Actor, dossier_id: UUID, invite_id: UUID) -> Invite:
    dossier = await access.load_dossier(session, actor, dossier_id)
    invite: Invite | None = await session.scalar(
        scoped(select(Invite), actor).where(Invite.id == invite_id, Invite.dossier_id == dossier.id)
    )
    if invite is None:
        raise InviteNotFound()
    return invite
