"""The signing PKI at rest, and everything a signing step needs from it.

The pure core (`pki`, `tsa`, `revocation`, `pades`; ADR 0016) makes certificates, CRLs and
OCSP answers; this module keeps them: the platform's root, its OCSP responder and the
in-process TSA (platform rows), and per tenant a signing CA, its delegated OCSP responder
and the tenant's platform seal (tenant rows), each a certificate with its private key sealed
by the server keys. Every certificate a Trustroom CA issues is recorded (serial, not-after,
revocation), so OCSP and CRLs answer from the tables.

What the signing workflow calls (one signing step, inside the caller's transaction):

    kit = await authority.signing_kit(session, keys, settings, tenant_id)
    async with kit.revocation_source() as source:
        long_term = kit.long_term(source)
        certified = await pades.certify(pdf, kit.seal, kit.timestamper, long_term=long_term)
        with await kit.issue_signer(name="Anna Muster", email="anna@example.com") as signer:
            signed = await pades.approve(certified, "Client", signer, kit.timestamper, ..., long_term=long_term)

Why the signer's certificate is recorded in the caller's transaction rather than committed
first: pyHanko asks for its OCSP status during that same step (B-LT), and `revocation_source`
answers Trustroom's own URLs in-process through the caller's session, which sees the
uncommitted row, so the answer is "good". Nothing outside learns of a certificate before its
step commits: the PDF carrying it is stored by that same commit, and if the step fails, the
certificate's row goes with it, and so does the only signature made with its key. (The
public `/pki` routes see it once committed, which is when the signed PDF can first reach a
validator.)

Created on first use, race-safe: a credential is inserted in a savepoint under a unique
index on (tenant, kind) among current rows; the loser of a race reads the winner's row.
Unsealed keys are cached per process by row, sealed bytes and server secret, so a reseal
(`trustroom keys reseal`) or a new secret opens the key again and a retired row is simply
never asked for again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID
from pyhanko.sign.timestamps import TimeStamper
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...auth.models import Tenant
from ...db import cross_tenant, utcnow, uuid7
from ...keys import ServerKeys
from ...settings import Settings
from .. import certificate_status, pades, pki, sealed_keys, tsa
from ..errors import AuthorityNotFound, SigningKeyUnreadable
from ..models import (
    IssuedCertificate,
    PlatformCertificate,
    PlatformCredential,
    PlatformCredentialKind,
    TenantCredential,
    TenantCredentialKind,
)
from ..revocation import Endpoint, RevocationSource

# A CRL is kept and served until it has this long left, then the next one is made.
CRL_LIFETIME = timedelta(days=1)
CRL_RENEW_BEFORE = timedelta(hours=12)
_KEY_CACHE_SIZE = 512

Credential = PlatformCredential | TenantCredential
Issued = type[PlatformCertificate] | type[IssuedCertificate]


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


# --- unsealed keys, cached per process ----------------------------------------------------------


_keys: OrderedDict[tuple[str, UUID, bytes], ec.EllipticCurvePrivateKey] = OrderedDict()


def _context(row: Credential) -> str:
    if isinstance(row, TenantCredential):
        return f"signing-tenant:{row.tenant_id}:{row.kind}:{row.id}"
    return f"signing-platform:{row.kind}:{row.id}"


def _certificate(row: Credential) -> x509.Certificate:
    return x509.load_der_x509_certificate(row.certificate)


def _key(keys: ServerKeys, row: Credential, certificate: x509.Certificate) -> ec.EllipticCurvePrivateKey:
    tag = (keys.secret_id, row.id, hashlib.sha256(row.sealed_key).digest())
    key = _keys.get(tag)
    if key is not None:
        _keys.move_to_end(tag)
        return key
    try:
        key = sealed_keys.unseal_key(keys, certificate, row.sealed_key, context=_context(row))
    except (InvalidTag, ValueError) as error:
        raise SigningKeyUnreadable(credential=_describe(row)) from error
    _keys[tag] = key
    while len(_keys) > _KEY_CACHE_SIZE:
        _keys.popitem(last=False)
    return key


def forget_cached_keys() -> None:
    """Drop every unsealed key this process holds (tests; after destroying a tenant's PKI)."""
    _keys.clear()
    _timestampers.clear()


def _describe(row: Credential) -> str:
    if isinstance(row, TenantCredential):
        return f"the {row.kind} of tenant {row.tenant_id}"
    return f"the platform's {row.kind}"


# --- rows ---------------------------------------------------------------------------------------


def serial_text(serial: int) -> str:
    return format(serial, "x")


async def _current_platform(session: AsyncSession, kind: PlatformCredentialKind) -> PlatformCredential | None:
    return await session.scalar(
        select(PlatformCredential).where(PlatformCredential.kind == kind, PlatformCredential.retired_at.is_(None))
    )


async def _current_tenant(
    session: AsyncSession, tenant_id: UUID, kind: TenantCredentialKind
) -> TenantCredential | None:
    return await session.scalar(
        select(TenantCredential).where(
            TenantCredential.tenant_id == tenant_id,
            TenantCredential.kind == kind,
            TenantCredential.retired_at.is_(None),
        )
    )


def _record(model: Issued, issuer_id: UUID, certificate: x509.Certificate, kind: str, **extra: Any) -> Any:
    return model(
        issuer_id=issuer_id,
        serial=serial_text(certificate.serial_number),
        kind=kind,
        subject=certificate.subject.rfc4514_string()[:500],
        not_after=certificate.not_valid_after_utc,
        **extra,
    )


async def _insert_first(session: AsyncSession, rows: Sequence[Any]) -> bool:
    """Insert the rows in a savepoint; False if another process made the credential first."""
    try:
        async with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:
        return False
    return True


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
    root_row = await _current_platform(session, PlatformCredentialKind.ROOT)
    if root_row is None:
        root_row = await _create_root(session, keys, settings)
    root_certificate = _certificate(root_row)
    root = pki.Authority(root_certificate, _key(keys, root_row, root_certificate), root_urls(settings))
    name = settings.signing.authority_name
    made = {
        PlatformCredentialKind.ROOT_OCSP: lambda: pki.issue_ocsp_responder(root, f"{name} Root OCSP Responder"),
        PlatformCredentialKind.TSA: lambda: pki.issue_tsa(root, f"{name} Time-Stamping Authority", organization=name),
    }
    opened: dict[PlatformCredentialKind, pki.Credential] = {}
    for kind, issue in made.items():
        row = await _current_platform(session, kind)
        while row is None:
            credential = issue()
            new = _platform_row(keys, kind, credential)
            record = _record(PlatformCertificate, root_row.id, credential.certificate, str(kind))
            if await _insert_first(session, [new]):
                session.add(record)
                await session.flush()
                row = new
            else:
                row = await _current_platform(session, kind)
        certificate = _certificate(row)
        opened[kind] = pki.Credential(certificate, _key(keys, row, certificate), root.path)
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
    row.sealed_key = sealed_keys.seal_key(keys, credential, context=_context(row))
    return row


async def _create_root(session: AsyncSession, keys: ServerKeys, settings: Settings) -> PlatformCredential:
    name = settings.signing.authority_name
    while True:
        root = pki.create_root(f"{name} Signing Root CA", organization=name, urls=root_urls(settings))
        row = _platform_row(keys, PlatformCredentialKind.ROOT, root)
        if await _insert_first(session, [row]):
            await session.flush()
            return row
        found = await _current_platform(session, PlatformCredentialKind.ROOT)
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
    ca_row = await _current_tenant(session, tenant_id, TenantCredentialKind.CA)
    if ca_row is None:
        ca_row = await _create_tenant_ca(session, keys, settings, tenant_id, base)
    ca_certificate = _certificate(ca_row)
    ca = pki.Authority(
        ca_certificate, _key(keys, ca_row, ca_certificate), tenant_urls(settings, tenant_id), base.root.path
    )
    name = _organization(ca_certificate)
    made = {
        TenantCredentialKind.OCSP: lambda: pki.issue_ocsp_responder(ca, f"{name} OCSP Responder"),
        TenantCredentialKind.SEAL: lambda: pki.issue_seal(ca, f"{name} Seal", organization=name),
    }
    opened: dict[TenantCredentialKind, pki.Credential] = {}
    for kind, issue in made.items():
        row = await _current_tenant(session, tenant_id, kind)
        while row is None:
            credential = issue()
            new = _tenant_row(keys, tenant_id, kind, credential)
            record = _record(IssuedCertificate, ca_row.id, credential.certificate, str(kind), tenant_id=tenant_id)
            if await _insert_first(session, [new]):
                session.add(record)
                await session.flush()
                row = new
            else:
                row = await _current_tenant(session, tenant_id, kind)
        certificate = _certificate(row)
        opened[kind] = pki.Credential(certificate, _key(keys, row, certificate), ca.path)
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
    row.sealed_key = sealed_keys.seal_key(keys, credential, context=_context(row))
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
        if await _insert_first(session, [row]):
            session.add(_record(PlatformCertificate, base.root_id, ca.certificate, "tenant_ca"))
            await session.flush()
            return row
        found = await _current_tenant(session, tenant_id, TenantCredentialKind.CA)
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
        _record(IssuedCertificate, authority.ca_id, credential.certificate, "signer", tenant_id=authority.tenant_id)
    )
    await session.flush()
    return credential


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
    ca_row = await _current_tenant(session, tenant_id, TenantCredentialKind.CA)
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
    row = await _current_platform(session, PlatformCredentialKind.ROOT)
    if row is None:
        raise AuthorityNotFound()
    certificate = _certificate(row)
    authority = pki.Authority(certificate, _key(keys, row, certificate), root_urls(settings))
    responder_row = await _current_platform(session, PlatformCredentialKind.ROOT_OCSP)
    responder = None
    if responder_row is not None:
        responder_cert = _certificate(responder_row)
        responder = pki.Credential(responder_cert, _key(keys, responder_row, responder_cert), authority.path)
    return Published(row, authority, responder, PlatformCertificate, None)


async def published_tenant(session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> Published:
    """The tenant's CA, if it exists. The session must be bound to the tenant (row-level security)."""
    row = await _current_tenant(session, tenant_id, TenantCredentialKind.CA)
    if row is None:
        raise AuthorityNotFound()
    certificate = _certificate(row)
    authority = pki.Authority(certificate, _key(keys, row, certificate), tenant_urls(settings, tenant_id))
    responder_row = await _current_tenant(session, tenant_id, TenantCredentialKind.OCSP)
    responder = None
    if responder_row is not None:
        responder_cert = _certificate(responder_row)
        responder = pki.Credential(responder_cert, _key(keys, responder_row, responder_cert), authority.path)
    return Published(row, authority, responder, IssuedCertificate, tenant_id)


async def published_tsa(session: AsyncSession, keys: ServerKeys) -> pki.Credential | None:
    """The in-process TSA's credential (with the root as its chain), if the platform has one."""
    row = await _current_platform(session, PlatformCredentialKind.TSA)
    root = await _current_platform(session, PlatformCredentialKind.ROOT)
    if row is None or root is None:
        return None
    certificate = _certificate(row)
    return pki.Credential(certificate, _key(keys, row, certificate), (_certificate(root),))


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


# --- what a signing step needs --------------------------------------------------------------------


@lru_cache(maxsize=64)
def _roots_in(path: Path, modified: float) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(path.read_bytes()))


def extra_roots(settings: Settings) -> list[x509.Certificate]:
    """The operator's further trust roots (TRUSTROOM_SIGNING__TRUST_ROOTS), read again when a file changes."""
    found: list[x509.Certificate] = []
    for path in settings.signing.trust_roots:
        found += _roots_in(path, path.stat().st_mtime)
    return found


def trust_for(settings: Settings, root: x509.Certificate | None, ca: x509.Certificate | None) -> pades.Trust:
    roots = [root] if root is not None else []
    return pades.Trust([*roots, *extra_roots(settings)], [ca] if ca is not None else [])


async def validation_trust(session: AsyncSession, settings: Settings, tenant_id: UUID) -> pades.Trust:
    """What `POST /signing/validate` trusts: the platform root, the tenant's CA and the configured roots.

    Reads certificates only: validating creates no key and opens none.
    """
    root = await _current_platform(session, PlatformCredentialKind.ROOT)
    ca = await _current_tenant(session, tenant_id, TenantCredentialKind.CA)
    return trust_for(settings, _certificate(root) if root else None, _certificate(ca) if ca else None)


# Timestampers kept per process: pyHanko sizes each signature from a dummy token that a
# timestamper fetches once and keeps, so a new one per step cost a token (over HTTP: a
# round trip to the TSA) per step. They hold no session or connection (pyHanko opens one per
# request), only that dummy and the TSA certificates seen, so any event loop may use them.
_timestampers: OrderedDict[tuple[object, ...], tsa.FailoverTimeStamper] = OrderedDict()
_TIMESTAMPER_CACHE_SIZE = 16


def timestamper(settings: Settings, base: Platform) -> tsa.FailoverTimeStamper:
    """The configured external TSAs in order, else Trustroom's own in-process TSA; never none (fail closed)."""
    urls = tuple(settings.signing.tsa_urls)
    timeout = settings.signing.tsa_timeout_seconds
    tag: tuple[object, ...] = (urls, timeout) if urls else (base.tsa.certificate.fingerprint(hashes.SHA256()),)
    found = _timestampers.get(tag)
    if found is not None:
        _timestampers.move_to_end(tag)
        return found
    made = tsa.over_http(urls, timeout=timeout) if urls else tsa.in_process(tsa.TimeStampAuthority(base.tsa))
    _timestampers[tag] = made
    while len(_timestampers) > _TIMESTAMPER_CACHE_SIZE:
        _timestampers.popitem(last=False)
    return made


@dataclass
class SigningKit:
    """Everything one signing step of a tenant needs; valid for one transaction (`signing_kit`)."""

    session: AsyncSession
    settings: Settings
    platform: Platform
    tenant: TenantAuthority
    timestamper: TimeStamper
    trust: pades.Trust

    @property
    def seal(self) -> pki.Credential:
        """The tenant's platform seal: certifies documents, signs `ses` steps, seals reports."""
        return self.tenant.seal

    async def issue_signer(
        self, *, name: str, email: str | None = None, subject_serial: str | None = None
    ) -> pki.SignerCredential:
        """A one-hour certificate for one signature, recorded in this transaction (see the module doc)."""
        return await issue_signer(self.session, self.tenant, name=name, email=email, subject_serial=subject_serial)

    def revocation_source(self) -> RevocationSource:
        """Trustroom's own OCSP, CRL and CA URLs answered in-process from the tables (through this
        session, so this transaction's certificates are "good"); others over HTTP only under
        TRUSTROOM_SIGNING__FETCH_URLS. Use it as an async context manager."""
        lock = asyncio.Lock()  # one session: never two queries at once, whatever pyHanko gathers
        root = Published(
            _platform_marker(self.platform), self.platform.root, self.platform.responder, PlatformCertificate, None
        )
        tenant = Published(
            _tenant_marker(self.tenant), self.tenant.ca, self.tenant.responder, IssuedCertificate, self.tenant.tenant_id
        )
        # Certificates keep the URLs they were made with: a TRUSTROOM_PUBLIC_URL changed since
        # must not send their revocation checks out over HTTP. Every URL an issued credential
        # names is answered in-process too.
        root_issued = (self.platform.tsa.certificate, self.platform.responder.certificate, self.tenant.ca.certificate)
        tenant_issued = (self.tenant.seal.certificate, self.tenant.responder.certificate)
        local = {
            **_endpoints(self.session, lock, root, _urls_named(root_issued)),
            **_endpoints(self.session, lock, tenant, _urls_named(tenant_issued)),
        }
        prefixes = tuple(self.settings.signing.fetch_urls)
        return RevocationSource(local, http_allowed=lambda url: url.startswith(prefixes) if prefixes else False)

    def long_term(self, source: RevocationSource) -> pades.LongTerm:
        """Given to a pades step, makes it B-LTA within the step (ADR 0016, decision 6)."""
        return pades.LongTerm(self.trust, source)


def _platform_marker(base: Platform) -> PlatformCredential:
    return PlatformCredential(id=base.root_id, kind=str(PlatformCredentialKind.ROOT))


def _tenant_marker(authority: TenantAuthority) -> TenantCredential:
    return TenantCredential(id=authority.ca_id, tenant_id=authority.tenant_id, kind=str(TenantCredentialKind.CA))


def _urls_named(certificates: Sequence[x509.Certificate]) -> list[pki.IssuerUrls]:
    """The CRL, OCSP and caIssuers URLs these certificates point at (all issued by one CA)."""
    found = []
    for certificate in certificates:
        try:
            points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound:
            continue
        crl = next(str(name.value) for point in points for name in point.full_name or ())
        ocsp = [str(a.access_location.value) for a in access if a.access_method == AuthorityInformationAccessOID.OCSP]
        issuers = [
            str(a.access_location.value) for a in access if a.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        ]
        found.append(pki.IssuerUrls(crl=crl, ocsp=ocsp[0], ca_issuers=issuers[0]))
    return found


def _endpoints(
    session: AsyncSession, lock: asyncio.Lock, published: Published, also: Sequence[pki.IssuerUrls] = ()
) -> dict[str, Endpoint]:
    async def answer_ocsp(body: bytes | None) -> bytes:
        if body is None:
            raise ValueError("OCSP requests are POSTed here")
        async with lock:
            return await ocsp_response(session, published, body)

    async def answer_crl(_body: bytes | None) -> bytes:
        async with lock:
            row: Credential | None = await session.get(type(published.row), published.row.id)
            assert row is not None
            return await current_crl(session, row, published.authority)

    certificate = pki.der(published.authority.certificate)

    def answer_certificate(_body: bytes | None) -> bytes:
        return certificate

    answers: dict[str, Endpoint] = {}
    for urls in (*also, published.authority.urls):
        answers |= {urls.ocsp: answer_ocsp, urls.crl: answer_crl, urls.ca_issuers: answer_certificate}
    return answers


async def signing_kit(session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> SigningKit:
    """The tenant's seal, signer issuing, timestamper, revocation source and trust, PKI made on first use.

    The session must be a write session bound to the tenant; the caller commits (the
    credentials made, the certificates issued) with the step's result.
    """
    base = await platform(session, keys, settings)
    authority = await tenant_authority(session, keys, settings, tenant_id, base=base)
    trust = trust_for(settings, base.root.certificate, authority.ca.certificate)
    return SigningKit(session, settings, base, authority, timestamper(settings, base), trust)


# --- key rotation and start-up ---------------------------------------------------------------------


async def _every_credential(session: AsyncSession) -> list[Credential]:
    async with cross_tenant(session):
        rows: list[Credential] = [*await session.scalars(select(PlatformCredential).order_by(PlatformCredential.id))]
        rows += await session.scalars(select(TenantCredential).order_by(TenantCredential.id))
    return rows


async def reseal_all(session: AsyncSession, keys: ServerKeys) -> tuple[int, int]:
    """`trustroom keys reseal`: every signing key sealed under the current server secret; (resealed, total)."""
    resealed = 0
    rows = await _every_credential(session)
    async with cross_tenant(session):
        for row in rows:
            try:
                again = sealed_keys.resealed_key(keys, _certificate(row), row.sealed_key, context=_context(row))
            except InvalidTag as error:
                raise SigningKeyUnreadable(credential=_describe(row)) from error
            if again is not None:
                row.sealed_key = again
                resealed += 1
        await session.flush()
    return resealed, len(rows)


async def count_on_older_secrets(session: AsyncSession, keys: ServerKeys) -> int:
    rows = await _every_credential(session)
    return sum(
        not sealed_keys.key_is_current(keys, _certificate(row), row.sealed_key, context=_context(row)) for row in rows
    )


async def start_up_problems(session: AsyncSession, keys: ServerKeys) -> list[str]:
    """What stops `serve` and `worker`: a signing key the server secrets cannot open, or that does
    not match its certificate, or a CA, responder or TSA certificate that has expired."""
    problems = []
    now = utcnow()
    for row in await _every_credential(session):
        if row.retired_at is not None:
            continue
        try:
            _key(keys, row, _certificate(row))
        except SigningKeyUnreadable:
            problems.append(
                f"the signing key of {_describe(row)} cannot be opened with the configured secrets (it was "
                "sealed with a secret that is neither TRUSTROOM_SECRET_KEY nor in TRUSTROOM_PREVIOUS_SECRET_KEYS)"
            )
            continue
        if row.not_after <= now:
            problems.append(f"the certificate of {_describe(row)} expired at {row.not_after.isoformat()}")
    return problems
