"""Confirming, re-sending or dropping a new email or mobile that waits for its key."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...jobs import service as jobs
from .. import events, fields
from ..errors import KeyExpired, KeyNoMatch, NoPendingChannel, RecordAnonymized, ResendTooSoon
from ..fields import Change
from ..models import ChangeRequest, ChannelVerification, ClientRecord, RecordKind
from . import access, channels, definitions, writes
from .channels import Verifier


async def _waiting(
    session: AsyncSession, actor: Actor, contact_id: UUID, channel: str
) -> tuple[ClientRecord, ChannelVerification]:
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id, for_update=True)
    if record.anonymized_at is not None:
        raise RecordAnonymized()
    verification = await channels.waiting(session, actor, record, channel)
    if verification is None:
        raise NoPendingChannel()
    return record, verification


async def verify(
    session: AsyncSession, actor: Actor, verifier: Verifier, contact_id: UUID, channel: str, key: str
) -> ClientRecord:
    """The right key applies the waiting value; a wrong one counts (and that count is kept)."""
    record, verification = await _waiting(session, actor, contact_id, channel)
    if channels.is_expired(verifier.settings, verification):
        raise KeyExpired()
    if not channels.key_matches(verifier.keys, verification, key.strip()):
        verification.attempts += 1
        await session.flush()
        if verification.attempts >= verifier.settings.verification_max_attempts:
            raise KeyExpired()
        raise KeyNoMatch()
    schema = await definitions.for_kind(session, actor, RecordKind.CONTACT)
    change = Change(verification.path, fields.get(record.details, verification.path), verification.pending_value)
    request = (
        await session.get(ChangeRequest, verification.change_request_id) if verification.change_request_id else None
    )
    author = writes.Author(verification.actor_kind, verification.actor_id, verification.api_key_id)
    comment = verification.comment
    await session.delete(verification)
    await session.flush()
    if not fields.same(change.old, change.new):
        await writes.apply(
            session, actor, record, schema, [change], comment=comment, change_request=request, author=author
        )
    await writes.audit_contact(session, actor, "channel_verified", record.id, {"channel": channel})
    await jobs.emit(
        session, events.CHANNEL_VERIFIED, {"contact_id": record.id, "channel": channel}, tenant_id=actor.tenant_id
    )
    return record


async def resend(session: AsyncSession, actor: Actor, verifier: Verifier, contact_id: UUID, channel: str) -> None:
    """A new key (the previous one stops working), at most once a minute and a few times a day."""
    record, verification = await _waiting(session, actor, contact_id, channel)
    wait = channels.resend_wait(verifier.settings, verification)
    if wait is not None:
        raise ResendTooSoon(retry_after=wait)
    schema = await definitions.for_kind(session, actor, RecordKind.CONTACT)
    await channels.send_key(session, actor, verifier, record, schema, verification)
    await writes.audit_contact(session, actor, "channel_key_resent", record.id, {"channel": channel})


async def discontinue(session: AsyncSession, actor: Actor, contact_id: UUID, channel: str) -> None:
    """Drop the waiting value; its key no longer confirms anything."""
    record, verification = await _waiting(session, actor, contact_id, channel)
    await session.delete(verification)
    await session.flush()
    await writes.audit_contact(session, actor, "channel_discontinued", record.id, {"channel": channel})
