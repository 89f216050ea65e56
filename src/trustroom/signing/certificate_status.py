"""What Trustroom's CAs say about the certificates they issued: CRLs and OCSP responses.

`crl()` and `respond_ocsp()` produce what is served at `/pki/…` (the CRL distribution point
and AIA OCSP URL in every certificate), and `revocation.RevocationSource` calls them
in-process when Trustroom collects revocation info itself. Times are whole seconds: NSS
drops OCSP responses with fractional seconds (lab pitfall 3).

OCSP responses are signed by delegated responders (`pki.issue_ocsp_responder`: EKU
OCSPSigning, ocsp-nocheck), not by the CAs: pyHanko's AdES validation of a finished document
demands revocation info for the root itself when the root signs OCSP responses, and so fails;
with a responder it passes (and the root key signs only certificates and CRLs). A "good"
answer is valid until the certificate expires at most (`Good.not_after`): the ETSI time slide
pyHanko implements moves a signature's control time to the end of that validity, where the
certificate must still be valid.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from .pki import Authority, Credential, whole_seconds

# The media types of what `/pki/…` serves and revocation fetching asks for.
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
CRL_TYPE = "application/pkix-crl"
CERT_TYPE = "application/pkix-cert"

OCSP_VALIDITY = timedelta(hours=1)
# pyHanko allows a one-second clock tolerance past nextUpdate; the certificate must still be valid then.
_EXPIRY_MARGIN = timedelta(seconds=2)


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
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


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
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
