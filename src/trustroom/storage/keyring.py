"""The keyring: key-encryption keys by tenant and purpose.

This default keyring keeps each KEK in the database, sealed with the server key
(`TRUSTROOM_SECRET_KEY`, AES-GCM bound to the KEK's id), so API and worker processes on
several machines share it with nothing else to run (ADR 0010). A KMS or PKCS#11 keyring
implements the same three methods and keeps the key material out of the database.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tink import aead

from ..db import cross_tenant, utcnow, uuid7
from ..keys import ServerKeys
from . import envelope
from .errors import BlobUnreadable
from .models import KeyEncryptionKey


class Keyring(Protocol):
    async def current(self, session: AsyncSession, tenant_id: UUID, purpose: str) -> tuple[UUID, aead.Aead]:
        """The KEK for new data keys of this purpose (made on first use): its id and primitive."""

    async def get(self, session: AsyncSession, tenant_id: UUID, kek_id: UUID) -> aead.Aead:
        """The KEK that wrapped a stored data key; BlobUnreadable once destroyed."""

    async def destroy(self, session: AsyncSession, tenant_id: UUID, purpose: str) -> bool:
        """Erase the purpose's key material for good: what it wrapped can never be read again."""


def _seal_context(kek_id: UUID) -> str:
    return f"kek:{kek_id}"


class SealedKeyring:
    def __init__(self, keys: ServerKeys) -> None:
        self.keys = keys

    async def current(self, session: AsyncSession, tenant_id: UUID, purpose: str) -> tuple[UUID, aead.Aead]:
        row = await self._by_purpose(session, tenant_id, purpose)
        if row is None:
            row = KeyEncryptionKey(id=uuid7(), tenant_id=tenant_id, purpose=purpose)
            row.sealed_key = self.keys.seal_bytes(envelope.new_kek(), context=_seal_context(row.id))
            try:
                async with session.begin_nested():
                    session.add(row)
            except IntegrityError:  # another process made it first: use theirs
                row = await self._by_purpose(session, tenant_id, purpose)
                assert row is not None
        if row.sealed_key is None:
            raise BlobUnreadable()
        return row.id, self._open(row)

    async def get(self, session: AsyncSession, tenant_id: UUID, kek_id: UUID) -> aead.Aead:
        row = await session.scalar(
            select(KeyEncryptionKey).where(KeyEncryptionKey.tenant_id == tenant_id, KeyEncryptionKey.id == kek_id)
        )
        if row is None or row.sealed_key is None:
            raise BlobUnreadable()
        return self._open(row)

    async def destroy(self, session: AsyncSession, tenant_id: UUID, purpose: str) -> bool:
        """Erase every KEK of the purpose, the current one and any retired ones."""
        rows = list(
            await session.scalars(
                select(KeyEncryptionKey).where(
                    KeyEncryptionKey.tenant_id == tenant_id,
                    KeyEncryptionKey.purpose == purpose,
                    KeyEncryptionKey.sealed_key.is_not(None),
                )
            )
        )
        for row in rows:
            erase(row)
        await session.flush()
        return bool(rows)

    async def replace(self, session: AsyncSession, row: KeyEncryptionKey) -> tuple[KeyEncryptionKey, aead.Aead]:
        """Retire a current KEK and make a new one for its purpose (rotation.py re-wraps)."""
        row.retired_at = utcnow()
        await session.flush()  # the new one may only become current once this one is not
        new = KeyEncryptionKey(id=uuid7(), tenant_id=row.tenant_id, purpose=row.purpose)
        new.sealed_key = self.keys.seal_bytes(envelope.new_kek(), context=_seal_context(new.id))
        session.add(new)
        await session.flush()
        return new, self._open(new)

    def opened(self, row: KeyEncryptionKey) -> aead.Aead:
        if row.sealed_key is None:
            raise BlobUnreadable()
        return self._open(row)

    def _open(self, row: KeyEncryptionKey) -> aead.Aead:
        assert row.sealed_key is not None
        return envelope.kek_aead(self.keys.unseal_bytes(row.sealed_key, context=_seal_context(row.id)))

    async def reseal_all(self, session: AsyncSession) -> tuple[int, int]:
        """`trustroom keys reseal`: every live KEK sealed under the current server secret;
        (resealed, total). The blobs they wrap are not touched."""
        resealed = total = 0
        async with cross_tenant(session):
            live = await session.scalars(
                select(KeyEncryptionKey).where(KeyEncryptionKey.sealed_key.is_not(None)).order_by(KeyEncryptionKey.id)
            )
            for row in live:
                assert row.sealed_key is not None
                total += 1
                context = _seal_context(row.id)
                if self.keys.is_current_seal_bytes(row.sealed_key, context=context):
                    continue
                row.sealed_key = self.keys.seal_bytes(
                    self.keys.unseal_bytes(row.sealed_key, context=context), context=context
                )
                resealed += 1
            await session.flush()
        return resealed, total

    async def count_on_older_secrets(self, session: AsyncSession) -> int:
        async with cross_tenant(session):
            rows = await session.execute(
                select(KeyEncryptionKey.id, KeyEncryptionKey.sealed_key).where(KeyEncryptionKey.sealed_key.is_not(None))
            )
            return sum(
                not self.keys.is_current_seal_bytes(sealed, context=_seal_context(kek_id))
                for kek_id, sealed in rows
                if sealed is not None
            )

    @staticmethod
    async def _by_purpose(session: AsyncSession, tenant_id: UUID, purpose: str) -> KeyEncryptionKey | None:
        """The purpose's current KEK."""
        return await session.scalar(
            select(KeyEncryptionKey).where(
                KeyEncryptionKey.tenant_id == tenant_id,
                KeyEncryptionKey.purpose == purpose,
                KeyEncryptionKey.retired_at.is_(None),
            )
        )


def erase(row: KeyEncryptionKey) -> None:
    row.sealed_key = None
    row.destroyed_at = utcnow()
