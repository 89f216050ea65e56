"""The PKI's certificates, sealed keys, CRLs and OCSP responses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trustroom.keys import ServerKeys
from trustroom.signing import certificate_status, pki, sealed_keys
from trustroom.signing.errors import CredentialDestroyed

from .support import Pki

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free

CERT_ID_HASH = hashes.SHA1()  # noqa: S303 (OCSP CertIDs use SHA-1, as NSS does)
SECRET = b"a-test-server-secret-that-is-long-enough"


def _ext(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    return certificate.extensions.get_extension_for_class(kind)


def test_signer_certificate_profile(test_pki: Pki) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    with test_pki.signer("Anna Muster", "anna@example.com") as credential:
        certificate = credential.certificate
        assert isinstance(credential.key, ec.EllipticCurvePrivateKey)
        assert isinstance(credential.key.curve, ec.SECP256R1)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Anna Muster"
    assert certificate.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "anna@example.com"
    assert _ext(certificate, x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name) == [
        "anna@example.com"
    ]
    assert abs(certificate.not_valid_before_utc - (before - timedelta(minutes=5))) <= timedelta(seconds=2)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc <= timedelta(hours=1, minutes=5)
    assert certificate.not_valid_after_utc <= datetime.now(UTC) + timedelta(hours=1)
    basic = _ext(certificate, x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = _ext(certificate, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert list(_ext(certificate, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert (
        _ext(certificate, x509.AuthorityKeyIdentifier).value.key_identifier
        == _ext(test_pki.ca.certificate, x509.SubjectKeyIdentifier).value.digest
    )
    assert _ext(certificate, x509.SubjectKeyIdentifier).value.digest
    points = _ext(certificate, x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name or []] == [f"{test_pki.base_url}/pki/tenant/crl"]
    access = {
        d.access_method: d.access_location.value for d in _ext(certificate, x509.AuthorityInformationAccess).value
    }
    assert access[x509.AuthorityInformationAccessOID.OCSP] == f"{test_pki.base_url}/pki/tenant/ocsp"
    assert access[x509.AuthorityInformationAccessOID.CA_ISSUERS] == f"{test_pki.base_url}/pki/tenant/ca.crt"
    certificate.verify_directly_issued_by(test_pki.ca.certificate)
    # Random serials: two certificates never share one.
    with test_pki.signer("Anna Muster", "anna@example.com") as other:
        assert other.certificate.serial_number != certificate.serial_number
    assert credential.destroyed
    with pytest.raises(CredentialDestroyed):
        _ = credential.key


def test_a_signer_certificate_lives_one_hour_at_most(test_pki: Pki) -> None:
    with pytest.raises(ValueError, match="one hour"):
        pki.issue_signer(test_pki.ca, name="Too Long", lifetime=timedelta(hours=2))


def test_hierarchy(test_pki: Pki) -> None:
    root, ca = test_pki.root.certificate, test_pki.ca.certificate
    assert _ext(root, x509.BasicConstraints).value.ca
    assert _ext(ca, x509.BasicConstraints).value.path_length == 0
    ca.verify_directly_issued_by(root)
    test_pki.seal.certificate.verify_directly_issued_by(ca)
    assert list(_ext(test_pki.seal.certificate, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    stamping = _ext(test_pki.tsa.certificate, x509.ExtendedKeyUsage)
    assert stamping.critical and list(stamping.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    test_pki.tsa.certificate.verify_directly_issued_by(root)
    responder = test_pki.ca_responder.certificate
    assert list(_ext(responder, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert _ext(responder, x509.OCSPNoCheck)


def test_keys_are_sealed_with_the_server_keys_and_bound_to_their_certificate(test_pki: Pki) -> None:
    keys = ServerKeys(SECRET)
    certificate_der, sealed = sealed_keys.seal_authority(keys, test_pki.ca, context="signing-ca:tenant-1")
    assert sealed_keys.export_key(test_pki.ca.key) not in sealed
    opened = sealed_keys.open_authority(
        keys,
        certificate_der,
        sealed,
        context="signing-ca:tenant-1",
        urls=test_pki.ca.urls,
        chain=[test_pki.root.certificate],
    )
    assert sealed_keys.export_key(opened.key) == sealed_keys.export_key(test_pki.ca.key)
    with pytest.raises(InvalidTag):  # another row
        sealed_keys.open_authority(keys, certificate_der, sealed, context="signing-ca:tenant-2", urls=test_pki.ca.urls)
    with pytest.raises(InvalidTag):  # another certificate beside the key
        sealed_keys.open_authority(
            keys, pki.der(test_pki.root.certificate), sealed, context="signing-ca:tenant-1", urls=test_pki.ca.urls
        )
    # After a rotation of the server secret the old seal still opens.
    rotated = ServerKeys(b"a-newer-server-secret-that-is-long-enough", [SECRET])
    assert sealed_keys.unseal_key(rotated, test_pki.ca.certificate, sealed, context="signing-ca:tenant-1")


def test_crl(test_pki: Pki) -> None:
    revoked_at = datetime.now(UTC) - timedelta(minutes=3, microseconds=123)
    data = certificate_status.crl(
        test_pki.ca,
        [
            (1234, certificate_status.Revoked(revoked_at, x509.ReasonFlags.key_compromise)),
            (5678, certificate_status.Revoked(revoked_at)),
        ],
        number=7,
        next_update=datetime.now(UTC) + timedelta(days=7),
    )
    revocations = x509.load_der_x509_crl(data)
    assert revocations.is_signature_valid(test_pki.ca.certificate.public_key())  # type: ignore[arg-type]
    assert revocations.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert revocations.last_update_utc.microsecond == 0
    entry = revocations.get_revoked_certificate_by_serial_number(1234)
    assert entry is not None and entry.revocation_date_utc == revoked_at.replace(microsecond=0)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert revocations.get_revoked_certificate_by_serial_number(9999) is None


def _request(certificate: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, CERT_ID_HASH)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_good_revoked_unknown(test_pki: Pki) -> None:
    with test_pki.signer("Olga Ocsp", "olga@example.com") as credential:
        certificate = credential.certificate
    request = _request(certificate, test_pki.ca.certificate, nonce=b"0123456789abcdef")

    good = ocsp.load_der_ocsp_response(
        certificate_status.respond_ocsp(
            request, test_pki.ca, test_pki.ca_registry.lookup, responder=test_pki.ca_responder
        )
    )
    assert good.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == certificate.serial_number
    assert good.produced_at_utc.microsecond == 0 and good.this_update_utc.microsecond == 0  # pitfall 3
    assert good.next_update_utc is not None and good.next_update_utc < certificate.not_valid_after_utc
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    assert good.certificates == [test_pki.ca_responder.certificate]
    test_pki.ca_responder.certificate.public_key().verify(  # type: ignore[call-arg,union-attr]
        good.signature, good.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )

    revoked_at = datetime.now(UTC) - timedelta(seconds=30)
    registry = {
        certificate.serial_number: certificate_status.Revoked(revoked_at, x509.ReasonFlags.cessation_of_operation)
    }
    revoked = ocsp.load_der_ocsp_response(certificate_status.respond_ocsp(request, test_pki.ca, registry.get))
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_time_utc == revoked_at.replace(microsecond=0)
    assert revoked.revocation_reason is x509.ReasonFlags.cessation_of_operation
    test_pki.ca.certificate.public_key().verify(  # type: ignore[call-arg,union-attr]
        revoked.signature, revoked.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )

    unknown = ocsp.load_der_ocsp_response(certificate_status.respond_ocsp(request, test_pki.ca, lambda serial: None))
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_refusals(test_pki: Pki) -> None:
    # A certificate of another issuer (the seal asked of the root): not ours to answer.
    foreign = _request(test_pki.seal.certificate, test_pki.ca.certificate)
    answer = ocsp.load_der_ocsp_response(
        certificate_status.respond_ocsp(foreign, test_pki.root, test_pki.root_registry.lookup)
    )
    assert answer.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    garbage = ocsp.load_der_ocsp_response(
        certificate_status.respond_ocsp(b"not der", test_pki.ca, test_pki.ca_registry.lookup)
    )
    assert garbage.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert certificate_status.ocsp_serial(b"not der") is None


def test_ocsp_request_in_a_get_url(test_pki: Pki) -> None:
    request = _request(test_pki.seal.certificate, test_pki.ca.certificate)
    assert certificate_status.ocsp_serial(request) == test_pki.seal.certificate.serial_number
    encoded = base64.b64encode(request).decode()
    assert certificate_status.ocsp_request_from_url(quote(encoded, safe="")) == request  # RFC 6960 appendix A
    assert certificate_status.ocsp_request_from_url(encoded) == request  # a client that did not url-encode
    assert certificate_status.ocsp_request_from_url(base64.urlsafe_b64encode(request).decode().rstrip("=")) == request
    with pytest.raises(ValueError):
        certificate_status.ocsp_request_from_url("%%%not-base64!")
    # base64's 63rd digit at the end is data, not a separator.
    assert base64.b64encode(b"\x30\x01\xff") == b"MAH/"
    assert certificate_status.ocsp_request_from_url("MAH/") == b"\x30\x01\xff"
    assert certificate_status.ocsp_request_from_url("/MAH%2F") == b"\x30\x01\xff"
