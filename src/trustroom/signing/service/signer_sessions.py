"""The signer's browser session: posting the invite token once (`POST /s/<token>`) opens
it, and every page after that is reached by its cookie, so the token does not stay in URLs
that end up in logs, browser history or Referer headers.

A session is bound to the invite it was opened with: an invite replaced by a newer one, or
a dossier that ended, refuses the session as it refuses the link (`signer_access.check_open`).
Its token is kept as a keyed hash only; it lives `signer_session_seconds`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...db import bind_tenant, cross_tenant, utcnow
from ...keys import ServerKeys
from ...settings import SigningSettings
from ..models import Dossier, Invite, Invitee, SignerSession
from .signer_access import SignerAccess

SESSION_HASH = "signer-session"


def signer_actor(found: SignerAccess, *, ip: str | None, correlation_id: str | None = None) -> Actor:
    """The invitee, acting through their invite: audited with their address."""
    return Actor(found.dossier.tenant_id, ActorKind.SIGNER, found.invitee.id, ip=ip, correlation_id=correlation_id)


async def open_session(
    session: AsyncSession,
    keys: ServerKeys,
    settings: SigningSettings,
    found: SignerAccess,
    *,
    ip: str | None,
    user_agent: str | None,
) -> str:
    """A new session for the invite; its token (for the cookie) is returned once."""
    token = secrets.token_urlsafe(32)
    session.add(
        SignerSession(
            tenant_id=found.dossier.tenant_id,
            invite_id=found.invite.id,
            invitee_id=found.invitee.id,
            token_hash=keys.keyed_hash(SESSION_HASH, token),
            expires_at=utcnow() + timedelta(seconds=settings.signer_session_seconds),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    await session.flush()
    return token


async def find(session: AsyncSession, keys: ServerKeys, token: str) -> SignerAccess | None:
    """The invite, invitee and dossier of a live session (the session is then bound to
    their tenant); None when the cookie is unknown or the session expired. Whether the
    dossier still takes actions is the caller's check."""
    async with cross_tenant(session):
        row = (
            await session.execute(
                select(SignerSession, Invite, Invitee, Dossier)
                .join(Invite, Invite.id == SignerSession.invite_id)
                .join(Invitee, Invitee.id == SignerSession.invitee_id)
                .join(Dossier, Dossier.id == Invite.dossier_id)
                .where(SignerSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
            )
        ).one_or_none()
    if row is None:
        return None
    signer_session, invite, invitee, dossier = row
    if signer_session.expires_at <= utcnow():
        return None
    if not (invite.invitee_id == invitee.id and invitee.dossier_id == dossier.id):
        return None
    await bind_tenant(session, dossier.tenant_id)
    return SignerAccess(dossier, invitee, invite)


async def close(session: AsyncSession, keys: ServerKeys, token: str) -> None:
    async with cross_tenant(session):
        await session.execute(
            delete(SignerSession).where(SignerSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
        )
