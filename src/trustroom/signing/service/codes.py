"""The signer's one-time codes: each of an invitee's `authenticationMethods` (a code by
email, a code by SMS) is passed by typing the 6-digit code sent to their address or mobile.

A code lives `code_ttl_seconds` (5 minutes) and takes `code_max_attempts` (5) wrong tries;
then it dies and the method is locked for `lockout_seconds`, which is audited. A new code
may follow the last after `code_resend_seconds`, at most `codes_per_day` a day per method.
A passed method counts for `authentication_valid_seconds`: signing needs every method
passed within that time (`authenticated`). Wrong tries and lockouts are kept even though
the request is refused (the errors keep the transaction's writes).

Every action is audited with the signer's IP (on the actor) and user agent (in the data),
and the masked destination, never the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...auth.service import one_time_codes, rate_limits
from ...db import scoped, utcnow
from ...errors import N_
from ...i18n import translations
from ...keys import ServerKeys
from ...messaging import service as messaging
from ...messaging.models import Channel
from ...settings import SigningSettings
from ..errors import (
    AuthenticationMethodNotUsed,
    CodeExpired,
    CodeNoMatch,
    CodeNotSent,
    CodeResendTooSoon,
    EmailRequired,
    PhoneNumberRequired,
    SignerLocked,
)
from ..models import AuthenticationMethod, Dossier, Invitee, SignerCode
from .locales import language_of

CODE_PURPOSE = "signer-code"
MESSAGE_PURPOSE = "signing.code"
DAY_SECONDS = 86400

EMAIL_SUBJECT = N_("Your code to sign %(dossier)s")
EMAIL_TEXT = N_(
    "Hello %(name)s,\n\nyour code to confirm your identity for \u201c%(dossier)s\u201d is %(code)s.\n"
    "It is valid for %(minutes)s minutes.\n\n"
    "Nobody, not even your provider, will ever ask you for this code. If you did not ask for it, ignore this message."
)
SMS_TEXT = N_("%(code)s is your code to sign \u201c%(dossier)s\u201d. Valid %(minutes)s min. Never share it.")


@dataclass(frozen=True)
class CodeSent:
    method: AuthenticationMethod
    destination_hint: str
    expires_at: datetime | None
    resend_after: int | None


def _destination(invitee: Invitee, method: AuthenticationMethod) -> tuple[Channel, str]:
    if method is AuthenticationMethod.OTP_EMAIL:
        if not invitee.email:
            raise EmailRequired("/email")
        return Channel.EMAIL, invitee.email
    if not invitee.phone_number:
        raise PhoneNumberRequired("/phoneNumber")
    return Channel.SMS, invitee.phone_number


def _method(invitee: Invitee, method: str) -> AuthenticationMethod:
    if method not in invitee.authentication_methods:
        raise AuthenticationMethodNotUsed(method=method)
    return AuthenticationMethod(method)


async def _row(
    session: AsyncSession, actor: Actor, invitee: Invitee, method: AuthenticationMethod
) -> SignerCode | None:
    found: SignerCode | None = await session.scalar(
        scoped(select(SignerCode), actor).where(SignerCode.invitee_id == invitee.id, SignerCode.method == method)
    )
    return found


def _check_lock(code: SignerCode | None) -> None:
    locked_until = code.locked_until if code is not None else None
    if locked_until is not None and (wait := one_time_codes.seconds_until(locked_until)) is not None:
        raise SignerLocked(retry_after=wait)


async def send(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: SigningSettings,
    dossier: Dossier,
    invitee: Invitee,
    method: str,
    *,
    user_agent: str | None,
) -> CodeSent:
    """A fresh code for one method (the last one stops working), queued to the invitee."""
    chosen = _method(invitee, method)
    channel, address = _destination(invitee, chosen)
    code_row = await _row(session, actor, invitee, chosen)
    _check_lock(code_row)
    if code_row is not None and (wait := one_time_codes.resend_wait(code_row.sent_at, settings.code_resend_seconds)):
        raise CodeResendTooSoon(retry_after=wait)
    limited = await rate_limits.hit(
        session, f"signer-code:{invitee.id}:{chosen}", limit=settings.codes_per_day, window_seconds=DAY_SECONDS
    )
    if limited is not None:
        raise CodeResendTooSoon(retry_after=limited)
    if code_row is None:
        code_row = SignerCode(tenant_id=actor.tenant_id, invitee_id=invitee.id, method=chosen, destination_hint="")
        session.add(code_row)
        await session.flush()
    now = utcnow()
    code = one_time_codes.new_code()
    code_row.code_hash = one_time_codes.code_hash(keys, CODE_PURPOSE, code_row.id, code)
    code_row.destination_hint = messaging.mask(address)
    code_row.expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    code_row.sent_at = now
    code_row.codes_sent += 1
    code_row.attempts = 0
    code_row.locked_until = None
    gettext = translations(language_of(invitee.locale or dossier.locale)).gettext
    params = {
        "code": code,
        "name": invitee.name,
        "dossier": dossier.name,
        "minutes": max(1, settings.code_ttl_seconds // 60),
    }
    if channel is Channel.EMAIL:
        content = messaging.Content(address, gettext(EMAIL_SUBJECT) % params, gettext(EMAIL_TEXT) % params)
    else:
        content = messaging.Content(address, "", gettext(SMS_TEXT) % params)
    await messaging.queue(
        session,
        keys,
        tenant_id=actor.tenant_id,
        channel=channel,
        content=content,
        purpose=MESSAGE_PURPOSE,
        about_id=invitee.id,
    )
    await _audit(session, actor, "signing.invitee.code_sent", invitee, code_row, user_agent)
    return CodeSent(chosen, code_row.destination_hint, code_row.expires_at, settings.code_resend_seconds or None)


async def verify(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: SigningSettings,
    invitee: Invitee,
    method: str,
    code: str,
    *,
    user_agent: str | None,
) -> SignerCode:
    """Pass one method with its code, or refuse (the wrong try and any lockout are kept)."""
    chosen = _method(invitee, method)
    code_row = await _row(session, actor, invitee, chosen)
    _check_lock(code_row)
    if code_row is None or code_row.code_hash is None:
        raise CodeNotSent()
    if code_row.expires_at is None or code_row.expires_at <= utcnow():
        code_row.code_hash = None
        raise CodeExpired()
    if one_time_codes.code_matches(keys, CODE_PURPOSE, code_row.id, code_row.code_hash, code):
        code_row.code_hash = None  # a code is used once
        code_row.verified_at = utcnow()
        code_row.attempts = 0
        await _audit(session, actor, "signing.invitee.authenticated", invitee, code_row, user_agent)
        return code_row
    code_row.attempts += 1
    await _audit(session, actor, "signing.invitee.code_failed", invitee, code_row, user_agent)
    if code_row.attempts < settings.code_max_attempts:
        raise CodeNoMatch(attempts_left=settings.code_max_attempts - code_row.attempts)
    code_row.code_hash = None
    code_row.locked_until = utcnow() + timedelta(seconds=settings.lockout_seconds)
    code_row.lockouts += 1
    await _audit(session, actor, "signing.invitee.locked", invitee, code_row, user_agent)
    raise SignerLocked(retry_after=settings.lockout_seconds)


async def passed(
    session: AsyncSession, actor: Actor, settings: SigningSettings, invitee: Invitee
) -> dict[AuthenticationMethod, SignerCode]:
    """The invitee's methods passed recently enough to sign, with their rows (for evidence)."""
    rows = await session.scalars(scoped(select(SignerCode), actor).where(SignerCode.invitee_id == invitee.id))
    since = utcnow() - timedelta(seconds=settings.authentication_valid_seconds)
    return {
        AuthenticationMethod(row.method): row
        for row in rows
        if row.verified_at is not None and row.verified_at > since and row.method in invitee.authentication_methods
    }


async def authenticated(session: AsyncSession, actor: Actor, settings: SigningSettings, invitee: Invitee) -> bool:
    """Whether every one of the invitee's methods has been passed recently enough to sign."""
    done = await passed(session, actor, settings, invitee)
    return all(AuthenticationMethod(method) in done for method in invitee.authentication_methods)


async def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    invitee: Invitee,
    code_row: SignerCode,
    user_agent: str | None,
) -> None:
    await audit.record(
        session,
        actor,
        action,
        target_type="invitee",
        target_id=invitee.id,
        data={
            "dossierId": str(invitee.dossier_id),
            "method": str(code_row.method),
            "destination": code_row.destination_hint,
            "attempts": code_row.attempts,
            "userAgent": (user_agent or "")[:300],
        },
    )
