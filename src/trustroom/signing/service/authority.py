"""Everything a signing step needs from the signing PKI: the signing kit.

The pure core (`pki`, `tsa`, `revocation`, `pades`; ADR 0016) makes certificates, CRLs and
OCSP answers; the service keeps them: `credentials` (rows and sealed keys), `authorities`
(the platform's and each tenant's, made on first use and renewed before they expire),
`revocation_answers` (statuses, CRLs, OCSP, the public `/pki` view). This module is what a
signing step needs of it all: the kit.

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

"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID
from pyhanko.sign.timestamps import TimeStamper
from sqlalchemy.ext.asyncio import AsyncSession

from ...keys import ServerKeys
from ...settings import Settings
from .. import pades, pki, tsa
from ..models import (
    IssuedCertificate,
    PlatformCertificate,
    PlatformCredential,
    PlatformCredentialKind,
    TenantCredential,
    TenantCredentialKind,
)
from ..revocation import Endpoint, RevocationSource
from . import credentials
from .authorities import Platform, TenantAuthority, issue_signer, platform, tenant_authority
from .credentials import Credential, certificate_of, current_platform, current_tenant
from .revocation_answers import Published, current_crl, ocsp_response


def forget_cached_keys() -> None:
    """Drop every unsealed key and timestamper this process holds (tests; after destroying a tenant's PKI)."""
    credentials.forget_cached_keys()
    _timestampers.clear()


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
    root = await current_platform(session, PlatformCredentialKind.ROOT)
    ca = await current_tenant(session, tenant_id, TenantCredentialKind.CA)
    return trust_for(settings, certificate_of(root) if root else None, certificate_of(ca) if ca else None)


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
