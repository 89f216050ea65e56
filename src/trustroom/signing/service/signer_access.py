"""The signer's way in: an invite token (from the link `/s/<token>`, or the bearer of the
signer's JSON API) resolved to its dossier, invitee and invite.

Resolving reads and changes nothing but the failure counter of the client's address: mail
scanners follow links, so opening one must not mark anything viewed (the signer side does
that on an explicit action). Tokens are 384-bit values checked in constant time (ADR 0017);
still, a client address that presents too many invalid ones is refused for a while, even a
valid one, so guessing stays pointless.

Refusals, most specific first: too many failures (429), an invalid token or one of another
dossier (401, counted), a dossier that has ended or expired (its end closes its invites),
a replaced invite, an expired invite (410), and an invite whose group's turn has not come (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...auth.service import rate_limits
from ...db import bind_tenant, cross_tenant, utcnow
from ...keys import ServerKeys
from ...settings import Settings
from ..errors import (
    DossierEnded,
    InviteExpired,
    InviteNotOpenYet,
    InviteReplaced,
    InviteTokenInvalid,
    InviteTokenRateLimited,
)
from ..models import Dossier, DossierState, Invite, Invitee, InviteState
from . import tokens

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class SignerAccess:
    dossier: Dossier
    invitee: Invitee
    invite: Invite


def _limit_key(ip: str) -> str:
    return f"invite-token-ip:{ip}"


async def resolve(
    session: AsyncSession,
    keys: ServerKeys,
    settings: Settings,
    token: str,
    *,
    ip: str,
    dossier_id: UUID | None = None,
    now: datetime | None = None,
    completed_ok: bool = False,
) -> SignerAccess:
    """The dossier, invitee and invite a token opens (the session is then bound to their
    tenant), or a refusal. `dossier_id`, when the request names a dossier, must be the
    token's. Invalid tokens count against `ip`: raise the refusal so the count commits.
    `completed_ok` lets a completed dossier through (the signer's status and downloads)."""
    limit = settings.auth.ip_attempts_per_minute
    wait = await rate_limits.peek(session, _limit_key(ip), limit=limit, window_seconds=WINDOW_SECONDS)
    if wait is not None:
        raise InviteTokenRateLimited(wait)
    found = await _find(session, keys, token)
    if found is None or (dossier_id is not None and found.dossier.id != dossier_id):
        wait = await rate_limits.hit(session, _limit_key(ip), limit=limit, window_seconds=WINDOW_SECONDS)
        raise InviteTokenRateLimited(wait) if wait is not None else InviteTokenInvalid()
    await bind_tenant(session, found.dossier.tenant_id)
    check_open(found, now or utcnow(), completed_ok=completed_ok)
    return found


async def _find(session: AsyncSession, keys: ServerKeys, token: str) -> SignerAccess | None:
    parsed = tokens.invite_id_of(token)
    if parsed is None:
        tokens.matches(keys, None, b"")  # the same work as for a well-formed guess
        return None
    invite_id, mac = parsed
    # Across tenants: the token is what says whose invite it is.
    async with cross_tenant(session):
        row = (
            await session.execute(
                select(Invite, Invitee, Dossier)
                .join(Invitee, Invitee.id == Invite.invitee_id)
                .join(Dossier, Dossier.id == Invite.dossier_id)
                .where(Invite.id == invite_id)
            )
        ).one_or_none()
    invite = row[0] if row is not None else None
    if not tokens.matches(keys, invite, mac) or row is None:
        return None
    invite, invitee, dossier = row
    # The MAC covers these ids; the rows must agree with each other as well.
    if not (invite.tenant_id == invitee.tenant_id == dossier.tenant_id and invitee.dossier_id == dossier.id):
        return None
    return SignerAccess(dossier, invitee, invite)


def check_open(found: SignerAccess, now: datetime, *, completed_ok: bool = False) -> None:
    """Refuse a replaced invite, an ended dossier (a completed one too unless
    `completed_ok`), an expired invite, and one whose group's turn has not come."""
    dossier, invite = found.dossier, found.invite
    state = DossierState(dossier.state)
    if state == DossierState.PENDING and dossier.expires_at is not None and dossier.expires_at <= now:
        state = DossierState.EXPIRED  # its expiry job has not run yet
    if state == DossierState.COMPLETED and completed_ok:
        return
    if state != DossierState.PENDING:
        # Before the invite's own state: a dossier that ended closed its invites too.
        raise DossierEnded(state=str(state))
    if invite.state == InviteState.REVOKED:
        raise InviteReplaced()
    if invite.state == InviteState.EXPIRED or (invite.expires_at is not None and invite.expires_at <= now):
        raise InviteExpired()
    if invite.state == InviteState.SCHEDULED:
        raise InviteNotOpenYet()


async def identify(session: AsyncSession, keys: ServerKeys, token: str) -> SignerAccess | None:
    """Whose a valid token is, without any check: only to word a refusal (an ended dossier,
    an expired invite) in the invitee's language after `resolve` refused it."""
    return await _find(session, keys, token)
