"""Signing credentials at rest: rows holding a certificate and its private key sealed by the
server keys, the keys unsealed and cached per process, and what `trustroom keys` and start-up
ask of them (reseal, keys on older secrets, keys that cannot be opened, expired certificates).

Unsealed keys are cached per process by row, sealed bytes and server secret, so a reseal
(`trustroom keys reseal`) or a new secret opens the key again and a retired row is simply
never asked for again. A credential is made race-safe: inserted in a savepoint under a
unique index on (tenant, kind) among current rows (`insert_first`), and renewed by retiring
the current row conditionally in the same savepoint (`replace_first`); the loser of a race
reads the winner's row.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import cross_tenant, utcnow
from ...keys import ServerKeys
from .. import sealed_keys
from ..errors import SigningKeyUnreadable
from ..models import (
    IssuedCertificate,
    PlatformCertificate,
    PlatformCredential,
    PlatformCredentialKind,
    TenantCredential,
    TenantCredentialKind,
)

_KEY_CACHE_SIZE = 512

Credential = PlatformCredential | TenantCredential
Issued = type[PlatformCertificate] | type[IssuedCertificate]


# --- unsealed keys, cached per process ----------------------------------------------------------


_keys: OrderedDict[tuple[str, UUID, bytes], ec.EllipticCurvePrivateKey] = OrderedDict()


def key_context(row: Credential) -> str:
    if isinstance(row, TenantCredential):
        return f"signing-tenant:{row.tenant_id}:{row.kind}:{row.id}"
    return f"signing-platform:{row.kind}:{row.id}"


def certificate_of(row: Credential) -> x509.Certificate:
    return x509.load_der_x509_certificate(row.certificate)


def opened_key(keys: ServerKeys, row: Credential, certificate: x509.Certificate) -> ec.EllipticCurvePrivateKey:
    tag = (keys.secret_id, row.id, hashlib.sha256(row.sealed_key).digest())
    key = _keys.get(tag)
    if key is not None:
        _keys.move_to_end(tag)
        return key
    try:
        key = sealed_keys.unseal_key(keys, certificate, row.sealed_key, context=key_context(row))
    except (InvalidTag, ValueError) as error:
        raise SigningKeyUnreadable(credential=describe(row)) from error
    _keys[tag] = key
    while len(_keys) > _KEY_CACHE_SIZE:
        _keys.popitem(last=False)
    return key


def forget_cached_keys() -> None:
    """Drop every unsealed key this process holds."""
    _keys.clear()


def describe(row: Credential) -> str:
    if isinstance(row, TenantCredential):
        return f"the {row.kind} of tenant {row.tenant_id}"
    return f"the platform's {row.kind}"


# --- rows ---------------------------------------------------------------------------------------


def serial_text(serial: int) -> str:
    return format(serial, "x")


async def current_platform(session: AsyncSession, kind: PlatformCredentialKind) -> PlatformCredential | None:
    return await session.scalar(
        select(PlatformCredential).where(PlatformCredential.kind == kind, PlatformCredential.retired_at.is_(None))
    )


async def current_tenant(session: AsyncSession, tenant_id: UUID, kind: TenantCredentialKind) -> TenantCredential | None:
    return await session.scalar(
        select(TenantCredential).where(
            TenantCredential.tenant_id == tenant_id,
            TenantCredential.kind == kind,
            TenantCredential.retired_at.is_(None),
        )
    )


def record(model: Issued, issuer_id: UUID, certificate: x509.Certificate, kind: str, **extra: Any) -> Any:
    return model(
        issuer_id=issuer_id,
        serial=serial_text(certificate.serial_number),
        kind=kind,
        subject=certificate.subject.rfc4514_string()[:500],
        not_after=certificate.not_valid_after_utc,
        **extra,
    )


async def insert_first(session: AsyncSession, rows: Sequence[Any]) -> bool:
    """Insert the rows in a savepoint; False if another process made the credential first."""
    try:
        async with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:
        return False
    return True


class _Lost(Exception):
    """Another transaction renewed the credential first."""


async def replace_first(session: AsyncSession, old: Credential, rows: Sequence[Any]) -> bool:
    """Retire `old` and insert the rows in one savepoint; False if another process renewed it first.

    The retirement is conditional on `old` still being current: of two renewals at once,
    one updates the row, the other (on PostgreSQL after waiting for its lock) finds it retired.
    """
    table = type(old)
    try:
        async with session.begin_nested():
            retired = await session.execute(
                update(table)
                .where(table.id == old.id, table.retired_at.is_(None))
                .values(retired_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if getattr(retired, "rowcount", 0) != 1:
                raise _Lost()
            session.add_all(rows)
    except (IntegrityError, _Lost):
        return False
    await session.refresh(old)
    return True


# --- key rotation and start-up ---------------------------------------------------------------------


async def every_credential(session: AsyncSession) -> list[Credential]:
    async with cross_tenant(session):
        rows: list[Credential] = [*await session.scalars(select(PlatformCredential).order_by(PlatformCredential.id))]
        rows += await session.scalars(select(TenantCredential).order_by(TenantCredential.id))
    return rows


async def reseal_all(session: AsyncSession, keys: ServerKeys) -> tuple[int, int]:
    """`trustroom keys reseal`: every signing key sealed under the current server secret; (resealed, total)."""
    resealed = 0
    rows = await every_credential(session)
    async with cross_tenant(session):
        for row in rows:
            try:
                again = sealed_keys.resealed_key(keys, certificate_of(row), row.sealed_key, context=key_context(row))
            except InvalidTag as error:
                raise SigningKeyUnreadable(credential=describe(row)) from error
            if again is not None:
                row.sealed_key = again
                resealed += 1
        await session.flush()
    return resealed, len(rows)


async def count_on_older_secrets(session: AsyncSession, keys: ServerKeys) -> int:
    rows = await every_credential(session)
    return sum(
        not sealed_keys.key_is_current(keys, certificate_of(row), row.sealed_key, context=key_context(row))
        for row in rows
    )


async def start_up_problems(session: AsyncSession, keys: ServerKeys) -> list[str]:
    """What stops `serve` and `worker`: a signing key the server secrets cannot open, or that does
    not match its certificate, or a CA, responder or TSA certificate that has expired."""
    problems = []
    now = utcnow()
    for row in await every_credential(session):
        if row.retired_at is not None:
            continue
        try:
            opened_key(keys, row, certificate_of(row))
        except SigningKeyUnreadable:
            problems.append(
                f"the signing key of {describe(row)} cannot be opened with the configured secrets (it was "
                "sealed with a secret that is neither TRUSTROOM_SECRET_KEY nor in TRUSTROOM_PREVIOUS_SECRET_KEYS)"
            )
            continue
        if row.not_after <= now:
            problems.append(f"the certificate of {describe(row)} expired at {row.not_after.isoformat()}")
    return problems
