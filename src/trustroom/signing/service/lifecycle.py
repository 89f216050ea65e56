"""States of dossiers and invitees: every change goes through here, checked against the
life cycle (models.DOSSIER_TRANSITIONS, INVITEE_TRANSITIONS), timestamped, audited and,
for dossiers, announced as `dossier.state.updated`.

`mark_sent` is the send side: the invites (a later step of issue #14) call it with the
first invite, inside their transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import utcnow
from ...jobs import service as jobs
from .. import events
from ..errors import DossierNotDraft, DossierStateInvalid, InviteeStateInvalid, NoSigners
from ..models import (
    DOSSIER_TRANSITIONS,
    INVITEE_ENDS,
    INVITEE_TRANSITIONS,
    Dossier,
    DossierState,
    Invitee,
    InviteeRole,
    InviteeState,
)
from . import invitees as invitee_rows

# The audit action of reaching each state: `signing.dossier.<verb>`.
DOSSIER_ACTIONS = {
    DossierState.PENDING: "signing.dossier.sent",
    DossierState.COMPLETED: "signing.dossier.completed",
    DossierState.DECLINED: "signing.dossier.declined",
    DossierState.CANCELLED: "signing.dossier.cancelled",
    DossierState.EXPIRED: "signing.dossier.expired",
}
FINISHED = frozenset({InviteeState.SIGNED, InviteeState.APPROVED, InviteeState.DECLINED})


async def transition(
    session: AsyncSession,
    actor: Actor,
    dossier: Dossier,
    target: DossierState,
    *,
    now: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Move a dossier (locked by the caller) to `target`, or DossierStateInvalid."""
    previous = DossierState(dossier.state)
    if target not in DOSSIER_TRANSITIONS[previous]:
        raise DossierStateInvalid(current=str(previous), target=str(target))
    dossier.state = target
    dossier.state_changed_at = now or utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        DOSSIER_ACTIONS[target],
        target_type="dossier",
        target_id=dossier.id,
        data={"from": str(previous), "to": str(target), **(data or {})},
    )
    event = events.DossierStateUpdated(dossier_id=dossier.id, state=target, previous_state=previous, by=actor.principal)
    await jobs.emit(session, events.DOSSIER_STATE_UPDATED, event, tenant_id=actor.tenant_id)


async def mark_sent(session: AsyncSession, actor: Actor, dossier: Dossier) -> None:
    """draft → pending, when the first invite goes out: the invitees' time (`expiresIn`)
    starts now. The caller holds the dossier's row lock (access.load_dossier(for_update=True))
    and has checked what sending needs beyond a signer (documents, fields)."""
    if dossier.state != DossierState.DRAFT:
        raise DossierNotDraft(state=str(dossier.state))
    people = await invitee_rows.of_dossier(session, actor, dossier)
    if not any(person.role in (InviteeRole.SIGNER, InviteeRole.APPROVER) for person in people):
        raise NoSigners()
    now = utcnow()
    dossier.sent_at = now
    dossier.expires_at = now + timedelta(seconds=dossier.expires_in)
    await transition(
        session, actor, dossier, DossierState.PENDING, now=now, data={"expiresAt": dossier.expires_at.isoformat()}
    )


async def move_invitee(
    session: AsyncSession, actor: Actor, invitee: Invitee, target: InviteeState, *, reason: str | None = None
) -> None:
    """Move an invitee to `target` along its life cycle, or InviteeStateInvalid: signed is a
    signer's end, approved an approver's, and a viewer ends at viewed. Audited and announced
    as `dossier.invitee.state.updated`. Whoever moves an invitee to signed, approved or
    declined calls `invites.advance` next, so the next group gets its invites."""
    current = InviteeState(invitee.state)
    allowed = target in INVITEE_TRANSITIONS[current]
    if target in FINISHED and target not in INVITEE_ENDS[InviteeRole(invitee.role)]:
        allowed = False
    if not allowed:
        raise InviteeStateInvalid(current=str(current), target=str(target))
    invitee.state = target
    invitee.state_changed_at = utcnow()
    if target == InviteeState.DECLINED:
        invitee.decline_reason = reason
    await session.flush()
    await audit.record(
        session,
        actor,
        f"signing.invitee.{target}",
        target_type="invitee",
        target_id=invitee.id,
        data={"dossierId": str(invitee.dossier_id), "from": str(current), "to": str(target)},
    )
    event = events.InviteeStateUpdated(
        dossier_id=invitee.dossier_id,
        invitee_id=invitee.id,
        state=target,
        previous_state=current,
        by=actor.principal,
    )
    await jobs.emit(session, events.INVITEE_STATE_UPDATED, event, tenant_id=actor.tenant_id)
