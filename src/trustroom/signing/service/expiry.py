"""Expiry: at its `expiresAt` a pending dossier becomes expired with its open invites; an
invite that ends before its dossier expires alone. Jobs, each due at that moment, that act
only on what is still open (and wait when a worker's clock runs ahead)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...db import scoped, utcnow
from ..models import DossierState, Invite, InviteState
from . import lifecycle
from .delivery import end, locked, open_invites


async def expire_invite(session: AsyncSession, actor: Actor, dossier_id: UUID, invite_id: UUID) -> float | None:
    """An open invite past its time expires; the seconds still to wait when it is early."""
    dossier = await locked(session, actor, dossier_id)
    if dossier is None:
        return None
    invite: Invite | None = await session.scalar(
        scoped(select(Invite), actor).where(Invite.id == invite_id, Invite.dossier_id == dossier.id)
    )
    if invite is None or invite.state != InviteState.SENT or invite.expires_at is None:
        return None
    now = utcnow()
    if invite.expires_at > now:
        return (invite.expires_at - now).total_seconds()
    await end(session, actor, invite, InviteState.EXPIRED, now)
    return None


async def expire_dossier(session: AsyncSession, actor: Actor, dossier_id: UUID) -> float | None:
    """A pending dossier past its time expires with its open invites; the seconds still to
    wait when it is early."""
    dossier = await locked(session, actor, dossier_id)
    if dossier is None or dossier.state != DossierState.PENDING or dossier.expires_at is None:
        return None
    now = utcnow()
    if dossier.expires_at > now:
        return (dossier.expires_at - now).total_seconds()
    for invite in await open_invites(session, actor, dossier.id):
        await end(session, actor, invite, InviteState.EXPIRED, now)
    await lifecycle.transition(session, actor, dossier, DossierState.EXPIRED, now=now)
    return None
