"""The client's sign-in to the client portal: username and password, then a one-time code
sent by SMS to the account's mobile number (or by email, when the tenant prefers), then a
session.

The code is kept as a keyed hash only and bound to its pending sign-in. Attempts from one
address are rate-limited; wrong passwords and wrong codes both count towards locking the
account for a while; a pending sign-in dies after a few wrong codes. As for members,
outcomes are returned rather than raised, so the counters are committed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...auth.models import Tenant
from ...auth.service import one_time_codes, passwords, rate_limits
from ...auth.service.portal import Outcome
from ...db import bind_tenant, cross_tenant, utcnow
from ...errors import N_
from ...i18n import translations
from ...keys import ServerKeys
from ...logs import correlation_id
from ...messaging import service as messaging
from ...messaging.models import Channel
from ...settings import Settings
from ..models import ClientAccount, ClientSession

SESSION_HASH = "client-session"
CODE_HASH = "client-sign-in-code"
STAGE_CODE = "code"
STAGE_ACTIVE = "active"
MESSAGE_PURPOSE = "exchange.sign_in_code"
SMS_TEXT = N_("Your sign-in code: %(code)s. It is valid for %(minutes)s minutes. Never share it.")
EMAIL_SUBJECT = N_("Your sign-in code")
EMAIL_TEXT = N_(
    "Your sign-in code for your secure exchange is %(code)s.\n\n"
    "It is valid for %(minutes)s minutes. Nobody from your provider will ever ask you for it."
)


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    token: str | None = None
    retry_after: int | None = None
    account: ClientAccount | None = None


def client_actor(account: ClientAccount, ip: str | None = None) -> Actor:
    return Actor(
        account.tenant_id, ActorKind.CLIENT, account.id, frozenset(), correlation_id=correlation_id.get(), ip=ip
    )


def _is_locked(account: ClientAccount) -> bool:
    return account.locked_until is not None and account.locked_until > utcnow()


def _register_failure(account: ClientAccount, settings: Settings) -> None:
    account.failed_attempts += 1
    if account.failed_attempts >= settings.auth.login_max_attempts:
        account.locked_until = utcnow() + timedelta(seconds=settings.auth.lockout_seconds)
        account.failed_attempts = 0


async def _rate_limited(session: AsyncSession, settings: Settings, step: str, ip: str) -> Attempt | None:
    wait = await rate_limits.hit(
        session, f"x-{step}-ip:{ip}", limit=settings.auth.ip_attempts_per_minute, window_seconds=60
    )
    return None if wait is None else Attempt(Outcome.RATE_LIMITED, retry_after=wait)


async def check_password(
    session: AsyncSession,
    keys: ServerKeys,
    settings: Settings,
    *,
    tenant: Tenant,
    username: str,
    password: str,
    ip: str,
) -> Attempt:
    """The first step: the right password opens a pending sign-in and sends a code.

    The sign-in page knows its tenant (the access link's exchange, or the tenant's own
    sign-in URL), and only that tenant's account is looked at: a wrong password never
    counts against another provider's client who happens to share the username.
    """
    if limited := await _rate_limited(session, settings, "login", ip):
        return limited
    await bind_tenant(session, tenant.id)
    account = await session.scalar(
        select(ClientAccount).where(ClientAccount.tenant_id == tenant.id, ClientAccount.username == username.strip())
    )
    if account is None:
        await passwords.spend_like_a_check(password)
        return Attempt(Outcome.INVALID)
    if _is_locked(account):
        return Attempt(Outcome.LOCKED)
    if await passwords.matches(account.password_hash, password):
        token, pending = await _open(session, keys, account, STAGE_CODE, settings.exchange.code_ttl_seconds, ip)
        await send_code(session, keys, settings, account, pending)
        return Attempt(Outcome.NEXT_STEP, token=token, account=account)
    _register_failure(account, settings)
    return Attempt(Outcome.LOCKED if _is_locked(account) else Outcome.INVALID)


def login_path(tenant_id: UUID) -> str:
    """The tenant's own sign-in page of the client portal."""
    return f"/x/t/{tenant_id}/login"


async def _open(
    session: AsyncSession, keys: ServerKeys, account: ClientAccount, stage: str, lifetime: int, ip: str | None
) -> tuple[str, ClientSession]:
    token = secrets.token_urlsafe(32)
    opened = ClientSession(
        tenant_id=account.tenant_id,
        account_id=account.id,
        token_hash=keys.keyed_hash(SESSION_HASH, token),
        stage=stage,
        expires_at=utcnow() + timedelta(seconds=lifetime),
        ip=ip,
    )
    session.add(opened)
    await session.flush()
    return token, opened


async def send_code(
    session: AsyncSession, keys: ServerKeys, settings: Settings, account: ClientAccount, pending: ClientSession
) -> None:
    """A fresh code for the pending sign-in (an earlier one stops working), queued for sending."""
    code = one_time_codes.new_code()
    # Bound to its pending sign-in: a code is worth nothing in any other.
    pending.code_hash = one_time_codes.code_hash(keys, CODE_HASH, pending.id, code)
    pending.code_attempts = 0
    pending.code_sent_at = utcnow()
    pending.codes_sent += 1
    pending.expires_at = utcnow() + timedelta(seconds=settings.exchange.code_ttl_seconds)
    gettext = translations(account.language).gettext
    params = {"code": code, "minutes": max(1, settings.exchange.code_ttl_seconds // 60)}
    tenant = await session.get(Tenant, account.tenant_id)
    if tenant is not None and tenant.client_code_channel == Channel.EMAIL:
        channel, content = (
            Channel.EMAIL,
            messaging.Content(account.email, gettext(EMAIL_SUBJECT), gettext(EMAIL_TEXT) % params),
        )
    else:
        channel, content = Channel.SMS, messaging.Content(account.mobile_number, "", gettext(SMS_TEXT) % params)
    await session.flush()
    await messaging.queue(
        session,
        keys,
        tenant_id=account.tenant_id,
        channel=channel,
        content=content,
        purpose=MESSAGE_PURPOSE,
        about_id=account.id,
    )


async def find_session(
    session: AsyncSession, keys: ServerKeys, settings: Settings, token: str, *, stage: str
) -> tuple[ClientSession, ClientAccount] | None:
    """The live session behind a cookie, with its account; None when unknown, expired or idle."""
    async with cross_tenant(session):
        row = (
            await session.execute(
                select(ClientSession, ClientAccount)
                .join(ClientAccount, ClientAccount.id == ClientSession.account_id)
                .where(ClientSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
            )
        ).one_or_none()
    if row is None:
        return None
    found, account = row
    now = utcnow()
    if found.stage != stage or found.expires_at <= now:
        return None
    if stage == STAGE_ACTIVE and found.last_seen_at + timedelta(seconds=settings.exchange.session_idle_seconds) <= now:
        return None
    await bind_tenant(session, account.tenant_id)
    return found, account


def resend_wait(settings: Settings, pending: ClientSession) -> int | None:
    """Seconds until another code may be sent for this sign-in; None when it may be now."""
    if pending.codes_sent >= settings.exchange.codes_per_sign_in:
        return max(1, int((pending.expires_at - utcnow()).total_seconds()))
    if pending.code_sent_at is None:
        return None
    return one_time_codes.resend_wait(pending.code_sent_at, settings.exchange.code_resend_seconds)


async def check_code(
    session: AsyncSession, keys: ServerKeys, settings: Settings, *, pending_token: str, code: str, ip: str
) -> Attempt:
    """The second step: the right code turns the pending sign-in into a session."""
    if limited := await _rate_limited(session, settings, "code", ip):
        return limited
    found = await find_session(session, keys, settings, pending_token, stage=STAGE_CODE)
    if found is None:
        return Attempt(Outcome.EXPIRED)
    pending, account = found
    if _is_locked(account):
        return Attempt(Outcome.LOCKED, account=account)
    if not one_time_codes.code_matches(keys, CODE_HASH, pending.id, pending.code_hash, code):
        pending.code_attempts += 1
        _register_failure(account, settings)
        if pending.code_attempts >= settings.exchange.code_max_attempts:
            await session.delete(pending)
            return Attempt(Outcome.EXPIRED, account=account)
        return Attempt(Outcome.LOCKED if _is_locked(account) else Outcome.INVALID, account=account)
    account.failed_attempts = 0
    account.locked_until = None
    await session.delete(pending)
    token, _ = await _open(session, keys, account, STAGE_ACTIVE, settings.exchange.session_ttl_seconds, ip)
    await audit.record(
        session,
        client_actor(account, ip),
        "exchange.client.signed_in",
        target_type="clientAccount",
        target_id=account.id,
    )
    return Attempt(Outcome.SIGNED_IN, token=token, account=account)


async def sign_out(session: AsyncSession, keys: ServerKeys, token: str) -> None:
    async with cross_tenant(session):
        await session.execute(
            delete(ClientSession).where(ClientSession.token_hash.in_(keys.keyed_hashes(SESSION_HASH, token)))
        )
