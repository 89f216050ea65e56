"""The signing PKI's authorities, made on first use and renewed before they expire.

The platform's root, its OCSP responder and the in-process TSA (platform rows), and per
tenant a signing CA under the root, its delegated OCSP responder and the tenant's platform
seal (tenant rows). Every certificate a Trustroom CA issues is recorded (serial, not-after,
revocation), so OCSP and CRLs answer from the tables.

The responders, the TSA and the seal are renewed when they come within
TRUSTROOM_SIGNING__RENEW_BEFORE_DAYS of their expiry, whenever they are read for a signing
step (`signing_kit`, `trustroom signing check`): a new key and certificate from the same
issuer, the old row retired (its certificate stays recorded, so what it signed still
validates). A renewal would gain nothing once the issuer itself expires first (a
certificate never outlives its issuer), so it stops there; the root and the tenant CAs are
long-lived and renewed by the operator (README, "Signing PKI"), and start-up refuses
expired ones.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...auth.models import Tenant
from ...db import utcnow, uuid7
from ...keys import ServerKeys
from ...settings import Settings
from .. import pki, sealed_keys
from ..errors import AuthorityNotFound
from ..models import (
    IssuedCertificate,
    PlatformCertificate,
    PlatformCredential,
    PlatformCredentialKind,
    TenantCredential,
    TenantCredentialKind,
)
from .credentials import (
    Credential,
    certificate_of,
    current_platform,
    current_tenant,
    insert_first,
    key_context,
    opened_key,
    record,
    replace_first,
)

log = logging.getLogger("trustroom.signing")


# --- where things are published ---------------------------------------------------------------


def pki_base(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/pki"


def root_urls(settings: Settings) -> pki.IssuerUrls:
    """Where the root's certificates point: `/pki/root/{crl,ocsp,ca.crt}`."""
    return pki.IssuerUrls.under(f"{pki_base(settings)}/root")


def tenant_urls(settings: Settings, tenant_id: UUID) -> pki.IssuerUrls:
    """Where a tenant CA's certificates point: `/pki/tenants/<id>/{crl,ocsp,ca.crt}`."""
    return pki.IssuerUrls.under(f"{pki_base(settings)}/tenants/{tenant_id}")


def tsa_url(settings: Settings) -> str:
    return f"{pki_base(settings)}/tsa"


# --- renewal --------------------------------------------------------------------------------------


def renewal_window(settings: Settings) -> timedelta:
    return timedelta(days=settings.signing.renew_before_days)


def renewal_due(row: Credential, issuer: x509.Certificate, window: timedelta, now: datetime | None = None) -> bool:
    """Whether a responder, TSA or seal is to be renewed now: within `window` of its expiry,
    unless its issuer expires no later (a new certificate could not outlive the issuer, so
    renewing would gain nothing and would happen again at every step)."""
    moment = now or utcnow()
    return row.not_after - window <= moment and issuer.not_valid_after_utc > row.not_after


async def _current_leaf(
    session: AsyncSession,
    find: Callable[[], Awaitable[Credential | None]],
    issue: Callable[[], pki.Credential],
    new_row: Callable[[pki.Credential], Credential],
    new_record: Callable[[x509.Certificate], Any],
    issuer: x509.Certificate,
    window: timedelta,
) -> Credential:
    """The current row of a credential an authority issues, made if there is none and renewed
    if due; race-safe (see `credentials`); the certificate issued is recorded (the caller commits)."""
    row = await find()
    while row is None or renewal_due(row, issuer, window):
        credential = issue()
        new = new_row(credential)
        made = await insert_first(session, [new]) if row is None else await replace_first(session, row, [new])
        if made:
            session.add(new_record(credential.certificate))
            await session.flush()
            if row is not None:
                log.info(
                    "a signing certificate near its expiry was renewed",
                    extra={
                        "kind": new.kind,
                        "retiredNotAfter": row.not_after.isoformat(),
                        "notAfter": new.not_after.isoformat(),
                    },
                )
            return new
        row = await find()
    return row


# --- the platform ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """The installation's root, the root's OCSP responder and the in-process TSA."""

    root: pki.Authority
    root_id: UUID
    responder: pki.Credential
    tsa: pki.Credential


async def platform(session: AsyncSession, keys: ServerKeys, settings: Settings) -> Platform:
    """The platform's credentials, made on first use (the caller commits)."""
    root_row = await current_platform(session, PlatformCredentialKind.ROOT)
    if root_row is None:
        root_row = await _create_root(session, keys, settings)
    root_certificate = certificate_of(root_row)
    root = pki.Authority(root_certificate, opened_key(keys, root_row, root_certificate), root_urls(settings))
    name = settings.signing.authority_name
    made = {
        PlatformCredentialKind.ROOT_OCSP: lambda: pki.issue_ocsp_responder(root, f"{name} Root OCSP Responder"),
        PlatformCredentialKind.TSA: lambda: pki.issue_tsa(root, f"{name} Time-Stamping Authority", organization=name),
    }
    window = renewal_window(settings)
    opened: dict[PlatformCredentialKind, pki.Credential] = {}
    for kind, issue in made.items():
        row = await _current_leaf(
            session,
            partial(current_platform, session, kind),
            issue,
            partial(_platform_row, keys, kind),
            partial(record, PlatformCertificate, root_row.id, kind=str(kind)),
            root_certificate,
            window,
        )
        certificate = certificate_of(row)
        opened[kind] = pki.Credential(certificate, opened_key(keys, row, certificate), root.path)
    return Platform(root, root_row.id, opened[PlatformCredentialKind.ROOT_OCSP], opened[PlatformCredentialKind.TSA])


def _platform_row(
    keys: ServerKeys, kind: PlatformCredentialKind, credential: pki.Authority | pki.Credential
) -> PlatformCredential:
    row = PlatformCredential(
        id=uuid7(),
        kind=str(kind),
        certificate=pki.der(credential.certificate),
        not_after=credential.certificate.not_valid_after_utc,
        crl_number=0,
    )
    row.sealed_key = sealed_keys.seal_key(keys, credential, context=key_context(row))
    return row


async def _create_root(session: AsyncSession, keys: ServerKeys, settings: Settings) -> PlatformCredential:
    name = settings.signing.authority_name
    while True:
        root = pki.create_root(f"{name} Signing Root CA", organization=name, urls=root_urls(settings))
        row = _platform_row(keys, PlatformCredentialKind.ROOT, root)
        if await insert_first(session, [row]):
            await session.flush()
            return row
        found = await current_platform(session, PlatformCredentialKind.ROOT)
        if found is not None:
            return found


# --- a tenant -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantAuthority:
    """A tenant's signing CA (under the platform root), its OCSP responder and its seal."""

    tenant_id: UUID
    ca: pki.Authority
    ca_id: UUID
    responder: pki.Credential
    seal: pki.Credential


async def _tenant_name(session: AsyncSession, tenant_id: UUID) -> str:
    name = await session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
    if name is None:
        raise AuthorityNotFound()
    return str(name)[:60]


async def tenant_authority(
    session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID, *, base: Platform | None = None
) -> TenantAuthority:
    """The tenant's CA, responder and seal, made on first use under the platform root (the caller commits)."""
    base = base or await platform(session, keys, settings)
    ca_row = await current_tenant(session, tenant_id, TenantCredentialKind.CA)
    if ca_row is None:
        ca_row = await _create_tenant_ca(session, keys, settings, tenant_id, base)
    ca_certificate = certificate_of(ca_row)
    ca = pki.Authority(
        ca_certificate, opened_key(keys, ca_row, ca_certificate), tenant_urls(settings, tenant_id), base.root.path
    )
    name = _organization(ca_certificate)
    made = {
        TenantCredentialKind.OCSP: lambda: pki.issue_ocsp_responder(ca, f"{name} OCSP Responder"),
        TenantCredentialKind.SEAL: lambda: pki.issue_seal(ca, f"{name} Seal", organization=name),
    }
    window = renewal_window(settings)
    opened: dict[TenantCredentialKind, pki.Credential] = {}
    for kind, issue in made.items():
        row = await _current_leaf(
            session,
            partial(current_tenant, session, tenant_id, kind),
            issue,
            partial(_tenant_row, keys, tenant_id, kind),
            partial(record, IssuedCertificate, ca_row.id, kind=str(kind), tenant_id=tenant_id),
            ca_certificate,
            window,
        )
        certificate = certificate_of(row)
        opened[kind] = pki.Credential(certificate, opened_key(keys, row, certificate), ca.path)
    return TenantAuthority(
        tenant_id, ca, ca_row.id, opened[TenantCredentialKind.OCSP], opened[TenantCredentialKind.SEAL]
    )


def _organization(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _tenant_row(
    keys: ServerKeys, tenant_id: UUID, kind: TenantCredentialKind, credential: pki.Authority | pki.Credential
) -> TenantCredential:
    row = TenantCredential(
        id=uuid7(),
        tenant_id=tenant_id,
        kind=str(kind),
        certificate=pki.der(credential.certificate),
        not_after=credential.certificate.not_valid_after_utc,
        crl_number=0,
    )
    row.sealed_key = sealed_keys.seal_key(keys, credential, context=key_context(row))
    return row


async def _create_tenant_ca(
    session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID, base: Platform
) -> TenantCredential:
    name = await _tenant_name(session, tenant_id)
    while True:
        ca = pki.create_tenant_ca(
            base.root, f"{name} Signing CA", organization=name, urls=tenant_urls(settings, tenant_id)
        )
        row = _tenant_row(keys, tenant_id, TenantCredentialKind.CA, ca)
        if await insert_first(session, [row]):
            session.add(record(PlatformCertificate, base.root_id, ca.certificate, "tenant_ca"))
            await session.flush()
            return row
        found = await current_tenant(session, tenant_id, TenantCredentialKind.CA)
        if found is not None:
            return found


async def issue_signer(
    session: AsyncSession,
    authority: TenantAuthority,
    *,
    name: str,
    email: str | None = None,
    subject_serial: str | None = None,
) -> pki.SignerCredential:
    """A one-hour signer certificate from the tenant's CA, recorded in the caller's transaction.

    Use the result in a `with` block: its key is dropped at the end (`pki.SignerCredential`).
    """
    credential = pki.issue_signer(authority.ca, name=name, email=email, subject_serial=subject_serial)
    session.add(
        record(IssuedCertificate, authority.ca_id, credential.certificate, "signer", tenant_id=authority.tenant_id)
    )
    await session.flush()
    return credential
