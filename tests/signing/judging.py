"""Independent judges of a signed PDF as a user would get it (a download, not our rows):
pyHanko's AdES-LTA validation trusting only the root given, poppler's pdfsig with that root
in an NSS database, and `qpdf --check`. None of our own validation code is involved."""

from __future__ import annotations

import asyncio
import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from ..untraced import untraced
from .support import nss_database, pdfsig, tool


def _offline_lta_spec(root_pem: bytes) -> PdfSignatureValidationSpec:
    """Offline (the DSS only), revocation information required, the root the only anchor."""
    _, _, der = pem.unarmor(root_pem)
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build([asn1_x509.Certificate.load(der)]),
                revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


async def _pyhanko_verdict(data: bytes, root_pem: bytes) -> list[str]:
    reader = PdfFileReader(io.BytesIO(data))
    assert reader.embedded_timestamp_signatures, "no document timestamp: not B-LTA"
    spec = _offline_lta_spec(root_pem)
    approvals = []
    for signature in reader.embedded_regular_signatures:
        with untraced():  # the judge's time, not ours
            result = await ades.ades_lta_validation(signature, spec)
        status = result.api_status
        assert status is not None, signature.field_name
        assert status.intact and status.valid and status.trusted, (signature.field_name, result.failure_msg)
        assert status.docmdp_ok and status.bottom_line, (signature.field_name, status.modification_level)
        assert result.ades_subindic.name == "OK", (signature.field_name, result.failure_msg)
        if signature.docmdp_level is None:  # an approval, not the certification
            approvals.append(signature.signer_cert.subject.native["common_name"])
    return approvals


def judge_signed_pdf(data: bytes, root_pem: bytes, directory: Path) -> list[str]:
    """Assert that every judge accepts `data`; answers the approval signers' names (pyHanko)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "judged.pdf"
    path.write_bytes(data)
    checked = subprocess.run([tool("qpdf"), "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Its own thread: a caller on Playwright's sync API has an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        approvals = pool.submit(asyncio.run, _pyhanko_verdict(data, root_pem)).result()

    nss = nss_database(directory / "nssdb", x509.load_pem_x509_certificate(root_pem))
    found, report = pdfsig(path, nss)
    signed = [s for s in found if not s.field.startswith("Timestamp")]  # pdfsig cannot judge those (pitfall 6)
    assert len(signed) == len(approvals) + 1, report  # and the certification
    assert all(s.validation == "Signature is Valid." for s in signed), report
    assert all(s.certificate == "Certificate is Trusted." for s in signed), report
    return approvals
