"""Upload URLs: a link a provider hands to whoever should upload a dossier's documents (a
browser, another system), valid one hour (flexperto's upload URL).

The token in the URL is the credential: 256 random bits, kept only as a keyed hash, bound
to one dossier. Uploads through it act as the URL's creator (their actor, as it was when
the URL was made) and are audited with the URL's id. Every attempt counts against the
caller's address, so guessing is slowed down besides being hopeless.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...auth.service import rate_limits
from ...db import bind_tenant, cross_tenant, utcnow
from ...errors import TooManyRequests
from ...keys import ServerKeys
from ...logs import correlation_id
from ...settings import SigningSettings
from ..errors import UploadUrlInvalid
from ..models import DocumentUploadUrl
from . import access, documents

TOKEN_HASH = "signing-upload-url"  # noqa: S105 - the keyed hash's purpose, not a secret


async def create(
    session: AsyncSession, actor: Actor, keys: ServerKeys, limits: SigningSettings, dossier_id: UUID
) -> tuple[str, DocumentUploadUrl]:
    """A new upload URL's token (it exists only in this answer) and its row."""
    dossier = await access.load_dossier(session, actor, dossier_id)
    documents.require_draft(dossier)
    token = secrets.token_urlsafe(32)
    row = DocumentUploadUrl(
        tenant_id=actor.tenant_id,
        dossier_id=dossier.id,
        token_hash=keys.keyed_hash(TOKEN_HASH, token),
        created_by=actor.snapshot(),
        expires_at=utcnow() + timedelta(seconds=limits.upload_url_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.document.upload_url_created",
        target_type="dossier",
        target_id=dossier.id,
        data={"uploadUrlId": str(row.id), "expiresAt": row.expires_at.isoformat()},
    )
    return token, row


async def redeem(
    session: AsyncSession, keys: ServerKeys, limits: SigningSettings, dossier_id: UUID, token: str, ip: str
) -> tuple[Actor, UUID]:
    """The actor an upload through this token acts as, and the URL's id; the session is
    bound to the URL's tenant. UploadUrlInvalid for a token that is unknown, expired or of
    another dossier (one answer for all three), TooManyRequests past the address's limit."""
    wait = await rate_limits.hit(
        session, f"signing-upload-url-ip:{ip}", limit=limits.upload_url_attempts_per_minute, window_seconds=60
    )
    if wait is not None:
        raise TooManyRequests(wait)
    async with cross_tenant(session):
        row = await session.scalar(
            select(DocumentUploadUrl).where(DocumentUploadUrl.token_hash.in_(keys.keyed_hashes(TOKEN_HASH, token)))
        )
    if row is None or row.dossier_id != dossier_id or row.expires_at <= utcnow():
        raise UploadUrlInvalid()
    await bind_tenant(session, row.tenant_id)
    creator = Actor.from_snapshot(row.tenant_id, row.created_by)
    return dataclasses.replace(creator, ip=ip, correlation_id=correlation_id.get()), row.id
