"""The `ses` step, signing a new field in an uncertified document, archive timestamp renewal,
and a dossier that runs longer than a signer's certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trustroom.signing import pades, pdf, revocation, validation
from trustroom.signing.errors import RevocationInfoUnavailable

from .support import START, Pki, Server, make_pdf

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free


async def test_seal_step_names_the_signer_and_the_audit_event(test_pki: Pki) -> None:
    document = pdf.place_fields(make_pdf(2), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 2, 72, 120, 220, 70)])
    stamper = test_pki.stamper()
    certified = await pades.certify(document, test_pki.seal, stamper, long_term=test_pki.long_term())
    sealed = await pades.seal_step(
        certified,
        "Client",
        test_pki.seal,
        stamper,
        signer_name="Sina Simple",
        audit_event_id="0193a9c2-7d40-7c3e-8f00-5e1f2a3b4c5d",
        long_term=test_pki.long_term(),
    )
    reader = pdf.open_reader(sealed)
    signature = next(s for s in reader.embedded_signatures if s.field_name == "Client")
    reason = str(signature.sig_object["/Reason"])
    assert "Sina Simple" in reason and "0193a9c2-7d40-7c3e-8f00-5e1f2a3b4c5d" in reason
    reports = {r.field: r for r in await validation.validate(sealed, pades.Trust([test_pki.root.certificate]))}
    assert reports["Client"].ok and reports["Client"].signer == "Alpine Private Bank seal"
    assert reports["Client"].level == "B-LTA"


async def test_a_new_field_in_an_uncertified_document(test_pki: Pki) -> None:
    stamper = test_pki.stamper()
    with test_pki.signer("Paul Placed", "paul@example.com") as credential:
        signed = await pades.approve(
            make_pdf(2),
            "Paul",
            credential,
            stamper,
            name="Paul Placed",
            reason="ok",
            placement=pdf.Placement("Paul", pdf.FieldKind.SIGNATURE, 1, 72, 600, 200, 60),
            long_term=test_pki.long_term(),
        )
    reports = {r.field: r for r in await validation.validate(signed, pades.Trust([test_pki.root.certificate]))}
    assert reports["Paul"].ok and reports["Paul"].level == "B-LTA"


async def test_renewing_the_archive_timestamp(test_pki: Pki) -> None:
    document = pdf.place_fields(make_pdf(1), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 1, 72, 120, 200, 60)])
    stamper = test_pki.stamper()
    certified = await pades.certify(document, test_pki.seal, stamper, long_term=test_pki.long_term())
    async with test_pki.source() as source:
        final = await pades.finalize_lta(certified, test_pki.trust, source, stamper)
        due = pades.renewal_due(final)
        # The TSA certificate (6 years) outlives the root's OCSP responder (2 years): renew before that.
        assert due == test_pki.root_responder.certificate.not_valid_after_utc
        renewed = await pades.renew_archive_timestamp(final, test_pki.trust, source, stamper)
    assert renewed.startswith(final)
    before = len(pdf.open_reader(final).embedded_timestamp_signatures)
    assert len(pdf.open_reader(renewed).embedded_timestamp_signatures) == before + 1
    reports = await validation.validate(renewed, pades.Trust([test_pki.root.certificate]))
    assert all(report.ok for report in reports), reports


async def test_a_dossier_longer_than_a_signer_certificate(test_pki: Pki) -> None:
    """Signed five hours ago (each step B-LTA while its one-hour certificate was valid),
    finalized now, validated a month later: every signature holds."""
    signed_at = datetime.now(UTC) - timedelta(hours=5)
    assert signed_at > START
    then = test_pki.stamper(lambda: signed_at)
    document = pdf.place_fields(make_pdf(2), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 2, 72, 120, 200, 60)])
    certified = await pades.certify(document, test_pki.seal, then, long_term=test_pki.long_term(signed_at))
    with test_pki.signer("Erna Early", "erna@example.com", now=signed_at) as credential:
        signed = await pades.approve(
            certified,
            "Client",
            credential,
            then,
            name="Erna Early",
            reason="ok",
            long_term=test_pki.long_term(signed_at),
        )
    async with test_pki.source() as source:
        final = await pades.finalize_lta(signed, test_pki.trust, source, test_pki.stamper())
    for when in (None, datetime.now(UTC) + timedelta(days=30)):
        reports = await validation.validate(final, pades.Trust([test_pki.root.certificate]), now=when)
        assert all(report.ok for report in reports), [r for r in reports if not r.ok]


async def test_revocation_info_over_http_only_where_allowed(test_pki: Pki, pki_server: Server) -> None:
    """The same responders served on 127.0.0.1; the source fetches over HTTP only what it may."""
    document = pdf.place_fields(make_pdf(1), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 1, 72, 120, 200, 60)])
    stamper = test_pki.stamper()
    certified = await pades.certify(document, test_pki.seal, stamper)
    async with revocation.RevocationSource() as closed:
        with pytest.raises(RevocationInfoUnavailable):
            await pades.finalize_lta(certified, test_pki.trust, closed, stamper)
        assert closed.requests  # it was asked, and refused to go out
    async with revocation.RevocationSource(http_allowed=lambda url: url.startswith(pki_server.base_url)) as remote:
        final = await pades.finalize_lta(certified, test_pki.trust, remote, stamper)
    assert remote.requests and all(url.startswith(pki_server.base_url) for url in remote.requests)
    reports = await validation.validate(final, pades.Trust([test_pki.root.certificate]))
    assert all(report.ok for report in reports), reports
