"""The time-stamping authority: its tokens, its refusals, failover, and failing closed."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from asn1crypto import algos, core, tsp
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from trustroom.signing import pades, pdf, tsa, validation
from trustroom.signing.errors import TimestampUnavailable
from trustroom.signing.revocation import to_asn1

from .support import Pki, make_pdf, serve

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free


class _Refusal(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]


def _request(digest: bytes, algorithm: str = "sha256", **extra: object) -> bytes:
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                "hashed_message": digest,
            },
            "cert_req": True,
            **extra,
        }
    )
    data: bytes = request.dump()
    return data


async def test_a_token_pyhanko_accepts(test_pki: Pki) -> None:
    digest = hashlib.sha256(b"the document").digest()
    response = tsp.TimeStampResp.load(test_pki.authority().respond(_request(digest, nonce=424242)))
    assert response["status"]["status"].native == "granted"
    token = response["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["policy"].native == tsa.TRUSTROOM_TSA_POLICY
    assert info["nonce"].native == 424242
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["gen_time"].native.microsecond == 0
    context = ValidationContext(trust_roots=[to_asn1(test_pki.root.certificate)], revocation_mode="soft-fail")
    status = TimestampSignatureStatus(
        **await validate_tst_signed_data(token["content"], context, lambda _algorithm: digest)
    )
    assert status.intact and status.valid and status.trusted, status


@pytest.mark.parametrize(
    ("request_der", "failure"),
    [
        (_request(hashlib.sha1(b"x").digest(), "sha1"), "bad_alg"),  # noqa: S324 (refused, which is the point)
        (_request(b"short"), "bad_data_format"),
        (b"\x30\x03garbage", "bad_data_format"),
        (_request(hashlib.sha256(b"x").digest(), req_policy="1.2.3.4"), "unaccepted_policy"),
    ],
    ids=["sha1", "short-imprint", "garbage", "other-policy"],
)
def test_refusals(test_pki: Pki, request_der: bytes, failure: str) -> None:
    # asn1crypto's TimeStampResp insists on a token, which a refusal has not (RFC 3161 §2.4.2).
    response = _Refusal.load(test_pki.authority().respond(request_der))
    assert response["status"]["status"].native == "rejection"
    assert failure in response["status"]["fail_info"].native


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_failover_in_order(test_pki: Pki) -> None:
    dead = HTTPTimeStamper(f"http://127.0.0.1:{_closed_port()}/tsa", timeout=2)
    with serve({"/tsa": lambda _body: test_pki.authority().respond(b"refuse me")}) as refusing:
        stamper = tsa.FailoverTimeStamper(
            [dead, HTTPTimeStamper(f"{refusing.base_url}/tsa"), tsa.InProcessTimeStamper(test_pki.authority())]
        )
        token = await stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256")
    assert token["content"]["encap_content_info"]["content"].parsed["policy"].native == tsa.TRUSTROOM_TSA_POLICY

    nobody = tsa.over_http(
        [f"http://127.0.0.1:{_closed_port()}/tsa", f"http://127.0.0.1:{_closed_port()}/tsa"], timeout=2
    )
    with pytest.raises(TimestampUnavailable) as raised:
        await nobody.async_timestamp(hashlib.sha256(b"x").digest(), "sha256")
    assert raised.value.text.count("127.0.0.1") == 0  # the message id stays generic...
    assert str(raised.value).count("127.0.0.1") == 2  # ...the rendered reason names both


async def test_tsa_over_http_and_failing_closed(test_pki: Pki) -> None:
    """pyHanko's HTTPTimeStamper against our TSA served on 127.0.0.1; then the TSA stops."""
    document = pdf.place_fields(
        make_pdf(3),
        [
            pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 3, 72, 120, 200, 60),
            pdf.Placement("Advisor", pdf.FieldKind.SIGNATURE, 3, 300, 120, 200, 60),
        ],
    )
    served_at: list[datetime] = []

    def answer(body: bytes | None) -> bytes:
        assert body is not None
        served_at.append(datetime.now(UTC))
        return test_pki.authority().respond(body)

    with serve({"/tsa": answer}) as server:
        port = server.server.server_address[1]
        stamper = tsa.over_http([f"{server.base_url}/tsa"])
        certified = await pades.certify(document, test_pki.seal, stamper)
        with test_pki.signer("Hans Http", "hans@example.com") as credential:
            signed = await pades.approve(certified, "Client", credential, stamper, name="Hans Http", reason="ok")
    assert served_at, "the timestamps came over HTTP"
    reports = {r.field: r for r in await validation.validate(signed, pades.Trust([test_pki.root.certificate]))}
    assert reports["Client"].level == "B-T" and reports["Client"].intact

    # The TSA is gone: nothing is signed, with the stamper that knew it and with a new one.
    for attempt in (stamper, tsa.over_http([f"http://127.0.0.1:{port}/tsa"], timeout=2)):
        with test_pki.signer("Nora Notime", "nora@example.com") as credential, pytest.raises(TimestampUnavailable):
            await pades.approve(signed, "Advisor", credential, attempt, name="Nora Notime", reason="ok")
        with pytest.raises(TimestampUnavailable):
            await pades.certify(document, test_pki.seal, attempt)

    # Back on the same URL: the step that failed now completes.
    with serve({"/tsa": answer}, port=port), test_pki.signer("Nora Notime", "nora@example.com") as credential:
        done = await pades.approve(signed, "Advisor", credential, stamper, name="Nora Notime", reason="ok")
    reports = {r.field: r for r in await validation.validate(done, pades.Trust([test_pki.root.certificate]))}
    assert reports["Advisor"].level == "B-T" and reports["Advisor"].signing_time is not None
