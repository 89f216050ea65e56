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
AIA OCSP and caIssuers); `crl()` and `respond_ocsp()` produce what is served there, and
`revocation.RevocationSource` calls them in-process when Trustroom collects revocation info
itself. Times are whole seconds everywhere: NSS drops OCSP responses with fractional
seconds (lab pitfall 3).

OCSP responses are signed by delegated responders (EKU OCSPSigning, ocsp-nocheck), not by
the CAs: pyHanko's AdES validation of a finished document demands revocation info for the
root itself when the root signs OCSP responses, and so fails; with a responder it passes
(and the root key signs only certificates and CRLs). A "good" answer is valid until the
certificate expires at most (`Good.not_after`): the ETSI time slide pyHanko implements
moves a signature's control time to the end of that validity, where the certificate must
still be valid.

Private keys leave this module only as PKCS#8 DER bytes (`export_key`), which the caller
seals with the server keys (`keys.ServerKeys.seal_bytes`, bound to a context naming the
row); `seal_authority` / `open_authority` do exactly that and bind the sealed key to its
certificate. Per-signer keys are never exported: `issue_signer` returns a
`SignerCredential` that is used once inside a `with` block and dropped at its end.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ..keys import ServerKeys
from .errors import CredentialDestroyed

ROOT_LIFETIME = timedelta(days=20 * 365)
TENANT_CA_LIFETIME = timedelta(days=10 * 365)
SEAL_LIFETIME = timedelta(days=2 * 365)
TSA_LIFETIME = timedelta(days=6 * 365)
RESPONDER_LIFETIME = timedelta(days=2 * 365)
SIGNER_LIFETIME = timedelta(hours=1)
# Clocks of validators and of the machine that signs may disagree by a few minutes.
BACKDATE = timedelta(minutes=5)
OCSP_VALIDITY = timedelta(hours=1)
# pyHanko allows a one-second clock tolerance past nextUpdate; the certificate must still be valid then.
_EXPIRY_MARGIN = timedelta(seconds=2)

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
CRL_TYPE = "application/pkix-crl"
CERT_TYPE = "application/pkix-cert"

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


# --- keys at rest ---------------------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(_CURVE)


def export_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 DER, unencrypted: the plaintext the caller hands to `ServerKeys.seal_bytes`."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def import_key(der: bytes) -> ec.EllipticCurvePrivateKey:
    """The inverse of `export_key` (after `ServerKeys.unseal_bytes`)."""
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def _seal_context(context: str, certificate: x509.Certificate) -> str:
    # Binding the certificate's fingerprint means a sealed key only opens beside its own
    # certificate: swapping the stored certificate makes the key unreadable, not misused.
    return f"{context}:{certificate.fingerprint(_HASH).hex()}"


def seal_key(keys: ServerKeys, credential: Authority | Credential, *, context: str) -> bytes:
    """The credential's key sealed with the current server secret; store it beside the certificate."""
    return keys.seal_bytes(export_key(credential.key), context=_seal_context(context, credential.certificate))


def unseal_key(
    keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str
) -> ec.EllipticCurvePrivateKey:
    """The key sealed by `seal_key` for this certificate (checked to match it)."""
    key = import_key(keys.unseal_bytes(sealed, context=_seal_context(context, certificate)))
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError("the sealed key does not belong to this certificate")
    return key


def seal_authority(keys: ServerKeys, authority: Authority, *, context: str) -> tuple[bytes, bytes]:
    """(certificate DER, sealed key) to store for a CA; `context` names where (e.g. `signing-ca:<tenant>`)."""
    return authority.certificate.public_bytes(serialization.Encoding.DER), seal_key(keys, authority, context=context)


def resealed_key(keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str) -> bytes | None:
    """The key sealed anew under the current server secret, or None if it already is (`trustroom keys reseal`)."""
    bound = _seal_context(context, certificate)
    if keys.is_current_seal_bytes(sealed, context=bound):
        return None
    return keys.seal_bytes(keys.unseal_bytes(sealed, context=bound), context=bound)


def key_is_current(keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str) -> bool:
    """True if the key is sealed under the current server secret (`trustroom keys status`)."""
    return keys.is_current_seal_bytes(sealed, context=_seal_context(context, certificate))


def open_authority(
    keys: ServerKeys,
    certificate_der: bytes,
    sealed_key: bytes,
    *,
    context: str,
    urls: IssuerUrls,
    chain: Sequence[x509.Certificate] = (),
) -> Authority:
    certificate = x509.load_der_x509_certificate(certificate_der)
    key = unseal_key(keys, certificate, sealed_key, context=context)
    return Authority(certificate=certificate, key=key, urls=urls, chain=tuple(chain))


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


def _leaf_usage(builder: x509.CertificateBuilder, *, commitment: bool) -> x509.CertificateBuilder:
    return builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=commitment,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _ca_usage(builder: x509.CertificateBuilder, path_length: int | None) -> x509.CertificateBuilder:
    return builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True).add_extension(
        x509.KeyUsage(
            digital_signature=True,  # the CA signs its own OCSP responses
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


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


# --- revocation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Good:
    """Issued by this CA and not revoked; `not_after` (the certificate's expiry) caps nextUpdate."""

    not_after: datetime | None = None


@dataclass(frozen=True)
class Revoked:
    at: datetime
    reason: x509.ReasonFlags | None = None


# None: this CA did not issue that serial, as far as it knows ("unknown").
SerialStatus = Good | Revoked | None
StatusLookup = Callable[[int], SerialStatus]


def crl(
    ca: Authority,
    revoked: Iterable[tuple[int, Revoked]],
    *,
    number: int,
    this_update: datetime | None = None,
    next_update: datetime | None = None,
) -> bytes:
    """The CA's full CRL (DER), listing `revoked` (serial, when and why), signed by the CA itself.

    `number` must grow with every CRL the CA publishes (RFC 5280 §5.2.3); the caller keeps it.
    Expired certificates stay listed (the CRL says so with no extension; Trustroom's signer
    certificates expire within the hour, and validators of old signatures still need the
    answer).
    """
    start = whole_seconds(this_update)
    end = whole_seconds(next_update) if next_update else start + timedelta(days=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(start)
        .next_update(end)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
    )
    for serial, status in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(whole_seconds(status.at))
        if status.reason is not None and status.reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(status.reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca.key, _HASH).public_bytes(serialization.Encoding.DER)


def ocsp_request_from_url(path_tail: str) -> bytes:
    """The DER request carried in an OCSP GET URL (RFC 6960 appendix A.1): url-encoded base64.

    Give the part of the path after the responder's URL; both standard and URL-safe
    base64 are accepted, with or without padding. Raises ValueError on garbage.
    """
    # Only a leading slash can be a separator (DER starts with 0x30, base64 "M"); a trailing
    # one is base64's 63rd digit.
    text = unquote(path_tail.removeprefix("/"))
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("not a base64 OCSP request") from error


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _key_hash(certificate: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    # RFC 6960: the hash of the subjectPublicKey BIT STRING value, without tag and length.
    public = certificate.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    digest = hashes.Hash(algorithm)
    digest.update(public)
    return digest.finalize()


def _name_hash(certificate: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(certificate.subject.public_bytes())
    return digest.finalize()


def ocsp_serial(request_der: bytes) -> int | None:
    """The serial number an OCSP request asks about, or None if it cannot be read.

    For responders that look statuses up asynchronously (a database): read the serial,
    look it up, then call `respond_ocsp` with a lookup that returns what was found.
    """
    try:
        return ocsp.load_der_ocsp_request(request_der).serial_number
    except ValueError:
        return None


def respond_ocsp(
    request_der: bytes,
    ca: Authority,
    lookup: StatusLookup,
    *,
    responder: Credential | None = None,
    now: datetime | None = None,
    validity: timedelta = OCSP_VALIDITY,
) -> bytes:
    """A DER OCSP response for one request about a certificate `ca` issued.

    `lookup(serial)` says `Good` (with the certificate's expiry), `Revoked` (when, why) or
    None (unknown). The response is signed by
    the CA, or by `responder`, a delegated responder the CA issued (`issue_ocsp_responder`).
    A request about another issuer gets `unauthorized`, an unreadable one `malformedRequest`
    (both unsigned, as RFC 6960 §2.3 has it). The nonce is echoed; every time is in whole
    seconds. The same function serves POST bodies and GET URLs (`ocsp_request_from_url`).
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algorithm = request.hash_algorithm
    if not isinstance(algorithm, (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if request.issuer_key_hash != _key_hash(ca.certificate, algorithm) or request.issuer_name_hash != _name_hash(
        ca.certificate, algorithm
    ):
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    status = lookup(request.serial_number)
    this_update = whole_seconds(now)
    next_update = this_update + validity
    if isinstance(status, Revoked):
        cert_status, revoked_at, reason = ocsp.OCSPCertStatus.REVOKED, whole_seconds(status.at), status.reason
    elif isinstance(status, Good):
        cert_status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
        if status.not_after is not None and this_update < status.not_after:
            # "Good until it expires": validators slide a signature's control time back to
            # the end of its revocation info's validity, and the certificate must still be
            # valid then (ETSI EN 319 102-1 time slide, as pyHanko implements it).
            next_update = min(next_update, whole_seconds(status.not_after) - _EXPIRY_MARGIN)
    else:
        cert_status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number,
        algorithm=algorithm,
        cert_status=cert_status,
        this_update=this_update,
        next_update=max(next_update, this_update),
        revocation_time=revoked_at,
        revocation_reason=reason,
    )
    signer_cert, signer_key = (responder.certificate, responder.key) if responder else (ca.certificate, ca.key)
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
    if responder is not None:
        builder = builder.certificates([responder.certificate])
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            builder = builder.add_extension(extension.value, critical=False)
    return builder.sign(signer_key, _HASH).public_bytes(serialization.Encoding.DER)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex: how logs and the audit trail name a certificate."""
    return hashlib.sha256(der(certificate)).hexdigest()
