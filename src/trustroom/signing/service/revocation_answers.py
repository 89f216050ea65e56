"""What Trustroom's CAs say about the certificates they issued: statuses, CRLs (kept while
fresh, renewed race-safe), OCSP answers, revocation, and the CAs as the public `/pki`
routes serve them (which never create anything)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import utcnow
from ...keys import ServerKeys
from ...settings import Settings
from .. import certificate_status, pki
from ..errors import AuthorityNotFound
from ..models import (
    IssuedCertificate,
    PlatformCertificate,
    PlatformCredentialKind,
    TenantCredential,
    TenantCredentialKind,
)
from .authorities import root_urls, tenant_urls
from .credentials import Credential, Issued, certificate_of, current_platform, current_tenant, opened_key, serial_text

# A CRL is kept and served until it has this long left, then the next one is made.
CRL_LIFETIME = timedelta(days=1)
CRL_RENEW_BEFORE = timedelta(hours=12)


# --- revocation: statuses, CRLs, OCSP -------------------------------------------------------------


async def serial_status(
    session: AsyncSession, model: Issued, issuer_id: UUID, serial: int, *, tenant_id: UUID | None = None
) -> certificate_status.SerialStatus:
    """What the table says of one serial: good until it expires, revoked (when, why), or unknown."""
    query = select(model).where(model.issuer_id == issuer_id, model.serial == serial_text(serial))
    if tenant_id is not None:
        query = query.where(IssuedCertificate.tenant_id == tenant_id)
    row: PlatformCertificate | IssuedCertificate | None = await session.scalar(query)
    if row is None:
        return None
    if row.revoked_at is not None:
        reason = x509.ReasonFlags(row.revocation_reason) if row.revocation_reason else None
        return certificate_status.Revoked(row.revoked_at, reason)
    return certificate_status.Good(row.not_after)


async def _revoked(
    session: AsyncSession, model: Issued, issuer_id: UUID, tenant_id: UUID | None
) -> list[tuple[int, certificate_status.Revoked]]:
    query = select(model).where(model.issuer_id == issuer_id, model.revoked_at.is_not(None))
    if tenant_id is not None:
        query = query.where(IssuedCertificate.tenant_id == tenant_id)
    rows: list[PlatformCertificate | IssuedCertificate] = list(await session.scalars(query.order_by(model.revoked_at)))
    return [
        (
            int(row.serial, 16),
            certificate_status.Revoked(
                row.revoked_at, x509.ReasonFlags(row.revocation_reason) if row.revocation_reason else None
            ),
        )
        for row in rows
        if row.revoked_at is not None
    ]


def fresh_crl(row: Credential, now: datetime | None = None) -> bytes | None:
    """The CA's kept CRL while it has more than `CRL_RENEW_BEFORE` left, else None."""
    moment = now or utcnow()
    if row.crl is None or row.crl_next_update is None or row.crl_next_update - CRL_RENEW_BEFORE <= moment:
        return None
    return row.crl


async def current_crl(session: AsyncSession, row: Credential, authority: pki.Authority) -> bytes:
    """The CA's CRL: the kept one while fresh, else a new one with the next CRL number (needs a write session).

    Two processes renewing at once both build one; the update is conditional on the number
    they read, so only one is kept and the other serves it.
    """
    kept = fresh_crl(row)
    if kept is not None:
        return kept
    tenant_id = row.tenant_id if isinstance(row, TenantCredential) else None
    model: Issued = IssuedCertificate if tenant_id is not None else PlatformCertificate
    revoked = await _revoked(session, model, row.id, tenant_id)
    now = pki.whole_seconds()
    number = row.crl_number + 1
    data = certificate_status.crl(authority, revoked, number=number, this_update=now, next_update=now + CRL_LIFETIME)
    table = type(row)
    await session.execute(
        update(table)
        .where(table.id == row.id, table.crl_number == row.crl_number)
        .values(crl_number=number, crl=data, crl_next_update=now + CRL_LIFETIME)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(row)  # ours, or the one a concurrent renewal kept instead
    return row.crl or data


async def revoke(
    session: AsyncSession,
    tenant_id: UUID,
    serial: int,
    *,
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
    at: datetime | None = None,
) -> bool:
    """Revoke a certificate the tenant's CA issued; its CRL is made anew at the next request."""
    ca_row = await current_tenant(session, tenant_id, TenantCredentialKind.CA)
    if ca_row is None:
        return False
    row = await session.scalar(
        select(IssuedCertificate).where(
            IssuedCertificate.tenant_id == tenant_id,
            IssuedCertificate.issuer_id == ca_row.id,
            IssuedCertificate.serial == serial_text(serial),
        )
    )
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = pki.whole_seconds(at)
    row.revocation_reason = reason.value
    ca_row.crl_next_update = None  # the kept CRL no longer says everything
    await session.flush()
    return True


# --- what the public routes serve -----------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One CA as the `/pki` routes see it: its row, the authority, its OCSP responder."""

    row: Credential
    authority: pki.Authority
    responder: pki.Credential | None
    issued: Issued
    tenant_id: UUID | None


async def published_root(session: AsyncSession, keys: ServerKeys, settings: Settings) -> Published:
    """The root, if it exists (the public routes never create anything)."""
    row = await current_platform(session, PlatformCredentialKind.ROOT)
    if row is None:
        raise AuthorityNotFound()
    certificate = certificate_of(row)
    authority = pki.Authority(certificate, opened_key(keys, row, certificate), root_urls(settings))
    responder_row = await current_platform(session, PlatformCredentialKind.ROOT_OCSP)
    responder = None
    if responder_row is not None:
        responder_cert = certificate_of(responder_row)
        responder = pki.Credential(responder_cert, opened_key(keys, responder_row, responder_cert), authority.path)
    return Published(row, authority, responder, PlatformCertificate, None)


async def published_tenant(session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> Published:
    """The tenant's CA, if it exists. The session must be bound to the tenant (row-level security)."""
    row = await current_tenant(session, tenant_id, TenantCredentialKind.CA)
    if row is None:
        raise AuthorityNotFound()
    certificate = certificate_of(row)
    authority = pki.Authority(certificate, opened_key(keys, row, certificate), tenant_urls(settings, tenant_id))
    responder_row = await current_tenant(session, tenant_id, TenantCredentialKind.OCSP)
    responder = None
    if responder_row is not None:
        responder_cert = certificate_of(responder_row)
        responder = pki.Credential(responder_cert, opened_key(keys, responder_row, responder_cert), authority.path)
    return Published(row, authority, responder, IssuedCertificate, tenant_id)


async def published_tsa(session: AsyncSession, keys: ServerKeys) -> pki.Credential | None:
    """The in-process TSA's credential (with the root as its chain), if the platform has one."""
    row = await current_platform(session, PlatformCredentialKind.TSA)
    root = await current_platform(session, PlatformCredentialKind.ROOT)
    if row is None or root is None:
        return None
    certificate = certificate_of(row)
    return pki.Credential(certificate, opened_key(keys, row, certificate), (certificate_of(root),))


async def ocsp_response(session: AsyncSession, published: Published, request_der: bytes) -> bytes:
    """The DER OCSP response to one request (RFC 6960), answered from the issued-certificates table."""
    serial = certificate_status.ocsp_serial(request_der)
    status = (
        await serial_status(session, published.issued, published.row.id, serial, tenant_id=published.tenant_id)
        if serial is not None
        else None
    )
    return certificate_status.respond_ocsp(
        request_der, published.authority, lambda _serial: status, responder=published.responder
    )
