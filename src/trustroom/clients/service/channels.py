"""Keys for verifying a new email address or mobile number.

A change to a field marked requiresVerification does not replace the value at once: the
new value waits in a `ChannelVerification` row and a 6-digit key goes to it (email or
SMS). The key is stored only as a keyed hash; it expires after a while or after a few
wrong tries, and sending a new key replaces the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...auth.service import one_time_codes, rate_limits
from ...db import utcnow
from ...errors import N_
from ...i18n import current_language, normalize, translations
from ...keys import ServerKeys
from ...messaging import service as messaging
from ...messaging.models import Channel
from ...settings import ClientSettings
from .. import fields
from ..errors import ResendTooSoon
from ..models import ChannelVerification, ClientRecord
from .definitions import LoadedSchema

EMAIL = "Email"
MOBILE = "Mobile"
KEY_PURPOSE = "channel-key"
MESSAGE_PURPOSE = "clients.channel_key"
DAY_SECONDS = 86400

EMAIL_SUBJECT = N_("Your verification key")
EMAIL_TEXT = N_(
    "Hello,\n\nyour key to confirm this email address is %(key)s. It is valid for %(minutes)s minutes.\n\n"
    "If you did not ask for this change, ignore this message; nothing changes until the key is entered."
)
SMS_TEXT = N_("%(key)s is your key to confirm this mobile number. It is valid for %(minutes)s minutes.")


@dataclass(frozen=True)
class Verifier:
    """What sending and checking keys needs from outside the database."""

    keys: ServerKeys
    settings: ClientSettings


def key_matches(keys: ServerKeys, verification: ChannelVerification, key: str) -> bool:
    return one_time_codes.code_matches(keys, KEY_PURPOSE, verification.id, verification.key_hash, key)


def is_expired(settings: ClientSettings, verification: ChannelVerification) -> bool:
    return utcnow() >= verification.expires_at or verification.attempts >= settings.verification_max_attempts


def _language(record: ClientRecord, schema: LoadedSchema) -> str:
    """The contact's own language when the details name one, else the request's."""
    for policy in schema.fields.values():
        if policy.list_key == "languages":
            chosen = fields.get(record.details, policy.pointer)
            if isinstance(chosen, str) and (language := normalize(chosen)):
                return language
    return current_language.get()


async def waiting(
    session: AsyncSession, actor: Actor, record: ClientRecord, channel: str
) -> ChannelVerification | None:
    """The new value of this channel that waits for its key, if any."""
    found: ChannelVerification | None = await session.scalar(
        select(ChannelVerification).where(
            ChannelVerification.tenant_id == actor.tenant_id,
            ChannelVerification.record_id == record.id,
            ChannelVerification.channel == channel,
        )
    )
    return found


async def send_key(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    record: ClientRecord,
    schema: LoadedSchema,
    verification: ChannelVerification,
) -> None:
    """A fresh key for the pending value (the previous one stops working), sent to it."""
    limit = verifier.settings.verification_sends_per_day
    wait = await rate_limits.hit(
        session, f"channel-key:{record.id}:{verification.channel}", limit=limit, window_seconds=DAY_SECONDS
    )
    if wait is not None:
        raise ResendTooSoon(retry_after=wait)
    key = one_time_codes.new_code()
    ttl = verifier.settings.verification_key_ttl_seconds
    verification.key_hash = one_time_codes.code_hash(verifier.keys, KEY_PURPOSE, verification.id, key)
    verification.expires_at = utcnow() + timedelta(seconds=ttl)
    verification.attempts = 0
    verification.sent_at = utcnow()
    await session.flush()
    gettext = translations(_language(record, schema)).gettext
    params: dict[str, Any] = {"key": key, "minutes": max(1, ttl // 60)}
    if verification.channel == EMAIL:
        content = messaging.Content(verification.pending_value, gettext(EMAIL_SUBJECT), gettext(EMAIL_TEXT) % params)
        channel = Channel.EMAIL
    else:
        content = messaging.Content(verification.pending_value, "", gettext(SMS_TEXT) % params)
        channel = Channel.SMS
    await messaging.queue(
        session,
        verifier.keys,
        tenant_id=actor.tenant_id,
        channel=channel,
        content=content,
        purpose=MESSAGE_PURPOSE,
        about_id=record.id,
    )


def resend_wait(settings: ClientSettings, verification: ChannelVerification) -> int | None:
    """Seconds until another key may be sent, or None when one may be sent now."""
    return one_time_codes.resend_wait(verification.sent_at, settings.verification_resend_seconds)
