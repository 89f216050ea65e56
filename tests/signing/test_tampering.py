"""What must fail: changed bytes, changes after signing, revoked signers, a used key."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko.sign.validation.dss import DocumentSecurityStore

from trustroom.signing import certificate_status, pades, pdf, validation
from trustroom.signing.errors import CredentialDestroyed, FieldInvalid, RevocationInfoUnavailable
from trustroom.signing.revocation import to_asn1

from .conftest import Flow
from .support import Pki, append_page_content, make_pdf, pdfsig

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free

CERT_ID_HASH = hashes.SHA1()  # noqa: S303 (OCSP CertIDs use SHA-1, as NSS does)


def _flip_in_first_revision(data: bytes) -> bytes:
    """One byte of the original document's /Producer, inside every signature's signed range."""
    at = data.index(b"/Producer (ReportLab") + len(b"/Producer (R")
    assert at < data.index(b"%%EOF")  # in the first revision
    return data[:at] + b"X" + data[at + 1 :]


async def test_a_changed_byte_is_not_intact(flow: Flow, test_pki: Pki, nss: Path, tmp_path: Path) -> None:
    tampered = _flip_in_first_revision(flow.final)
    reports = await validation.validate(tampered, pades.Trust([test_pki.root.certificate]))
    assert reports
    for report in reports:
        assert not report.intact and not report.ok, report
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered)
    signatures, output = pdfsig(path, nss, "-no-ocsp")
    regular = [s for s in signatures if not s.field.startswith("Timestamp-")]
    assert regular and all(s.validation == "Digest Mismatch." for s in regular), output


async def test_a_content_change_after_signing_is_not_allowed(flow: Flow, test_pki: Pki) -> None:
    changed = append_page_content(flow.final)
    reports = await validation.validate(changed, pades.Trust([test_pki.root.certificate]))
    regular = [report for report in reports if report.kind != "timestamp"]
    assert len(regular) == 4
    for report in regular:
        # Intact and trusted: the signed bytes are untouched. Not allowed: pitfall 8, the
        # AdES verdict alone would still say PASSED.
        assert report.intact and report.trusted, report
        assert report.docmdp_ok is False and report.modification_level == "OTHER", report
        assert not report.ok


async def test_signing_a_new_field_after_certification_is_refused(flow: Flow, test_pki: Pki) -> None:
    with test_pki.signer("Late Comer", "late@example.com") as credential, pytest.raises(FieldInvalid):
        await pades.approve(
            flow.certified,
            "Late",
            credential,
            test_pki.stamper(),
            name="Late Comer",
            reason="ok",
            placement=pdf.Placement("Late", pdf.FieldKind.SIGNATURE, 1, 72, 72, 100, 40),
        )


async def test_a_used_key_is_gone(flow: Flow, test_pki: Pki) -> None:
    with test_pki.signer("Once Only", "once@example.com") as credential:
        pass
    assert credential.destroyed
    with pytest.raises(CredentialDestroyed):
        await pades.approve(flow.certified, "Client", credential, test_pki.stamper(), name="Once Only", reason="ok")


def _ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, CERT_ID_HASH).build()
    return request.public_bytes(serialization.Encoding.DER)


async def test_a_revoked_signer(test_pki: Pki, nss: Path, tmp_path: Path) -> None:
    document = pdf.place_fields(make_pdf(2), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 2, 72, 120, 200, 60)])
    stamper = test_pki.stamper()
    certified = await pades.certify(document, test_pki.seal, stamper, long_term=test_pki.long_term())
    with test_pki.signer("Rita Revoked", "rita@example.com") as credential:
        certificate = credential.certificate
        signed = await pades.approve(certified, "Client", credential, stamper, name="Rita Revoked", reason="ok")
    test_pki.ca_registry.revoked[certificate.serial_number] = certificate_status.Revoked(
        datetime.now(UTC), x509.ReasonFlags.key_compromise
    )

    # Our responder says so (as NSS and pyHanko will ask it)...
    answer = ocsp.load_der_ocsp_response(
        certificate_status.respond_ocsp(
            _ocsp_request(certificate, test_pki.ca.certificate),
            test_pki.ca,
            test_pki.ca_registry.lookup,
            responder=test_pki.ca_responder,
        )
    )
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.key_compromise

    # ...so revocation info for it cannot be embedded: no B-LT, no B-LTA,
    async with test_pki.source() as source:
        with pytest.raises(RevocationInfoUnavailable):
            await pades.add_revocation_info(signed, test_pki.trust, source, field_names=["Client"])
        with pytest.raises(RevocationInfoUnavailable):
            await pades.finalize_lta(signed, test_pki.trust, source, stamper)

    # ...and once the revoked status is in the document, validation reports it.
    buffer = io.BytesIO(signed)
    DocumentSecurityStore.add_dss(
        buffer,
        sig_contents=None,
        ocsps=[
            asn1_ocsp.OCSPResponse.load(
                certificate_status.respond_ocsp(
                    _ocsp_request(certificate, test_pki.ca.certificate),
                    test_pki.ca,
                    test_pki.ca_registry.lookup,
                    responder=test_pki.ca_responder,
                )
            )
        ],
        certs=[to_asn1(test_pki.ca_responder.certificate)],
    )
    reports = {report.field: report for report in await validation.validate(buffer.getvalue(), test_pki.trust)}
    assert reports["Client"].revoked and not reports["Client"].trusted and not reports["Client"].ok
    assert reports["Certification"].ok

    # poppler asks our OCSP responder over HTTP (GET first, then POST) and agrees.
    path = tmp_path / "revoked.pdf"
    path.write_bytes(signed)
    signatures, output = pdfsig(path, nss)
    by_field = {s.field: s for s in signatures}
    assert by_field["Client"].certificate == "Certificate has been Revoked.", output
    assert by_field["Certification"].certificate == "Certificate is Trusted.", output


async def test_finalizing_after_a_signer_certificate_expired_without_its_revocation_info_fails(
    test_pki: Pki,
) -> None:
    document = pdf.place_fields(make_pdf(1), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 1, 72, 120, 200, 60)])
    stamper = test_pki.stamper()
    certified = await pades.certify(document, test_pki.seal, stamper)
    with test_pki.signer("Ivo Idle", "ivo@example.com") as credential:
        signed = await pades.approve(certified, "Client", credential, stamper, name="Ivo Idle", reason="ok")
    later = datetime.now(UTC) + timedelta(hours=2)
    async with test_pki.source(lambda: later) as source:
        with pytest.raises(RevocationInfoUnavailable, match="expired before its revocation info"):
            await pades.finalize_lta(signed, test_pki.trust, source, test_pki.stamper(lambda: later), now=later)
