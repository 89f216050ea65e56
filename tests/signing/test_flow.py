"""The full flow on a 10-page PDF (certify, two parallel signers, one after them, B-LTA),
judged by pyHanko, poppler's pdfsig and qpdf."""

from __future__ import annotations

import itertools
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyhanko.sign.validation import ades

from trustroom.signing import pades, pdf, validation

from ..untraced import untraced
from .conftest import Flow
from .support import Pki, appearance_images, offline_lta_spec, pdfsig, tool

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free

SIGNATURES = ["Certification", "Client", "CoClient", "Advisor"]


async def test_pyhanko_ades_lta_trusting_only_the_root(flow: Flow, test_pki: Pki) -> None:
    """pyHanko's own AdES-LTA validation, offline (DSS only), the root the only trust anchor."""
    spec = offline_lta_spec(test_pki.root.certificate)
    reader = pdf.open_reader(flow.final)
    seen = []
    for signature in reader.embedded_regular_signatures:
        with untraced():  # the judge's time, not ours
            result = await ades.ades_lta_validation(signature, spec)
        status = result.api_status
        assert status is not None
        assert status.intact and status.valid and status.trusted, signature.field_name
        assert status.docmdp_ok and status.bottom_line, signature.field_name
        assert result.ades_subindic.name == "OK", (signature.field_name, result.failure_msg)
        seen.append(signature.field_name)
    assert sorted(seen) == sorted(SIGNATURES)
    assert reader.embedded_timestamp_signatures, "a document timestamp (B-LTA)"


async def test_our_validation_report(flow: Flow, test_pki: Pki) -> None:
    reports = await validation.validate(flow.final, pades.Trust([test_pki.root.certificate]))
    by_field = {report.field: report for report in reports}
    for name in SIGNATURES:
        report = by_field[name]
        assert report.ok and report.level == "B-LTA" and report.ades_indication == "OK", report
        assert report.modification_level in {"FORM_FILLING", "LTA_UPDATES"}
    assert by_field["Certification"].kind == "certification"
    assert by_field["Client"].signer == "Anna Muster"
    assert by_field["CoClient"].signer == "Łukasz Zoë Brändli"
    timestamps = [report for report in reports if report.kind == "timestamp"]
    assert len(timestamps) == 5  # one per step, one at the end
    assert all(report.trusted and report.intact for report in timestamps)


async def test_still_valid_offline_when_every_signer_certificate_has_expired(flow: Flow, test_pki: Pki) -> None:
    """The signers' one-hour certificates have long expired; the document still validates offline."""
    later = datetime.now(UTC) + timedelta(days=30)
    with untraced():  # the report itself is checked traced above
        reports = await validation.validate(flow.final, pades.Trust([test_pki.root.certificate]), now=later)
    assert all(report.ok for report in reports), [r for r in reports if not r.ok]


def test_pdfsig_valid_and_trusted(flow: Flow, nss: Path, tmp_path: Path) -> None:
    """poppler's pdfsig (NSS, the root imported, OCSP over HTTP against our responder)."""
    path = tmp_path / "signed.pdf"
    path.write_bytes(flow.final)
    signatures, output = pdfsig(path, nss)
    regular = {s.field: s for s in signatures if not s.field.startswith("Timestamp-")}
    assert sorted(regular) == sorted(SIGNATURES)
    for signature in regular.values():
        assert signature.validation == "Signature is Valid.", output
        assert signature.certificate == "Certificate is Trusted.", output
    # pdfsig cannot verify RFC 3161 document timestamps (lab pitfall 6): it says so.
    assert all(
        s.validation == "Signature has not yet been verified." for s in signatures if s.field.startswith("Timestamp-")
    )


def test_qpdf_check_clean(flow: Flow, tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(flow.final)
    run = subprocess.run([tool("qpdf"), "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No syntax or stream encoding errors found" in run.stdout


def test_every_step_is_an_incremental_update(flow: Flow) -> None:
    steps = [flow.original, flow.placed, flow.certified, flow.first, flow.second, flow.third, flow.final]
    for before, after in itertools.pairwise(steps):
        assert after.startswith(before)


def test_fields_filled_in_the_signers_revision(flow: Flow) -> None:
    reader = pdf.open_reader(flow.final)
    form = {str(ref.get_object()["/T"]): ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"]}
    assert str(form["Reference"]["/V"]) == "CUST-2026-0042"
    assert form["Consent"]["/V"] == "/Yes" and form["Consent"]["/AS"] == "/Yes"
    assert str(form["SignedOn"]["/V"]) == "2026-12-03"
    assert int(form["Reference"]["/Ff"]) & 1  # read-only once filled


def test_stamps_embed_a_unicode_font(flow: Flow) -> None:
    """ "Łukasz" needs more than Latin-1 Courier: the stamp embeds a subset of Nimbus Sans."""
    assert pdf.DEFAULT_FONT.is_file(), "`make browser-tools` installs fonts-urw-base35"
    reader = pdf.open_reader(flow.final)
    field = next(
        ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"] if ref.get_object()["/T"] == "CoClient"
    )
    fonts = field["/AP"]["/N"]["/Resources"]["/Font"]
    assert any("NimbusSans" in str(fonts[name]["/BaseFont"]) for name in fonts), fonts


def test_a_drawn_signature_shows_in_its_stamp_and_a_typed_one_does_not(flow: Flow) -> None:
    """Anna drew her signature: her field's appearance draws it (behind the name and date,
    still text in the stream); the others' stamps are text only. The judges above accept all."""
    assert appearance_images(flow.final, "Client") >= 1
    assert appearance_images(flow.final, "CoClient") == 0 and appearance_images(flow.final, "Advisor") == 0
    reader = pdf.open_reader(flow.final)
    field = next(ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"] if ref.get_object()["/T"] == "Client")
    assert "/Font" in field["/AP"]["/N"]["/Resources"]  # the text is still there, over the picture
