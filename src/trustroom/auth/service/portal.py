"""Advisor-portal sign-in: password, then TOTP (enrolled at the first sign-in), then a session.

A sign-in belongs to one tenant (its page is `/portal/t/{tenantId}/login`): members are
unique per tenant and email only, and the same person may be a member of two tenants.
Attempts are counted in the request's transaction and the outcome is returned, not
raised, so the counters are committed even when the attempt fails.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...db import bind_tenant, cross_tenant, utcnow
from ...keys import ServerKeys
from ...logs import correlation_id
from ...settings import AuthSettings
from ..models import Member, PortalSession, Tenant
from . import passwords, rate_limits
from .members import reseal_if_old, totp_secret

SESSION_HASH = "portal-session"
STAGE_TOTP = "totp"
STAGE_ACTIVE = "active"
TOTP_PERIOD = 30


class Outcome(StrEnum):
    NEXT_STEP = "next_step"
    SIGNED_IN = "signed_in"
    INVALID = "invalid"
    LOCKED = "locked"
    EXPIRED = "expired"
    RATE_LIMITED = "rate_limited"


# What a sign-in page answers each refusal with (member and client sign-in alike).
REFUSAL_STATUS = {Outcome.INVALID: 401, Outcome.LOCKED: 423, Outcome.EXPIRED: 401, Outcome.RATE_LIMITED: 429}


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    token: str | None = None
    retry_after: int | None = None
    member: Member | None = None


def member_actor(member: Member, ip: str | None = None) -> Actor:
    return Actor(
        member.tenant_id, ActorKind.MEMBER, member.id, member.permissions, correlation_id=correlation_id.get(), ip=ip
    )


def _is_locked(member: Member) -> bool:
    return member.locked_until is not None and member.locked_until > utcnow()


def _register_failure(member: Member, settings: AuthSettings) -> None:
    member.failed_attempts += 1
    if member.failed_attempts >= settings.login_max_attempts:
        member.locked_until = utcnow() + timedelta(seconds=settings.lockout_seconds)
        member.failed_attempts = 0


async def _open_session(
    session: AsyncSession, keys: ServerKeys, member: Member, stage: str, lifetime: int, ip: str | None
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            tenant_id=member.tenant_id,
            member_id=member.id,
            token_hash=keys.keyed_hash(SESSION_HASH, token),
            stage=stage,
            expires_at=utcnow() + timedelta(seconds=lifetime),
            ip=ip,
        )
    )
    await session.flush()
    return token


async def begin_second_factor(
    session: AsyncSession, keys: ServerKeys, settings: AuthSettings, member: Member, ip: str | None
) -> str:
    """A pending sign-in at the TOTP step, for a member whose password was just set (an
    accepted invitation): the TOTP page enrols them, then signs them in."""
    return await _open_session(session, keys, member, STAGE_TOTP, settings.pending_login_seconds, ip)


async def _rate_limited(session: AsyncSession, settings: AuthSettings, step: str, ip: str) -> Attempt | None:
    """Count an attempt from this address; the refusal to return when there were too many."""
    key = f"{step}-ip:{ip}"
    wait = await rate_limits.hit(session, key, limit=settings.ip_attempts_per_minute, window_seconds=60)
    return None if wait is None else Attempt(Outcome.RATE_LIMITED, retry_after=wait)


async def check_password(
    session: AsyncSession,
    keys: ServerKeys,
    settings: AuthSettings,
    *,
    tenant: Tenant,
    email: str,
    password: str,
    ip: str,
) -> Attempt:
    """The first step: the right password opens a pending sign-in at the TOTP step.

    Only the sign-in page's tenant is looked at: a wrong password never counts against (or
    locks) a member of another tenant with the same email, and the same password in two
    tenants signs in the member of the tenant the page belongs to.
    """
    if limited := await _rate_limited(session, settings, "login", ip):
        return limited
    await bind_tenant(session, tenant.id)
    member = await session.scalar(
        select(Member).where(
            Member.tenant_id == tenant.id, Member.email == email.strip().lower(), Member.disabled_at.is_(None)
        )
    )
    if member is None:
        await passwords.spend_like_a_check(password)
        return Attempt(Outcome.INVALID)
    if _is_locked(member):
        return Attempt(Outcome.LOCKED)
    if await passwords.matches(member.password_hash, password):
        token = await _open_session(session, keys, member, STAGE_TOTP, settings.pending_login_seconds, ip)
        return Attempt(Outcome.NEXT_STEP, token=token, member=member)
    _register_failure(member, settings)
    return Attempt(Outcome.LOCKED if _is_locked(member) else Outcome.INVALID)


def login_path(tenant_id: UUID) -> str:
    """The tenant's own sign-in page of the advisor portal."""
    return f"/portal/t/{tenant_id}/login"


async def find_session(
    session: AsyncSession, keys: ServerKeys, settings: AuthSettings, token: str, *, stage: str
) -> tuple[PortalSession, Member] | None:
    """The live session behind a cookie, with its member; None when unknown, expired or idle."""
    async with cross_tenant(session):
        row = (
            await session.execute(
                select(PortalSession, Member)
                .join(Member, Member.id == PortalSession.member_id)
                .where(PortalSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
            )
        ).one_or_none()
    if row is None:
        return None
    portal_session, member = row
    now = utcnow()
    idle_limit = portal_session.last_seen_at + timedelta(seconds=settings.session_idle_seconds)
    if portal_session.stage != stage or portal_session.expires_at <= now or member.disabled:
        return None
    if stage == STAGE_ACTIVE and idle_limit <= now:
        return None
    await bind_tenant(session, member.tenant_id)
    return portal_session, member


def _matching_step(secret: str, code: str, after_step: int) -> int | None:
    """The time step a code belongs to (now ± one step), if newer than the last one used."""
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // TOTP_PERIOD
    for step in (now_step - 1, now_step, now_step + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


async def check_totp(
    session: AsyncSession, keys: ServerKeys, settings: AuthSettings, *, pending_token: str, code: str, ip: str
) -> Attempt:
    if limited := await _rate_limited(session, settings, "totp", ip):
        return limited
    found = await find_session(session, keys, settings, pending_token, stage=STAGE_TOTP)
    if found is None:
        return Attempt(Outcome.EXPIRED)
    pending, member = found
    if _is_locked(member):
        return Attempt(Outcome.LOCKED, member=member)
    secret = totp_secret(member, keys)
    step = _matching_step(secret, code, member.totp_last_step)
    if step is None:
        _register_failure(member, settings)
        return Attempt(Outcome.LOCKED if _is_locked(member) else Outcome.INVALID, member=member)
    member.totp_last_step = step
    reseal_if_old(member, keys, secret)
    member.failed_attempts = 0
    member.locked_until = None
    first_time = member.totp_enrolled_at is None
    if first_time:
        member.totp_enrolled_at = utcnow()
    await session.delete(pending)
    token = await _open_session(session, keys, member, STAGE_ACTIVE, settings.session_ttl_seconds, ip)
    await audit.record(
        session,
        member_actor(member, ip),
        "auth.member.signed_in",
        target_type="member",
        target_id=member.id,
        data={"totpEnrolled": first_time},
    )
    return Attempt(Outcome.SIGNED_IN, token=token, member=member)


# Idle time is measured coarsely: a page view writes the last-seen time at most once a minute.
TOUCH_INTERVAL = timedelta(seconds=60)


def touch_is_due(portal_session: PortalSession) -> bool:
    return utcnow() - portal_session.last_seen_at >= TOUCH_INTERVAL


async def sign_out(session: AsyncSession, keys: ServerKeys, token: str) -> UUID | None:
    """Ends the session behind a cookie; the tenant it belonged to (where to sign in again), if any."""
    async with cross_tenant(session):
        ended = await session.scalars(
            delete(PortalSession)
            .where(PortalSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
            .returning(PortalSession.tenant_id)
        )
        return ended.first()
