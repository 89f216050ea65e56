"""Member invitations: an admin (or an app) invites someone by email; the one-time link
lets them choose a password and enrol TOTP, and the member exists from then on.

The link's token is stored as a keyed hash only. Inviting an address again replaces the
pending invitation (its link stops working). The email is queued in the inviting
transaction (messaging.queue), so it leaves only if the invitation commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import bind_tenant, cross_tenant, paginate, scoped, utcnow
from ...errors import N_
from ...i18n import translations
from ...jobs import service as jobs
from ...keys import ServerKeys
from ...messaging import service as messaging
from ...messaging.models import Channel
from ...schemas import Paging, Slice, SortOrder
from ...settings import AuthSettings
from .. import events
from ..errors import EmailTaken, InvitationAccepted, InvitationNotFound
from ..models import ROLE_LABELS, Member, MemberInvitation, Role, Tenant
from . import members, rate_limits
from .portal import login_path, member_actor

TOKEN_HASH = "member-invitation"  # noqa: S105 - a hash purpose, not a secret
LINK_PATH = "/portal/invitations/"
VALID_FOR = timedelta(days=7)
MESSAGE_PURPOSE = "auth.member_invitation"
# The project's password rule (as for clients' passwords): long enough, and not the address.
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200

EMAIL_SUBJECT = N_("Your invitation to the advisor portal of %(tenant)s")
EMAIL_TEXT = N_(
    "You have been invited to the advisor portal of %(tenant)s as %(role)s.\n\n"
    "Open this link to choose your password and set up your authenticator app:\n%(link)s\n\n"
    "The link works once and until %(expires)s (UTC). Afterwards, sign in to the advisor portal "
    "of %(tenant)s here (keep this address):\n%(sign_in)s\n\n"
    "If you did not expect this invitation, ignore this email."
)
PASSWORD_TOO_SHORT = N_("The password must have at least %(length)s characters.")
PASSWORD_IS_EMAIL = N_("The password must not be your email address.")
PASSWORDS_DIFFER = N_("The two passwords are not the same.")


def _normalize(email: str) -> str:
    return email.strip().lower()


async def invite(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    *,
    email: str,
    role: Role,
    display_name: str | None = None,
    language: str | None = None,
    public_url: str,
) -> MemberInvitation:
    """Invite someone who is not a member yet; a pending invitation to the address is replaced."""
    email = _normalize(email)
    member = await session.scalar(scoped(select(Member.id), actor).where(Member.email == email))
    if member is not None:
        raise EmailTaken()
    now = utcnow()
    pending = list(
        await session.scalars(
            scoped(select(MemberInvitation), actor).where(
                MemberInvitation.email == email,
                MemberInvitation.accepted_at.is_(None),
                MemberInvitation.revoked_at.is_(None),
                MemberInvitation.expires_at > now,
            )
        )
    )
    for old in pending:
        old.revoked_at = now
    replaced = [str(old.id) for old in pending]
    tenant = await session.get(Tenant, actor.tenant_id)
    assert tenant is not None, "the actor's tenant exists"
    token = secrets.token_urlsafe(32)
    invitation = MemberInvitation(
        tenant_id=actor.tenant_id,
        email=email,
        display_name=display_name,
        role=Role(role),
        language=language or tenant.default_language,
        token_hash=keys.keyed_hash(TOKEN_HASH, token),
        invited_by=actor.principal,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    session.add(invitation)
    await session.flush()
    base = public_url.rstrip("/")
    await _send(session, keys, invitation, tenant, f"{base}{LINK_PATH}{token}", f"{base}{login_path(tenant.id)}")
    data: dict[str, Any] = {"role": str(role), "expiresAt": invitation.expires_at.isoformat()}
    if replaced:
        data["replaces"] = replaced
    await audit.record(
        session,
        actor,
        "auth.member_invitation.created",
        target_type="memberInvitation",
        target_id=invitation.id,
        data=data,
    )
    payload = {"invitation_id": invitation.id, "role": str(role), "replaces": replaced}
    await jobs.emit(session, events.INVITATION_CREATED, payload, tenant_id=actor.tenant_id)
    return invitation


async def _send(
    session: AsyncSession, keys: ServerKeys, invitation: MemberInvitation, tenant: Tenant, link: str, sign_in: str
) -> None:
    """The email: the one-time link, and the tenant's own sign-in page for every later sign-in
    (sign-ins are bound to a tenant; nothing else tells the member where it is)."""
    gettext = translations(invitation.language).gettext
    params = {
        "tenant": tenant.name,
        "role": gettext(ROLE_LABELS[Role(invitation.role)]),
        "link": link,
        "expires": invitation.expires_at.strftime("%Y-%m-%d %H:%M"),
        "sign_in": sign_in,
    }
    content = messaging.Content(invitation.email, gettext(EMAIL_SUBJECT) % params, gettext(EMAIL_TEXT) % params)
    await messaging.queue(
        session,
        keys,
        tenant_id=invitation.tenant_id,
        channel=Channel.EMAIL,
        content=content,
        purpose=MESSAGE_PURPOSE,
        about_id=invitation.id,
    )


async def list_invitations(
    session: AsyncSession, actor: Actor, paging: Paging, *, status: str | None = None
) -> Slice[MemberInvitation]:
    stmt = scoped(select(MemberInvitation), actor)
    now = utcnow()
    open_ = (MemberInvitation.accepted_at.is_(None), MemberInvitation.revoked_at.is_(None))
    if status == "pending":
        stmt = stmt.where(*open_, MemberInvitation.expires_at > now)
    elif status == "expired":
        stmt = stmt.where(*open_, MemberInvitation.expires_at <= now)
    elif status == "accepted":
        stmt = stmt.where(MemberInvitation.accepted_at.is_not(None))
    elif status == "revoked":
        stmt = stmt.where(MemberInvitation.revoked_at.is_not(None))
    ascending = paging.sort_order is SortOrder.ASCENDING
    return await paginate(session, stmt, paging, MemberInvitation.id.asc() if ascending else MemberInvitation.id.desc())


async def get(session: AsyncSession, actor: Actor, invitation_id: UUID) -> MemberInvitation:
    found: MemberInvitation | None = await session.scalar(
        scoped(select(MemberInvitation), actor).where(MemberInvitation.id == invitation_id)
    )
    if found is None:
        raise InvitationNotFound()
    return found


async def revoke(session: AsyncSession, actor: Actor, invitation_id: UUID) -> None:
    """The link stops working; revoking a revoked or expired invitation changes nothing."""
    invitation = await get(session, actor, invitation_id)
    if invitation.accepted_at is not None:
        raise InvitationAccepted()
    if invitation.status != "pending":
        return
    invitation.revoked_at = utcnow()
    await session.flush()
    await audit.record(
        session, actor, "auth.member_invitation.revoked", target_type="memberInvitation", target_id=invitation.id
    )
    payload = {"invitation_id": invitation.id, "role": str(invitation.role)}
    await jobs.emit(session, events.INVITATION_REVOKED, payload, tenant_id=actor.tenant_id)


async def find(
    session: AsyncSession, keys: ServerKeys, token: str, *, for_update: bool = False
) -> MemberInvitation | None:
    """The invitation behind a link, whatever its state (the page says why it cannot be used);
    `for_update` locks it, so two submissions of one link cannot both make the member."""
    stmt = select(MemberInvitation).where(MemberInvitation.token_hash.in_(keys.keyed_hashes(TOKEN_HASH, token)))
    async with cross_tenant(session):
        found = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if found is not None:
        await bind_tenant(session, found.tenant_id)
    return found


async def rate_limited(session: AsyncSession, settings: AuthSettings, ip: str) -> int | None:
    """Count a visit of an invitation link from this address; seconds to wait when too many
    (tokens are unguessable, but trying them must stay expensive)."""
    key = f"invitation-ip:{ip}"
    return await rate_limits.hit(session, key, limit=settings.ip_attempts_per_minute, window_seconds=60)


def password_problem(password: str, repeated: str, email: str) -> tuple[str, dict[str, object]] | None:
    """Why a chosen password is refused (a message and its parameters), or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return PASSWORD_TOO_SHORT, {"length": PASSWORD_MIN_LENGTH}
    if password.strip().lower() == email:
        return PASSWORD_IS_EMAIL, {}
    if password != repeated:
        return PASSWORDS_DIFFER, {}
    return None


@dataclass(frozen=True)
class Accepted:
    member: Member
    invitation: MemberInvitation


async def accept(
    session: AsyncSession,
    keys: ServerKeys,
    invitation: MemberInvitation,
    *,
    password: str,
    display_name: str | None,
    ip: str | None,
) -> Accepted:
    """Make the member (the password chosen, a fresh TOTP secret to enrol) and use the link up.

    The caller has checked the password rule and that the invitation is pending."""
    assert invitation.status == "pending"
    new = await members.add(
        session,
        invitation.tenant_id,
        keys,
        email=invitation.email,
        role=Role(invitation.role),
        display_name=display_name or invitation.display_name,
        password=password,
    )
    invitation.accepted_at = utcnow()
    invitation.member_id = new.member.id
    await session.flush()
    actor = member_actor(new.member, ip)
    data = {"invitationId": str(invitation.id), "role": str(invitation.role)}
    await audit.record(
        session, actor, "auth.member_invitation.accepted", target_type="member", target_id=new.member.id, data=data
    )
    await jobs.emit(
        session,
        events.INVITATION_ACCEPTED,
        {"invitation_id": invitation.id, "role": str(invitation.role), "member_id": new.member.id},
        tenant_id=invitation.tenant_id,
    )
    await jobs.emit(
        session,
        events.MEMBER_CREATED,
        {"member_id": new.member.id, "role": str(invitation.role)},
        tenant_id=invitation.tenant_id,
    )
    return Accepted(new.member, invitation)
