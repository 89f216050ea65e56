"""Rotating key-encryption keys: new KEKs wrap the same data keys; content is never touched.

`rotate` retires each current KEK, makes a new one and re-wraps every data key the old one
wrapped, in the caller's transaction. A writer that fetched the old KEK just before may
still add a blob under it afterwards, so a retired KEK keeps its material for a grace
period; `finish_retired` (the storage sweep) then re-wraps such late blobs and erases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import tink
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tink import aead

from . import envelope
from .keyring import SealedKeyring, erase
from .models import Blob, KeyEncryptionKey

BATCH = 500


@dataclass(frozen=True)
class Rotated:
    keys: int
    data_keys: int


async def _rewrap_all(
    session: AsyncSession, old: KeyEncryptionKey, old_aead: aead.Aead, new_id: UUID, new_aead: aead.Aead
) -> int:
    count = 0
    while True:
        blobs = list(
            await session.scalars(
                select(Blob)
                .where(Blob.tenant_id == old.tenant_id, Blob.kek_id == old.id)
                .order_by(Blob.id)
                .limit(BATCH)
            )
        )
        if not blobs:
            return count
        for blob in blobs:
            try:
                blob.wrapped_key = envelope.rewrap(old_aead, new_aead, blob.wrapped_key, blob.id)
            except tink.TinkError:
                continue  # unreadable already (damaged): left as it is, it stays unreadable
            finally:
                blob.kek_id = new_id
        count += len(blobs)
        await session.flush()


async def rotate(
    session: AsyncSession, keyring: SealedKeyring, *, tenant_id: UUID | None = None, purpose: str | None = None
) -> Rotated:
    """Rotate the current KEKs (of one tenant, of one purpose, or all); the caller lifts
    row-level security when it rotates across tenants."""
    stmt = select(KeyEncryptionKey).where(
        KeyEncryptionKey.retired_at.is_(None), KeyEncryptionKey.sealed_key.is_not(None)
    )
    if tenant_id is not None:
        stmt = stmt.where(KeyEncryptionKey.tenant_id == tenant_id)
    if purpose is not None:
        stmt = stmt.where(KeyEncryptionKey.purpose == purpose)
    keys = data_keys = 0
    for old in list(await session.scalars(stmt.order_by(KeyEncryptionKey.id))):
        old_aead = keyring.opened(old)
        new, new_aead = await keyring.replace(session, old)
        data_keys += await _rewrap_all(session, old, old_aead, new.id, new_aead)
        keys += 1
    return Rotated(keys, data_keys)


async def finish_retired(session: AsyncSession, keyring: SealedKeyring, *, retired_before: datetime) -> int:
    """Re-wrap the blobs still under KEKs retired before the cutoff, then erase those KEKs."""
    retired = list(
        await session.scalars(
            select(KeyEncryptionKey).where(
                KeyEncryptionKey.retired_at < retired_before, KeyEncryptionKey.sealed_key.is_not(None)
            )
        )
    )
    for old in retired:
        current = await session.scalar(
            select(KeyEncryptionKey).where(
                KeyEncryptionKey.tenant_id == old.tenant_id,
                KeyEncryptionKey.purpose == old.purpose,
                KeyEncryptionKey.retired_at.is_(None),
            )
        )
        if current is not None and current.sealed_key is not None:
            await _rewrap_all(session, old, keyring.opened(old), current.id, keyring.opened(current))
        erase(old)
    await session.flush()
    return len(retired)
