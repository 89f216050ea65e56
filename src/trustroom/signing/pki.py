"""Trustroom's own small PKI: who vouches for a signature, and how a validator checks it later.

Why a PKI of our own: each signer gets a real signature with a key of their own (issue #14),
so someone has to certify those keys, and validators must be able to learn, years later,
that a certificate was good when it signed. The hierarchy (ADR 0016):

    platform root CA (one per installation, 20 years, ECDSA P-256)
      ├── tenant signing CA (one per tenant, 10 years, path length 0)
      │     ├── per-signer certificates (fresh key per signature, valid ≤ 1 hour)
      │     └── the tenant's platform seal (certification signatures, `ses` steps, reports)
      ├── the time-stamping authority (EKU timeStamping, critical, 6 years)
      └── the root's delegated OCSP responder (2 years)
    and under each tenant CA its delegated OCSP responder (2 years).

Certificates point validators at `/pki/…` on Trustroom's public URL (CRL distribution point,
AIA OCSP and caIssuers): `certificate_status` answers there. Times are whole seconds
everywhere (`whole_seconds`). How the long-lived keys are stored: `sealed_keys`. Per-signer
keys are never exported: `issue_signer` returns a `SignerCredential` that is used once inside
a `with` block and dropped at its end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from .errors import CredentialDestroyed

ROOT_LIFETIME = timedelta(days=20 * 365)
TENANT_CA_LIFETIME = timedelta(days=10 * 365)
SEAL_LIFETIME = timedelta(days=2 * 365)
TSA_LIFETIME = timedelta(days=6 * 365)
RESPONDER_LIFETIME = timedelta(days=2 * 365)
SIGNER_LIFETIME = timedelta(hours=1)
# Clocks of validators and of the machine that signs may disagree by a few minutes.
BACKDATE = timedelta(minutes=5)

_CURVE = ec.SECP256R1()
_HASH = hashes.SHA256()


def whole_seconds(moment: datetime | None = None) -> datetime:
    """UTC, without microseconds: what goes into every certificate, CRL and OCSP response."""
    return (moment or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class IssuerUrls:
    """Where a CA publishes, written into every certificate it issues."""

    crl: str
    ocsp: str
    ca_issuers: str

    @classmethod
    def under(cls, base_url: str) -> IssuerUrls:
        """The URLs below one CA's base, e.g. `https://sign.example/pki/tenants/<id>`."""
        base = base_url.rstrip("/")
        return cls(crl=f"{base}/crl", ocsp=f"{base}/ocsp", ca_issuers=f"{base}/ca.crt")


class SigningCredential(Protocol):
    """What signs: a certificate, its private key and the issuers up to the root (nearest first)."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def key(self) -> ec.EllipticCurvePrivateKey: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]: ...


@dataclass(frozen=True, eq=False)
class Credential:
    """A long-lived credential (the seal, the TSA, an OCSP responder) whose key the caller seals."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True, eq=False)
class Authority:
    """A CA: its certificate and key, its issuers, and the URLs its certificates point to."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    urls: IssuerUrls
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def path(self) -> tuple[x509.Certificate, ...]:
        """This CA and its issuers: the chain of a certificate it issues."""
        return (self.certificate, *self.chain)


class SignerCredential:
    """A per-signer key and certificate, for one signature.

    Use it as a context manager: at the end of the block the key object is dropped and any
    further use raises `CredentialDestroyed`. The key was never serialized, so dropping the
    last reference is all there is to destroying it in Python.
    """

    def __init__(
        self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
    ):
        self.certificate = certificate
        self.chain = tuple(chain)
        self._key: ec.EllipticCurvePrivateKey | None = key

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            raise CredentialDestroyed()
        return self._key

    @property
    def destroyed(self) -> bool:
        return self._key is None

    def destroy(self) -> None:
        self._key = None

    def __enter__(self) -> SignerCredential:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.destroy()


# --- certificates ---------------------------------------------------------------------------


def _name(common_name: str, organization: str | None = None, **extra: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if extra.get("email"):
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, extra["email"]))
    if extra.get("serial"):
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, extra["serial"]))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: Authority | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is None:
        return builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(issuer.urls.crl)], None, None, None)]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(issuer.urls.ocsp)
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(issuer.urls.ca_issuers),
                    ),
                ]
            ),
            critical=False,
        )
    )


def _usage(
    builder: x509.CertificateBuilder, *, ca: bool, path_length: int | None = None, commitment: bool = False
) -> x509.CertificateBuilder:
    key_usage = x509.KeyUsage(
        digital_signature=True,  # a leaf signs; a CA may sign its own OCSP responses
        content_commitment=commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    constraints = x509.BasicConstraints(ca=ca, path_length=path_length)
    return builder.add_extension(constraints, critical=True).add_extension(key_usage, critical=True)


def _leaf_usage(builder: x509.CertificateBuilder, *, commitment: bool) -> x509.CertificateBuilder:
    return _usage(builder, ca=False, commitment=commitment)


def _ca_usage(builder: x509.CertificateBuilder, path_length: int | None) -> x509.CertificateBuilder:
    return _usage(builder, ca=True, path_length=path_length)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(_CURVE)


def _sign(builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(issuer_key, _HASH)


def create_root(
    common_name: str,
    *,
    organization: str | None = None,
    urls: IssuerUrls,
    now: datetime | None = None,
    lifetime: timedelta = ROOT_LIFETIME,
) -> Authority:
    """The installation's root CA. `urls` is where the root publishes (its CRL and OCSP)."""
    start = whole_seconds(now) - BACKDATE
    key = new_key()
    builder = _builder(_name(common_name, organization), key.public_key(), None, start, start + lifetime)
    certificate = _sign(_ca_usage(builder, path_length=1), key)
    return Authority(certificate=certificate, key=key, urls=urls)


def create_tenant_ca(
    root: Authority,
    common_name: str,
    *,
    organization: str | None = None,
    urls: IssuerUrls,
    now: datetime | None = None,
    lifetime: timedelta = TENANT_CA_LIFETIME,
) -> Authority:
    """A tenant's signing CA under the root; it issues only end-entity certificates (path length 0)."""
    start = whole_seconds(now) - BACKDATE
    key = new_key()
    not_after = min(start + lifetime, root.certificate.not_valid_after_utc)
    builder = _builder(_name(common_name, organization), key.public_key(), root, start, not_after)
    certificate = _sign(_ca_usage(builder, path_length=0), root.key)
    return Authority(certificate=certificate, key=key, urls=urls, chain=root.path)


def _issue(
    issuer: Authority,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime | None,
    lifetime: timedelta,
    extend: Callable[[x509.CertificateBuilder], x509.CertificateBuilder],
) -> x509.Certificate:
    start = whole_seconds(now) - BACKDATE
    not_after = min(start + BACKDATE + lifetime, issuer.certificate.not_valid_after_utc)
    return _sign(extend(_builder(subject, key.public_key(), issuer, start, not_after)), issuer.key)


def _eku(
    *usages: x509.ObjectIdentifier, critical: bool = False
) -> Callable[[x509.CertificateBuilder], x509.CertificateBuilder]:
    def extend(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=critical)

    return extend


def issue_signer(
    ca: Authority,
    *,
    name: str,
    email: str | None = None,
    subject_serial: str | None = None,
    now: datetime | None = None,
    lifetime: timedelta = SIGNER_LIFETIME,
) -> SignerCredential:
    """A fresh P-256 key and a certificate naming the signer, valid from now-5 min for at most an hour.

    `subject_serial` (X.520 serialNumber) can carry a stable reference to the invitee, so the
    certificate ties to the audit trail without more personal data. Non-repudiation
    (contentCommitment) is set because pyHanko and eIDAS validators expect it on signing
    certificates; emailProtection because poppler misreports chains without an EKU (pitfall 5).
    """
    if lifetime > SIGNER_LIFETIME:
        raise ValueError("a signer certificate is valid for one hour at most")
    key = new_key()

    def extend(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        builder = _eku(ExtendedKeyUsageOID.EMAIL_PROTECTION)(_leaf_usage(builder, commitment=True))
        if email:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        return builder

    subject = _name(name, None, email=email or "", serial=subject_serial or "")
    certificate = _issue(ca, subject, key, now=now, lifetime=lifetime, extend=extend)
    return SignerCredential(certificate, key, ca.path)


def issue_seal(
    ca: Authority,
    common_name: str,
    *,
    organization: str | None = None,
    now: datetime | None = None,
    lifetime: timedelta = SEAL_LIFETIME,
) -> Credential:
    """The tenant's platform seal, issued by the tenant's CA.

    Why the tenant CA and not the root: the seal speaks for one provider (it certifies that
    provider's documents, signs `ses` steps on its behalf and seals its audit reports), so it
    names the provider and sits beside that provider's signer certificates. One tenant CA,
    one CRL and one OCSP responder then cover everything a tenant's documents need, and
    revoking a tenant (or rotating its CA) never touches another tenant's documents.
    """

    def extend(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return _eku(ExtendedKeyUsageOID.EMAIL_PROTECTION)(_leaf_usage(builder, commitment=True))

    key = new_key()
    certificate = _issue(ca, _name(common_name, organization), key, now=now, lifetime=lifetime, extend=extend)
    return Credential(certificate=certificate, key=key, chain=ca.path)


def issue_tsa(
    root: Authority,
    common_name: str,
    *,
    organization: str | None = None,
    now: datetime | None = None,
    lifetime: timedelta = TSA_LIFETIME,
) -> Credential:
    """The in-process TSA's certificate, under the root: EKU timeStamping only, critical (RFC 3161 §2.3)."""

    def extend(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return _eku(ExtendedKeyUsageOID.TIME_STAMPING, critical=True)(_leaf_usage(builder, commitment=False))

    key = new_key()
    certificate = _issue(root, _name(common_name, organization), key, now=now, lifetime=lifetime, extend=extend)
    return Credential(certificate=certificate, key=key, chain=root.path)


def issue_ocsp_responder(
    ca: Authority,
    common_name: str,
    *,
    now: datetime | None = None,
    lifetime: timedelta = RESPONDER_LIFETIME,
) -> Credential:
    """A delegated OCSP responder for `ca` (EKU OCSPSigning, id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2)."""

    def extend(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        builder = _eku(ExtendedKeyUsageOID.OCSP_SIGNING)(_leaf_usage(builder, commitment=False))
        return builder.add_extension(x509.OCSPNoCheck(), critical=False)

    key = new_key()
    certificate = _issue(ca, _name(common_name), key, now=now, lifetime=lifetime, extend=extend)
    return Credential(certificate=certificate, key=key, chain=ca.path)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex: how logs and the audit trail name a certificate."""
    return hashlib.sha256(der(certificate)).hexdigest()
