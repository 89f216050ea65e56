"""A contact's profile picture: checked, re-encoded, stored sealed with the server key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...db import bind_tenant, cross_tenant, utcnow
from ...keys import ServerKeys
from ...settings import ClientSettings
from .. import pictures
from ..errors import PictureInvalid, PictureTooLarge, RecordAnonymized
from ..models import ProfilePicture, RecordKind
from ..pictures import Picture
from . import access, writes


def _context(record_id: UUID) -> str:
    return f"profile-picture:{record_id}"


async def get(session: AsyncSession, actor: Actor, keys: ServerKeys, contact_id: UUID) -> tuple[Picture, bool]:
    """The picture and whether it is the default one (the contact has none of its own)."""
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id)
    stored = await session.scalar(
        select(ProfilePicture).where(ProfilePicture.tenant_id == actor.tenant_id, ProfilePicture.record_id == record.id)
    )
    if stored is None:
        return pictures.default_picture(), True
    content = keys.unseal_bytes(stored.sealed_content, context=_context(record.id))
    return Picture(content, stored.content_type), False


async def put(
    session: AsyncSession, actor: Actor, keys: ServerKeys, settings: ClientSettings, contact_id: UUID, encoded: str
) -> None:
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id, for_update=True)
    if record.anonymized_at is not None:
        raise RecordAnonymized()
    if len(encoded) > (settings.profile_picture_max_bytes + 2) // 3 * 4 + 4:
        raise PictureTooLarge(limit=settings.profile_picture_max_bytes)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PictureInvalid() from exc
    if len(data) > settings.profile_picture_max_bytes:
        raise PictureTooLarge(limit=settings.profile_picture_max_bytes)
    picture = await asyncio.to_thread(pictures.normalized, data)  # decoding is CPU work
    sealed = keys.seal_bytes(picture.content, context=_context(record.id))
    await session.execute(
        delete(ProfilePicture).where(ProfilePicture.tenant_id == actor.tenant_id, ProfilePicture.record_id == record.id)
    )
    session.add(
        ProfilePicture(
            tenant_id=actor.tenant_id,
            record_id=record.id,
            content_type=picture.content_type,
            sealed_content=sealed,
            byte_size=len(picture.content),
            sha256=hashlib.sha256(picture.content).hexdigest(),
            updated_at=utcnow(),
        )
    )
    await session.flush()
    facts = {"contentType": picture.content_type, "bytes": len(picture.content)}
    await writes.audit_contact(session, actor, "picture_set", record.id, facts)


async def remove(session: AsyncSession, actor: Actor, contact_id: UUID) -> None:
    """Drop the picture (the default shows again); nothing to drop is fine."""
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id, for_update=True)
    result = await session.execute(
        delete(ProfilePicture).where(ProfilePicture.tenant_id == actor.tenant_id, ProfilePicture.record_id == record.id)
    )
    if getattr(result, "rowcount", 0):
        await writes.audit_contact(session, actor, "picture_removed", record.id)


async def reseal_all(session: AsyncSession, keys: ServerKeys) -> tuple[int, int]:
    """`trustroom keys reseal`: every picture sealed under the current secret; (resealed, total)."""
    resealed = total = 0
    async with cross_tenant(session):
        for stored in await session.scalars(select(ProfilePicture).order_by(ProfilePicture.record_id)):
            total += 1
            context = _context(stored.record_id)
            if keys.is_current_seal_bytes(stored.sealed_content, context=context):
                continue
            await bind_tenant(session, stored.tenant_id)
            content = keys.unseal_bytes(stored.sealed_content, context=context)
            stored.sealed_content = keys.seal_bytes(content, context=context)
            resealed += 1
        await session.flush()
    return resealed, total


async def count_on_older_secrets(session: AsyncSession, keys: ServerKeys) -> int:
    """Pictures still sealed under a previous secret (`trustroom keys status`)."""
    async with cross_tenant(session):
        sealed = await session.execute(select(ProfilePicture.record_id, ProfilePicture.sealed_content))
        return sum(not keys.is_current_seal_bytes(content, context=_context(rid)) for rid, content in sealed)
