"""Session fixtures of the signing tests: the PKI and its HTTP endpoints, made once; the full
flow (certify, three signers, B-LTA) run once and judged by several tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from trustroom.signing import pades, pdf

from .animated_tsa import AnimatedTsa
from .support import Pki, Server, build_pki, drawn_signature, make_pdf, nss_database, serve

PLACEMENTS = [
    pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 10, 72, 120, 220, 70),
    pdf.Placement("CoClient", pdf.FieldKind.SIGNATURE, 10, 320, 120, 220, 70),
    pdf.Placement("Reference", pdf.FieldKind.TEXT, 1, 72, 60, 200, 18),
    pdf.Placement("Consent", pdf.FieldKind.CHECKBOX, 1, 300, 60, 14, 14),
    pdf.Placement("SignedOn", pdf.FieldKind.DATE, 10, 320, 90, 120, 18),
    pdf.Placement("Advisor", pdf.FieldKind.SIGNATURE, 10, 72, 220, 220, 70),
]


@pytest.fixture(scope="session")
def pki_server() -> Iterator[Server]:
    with serve({}) as server:
        yield server


@pytest.fixture(scope="session")
def animated_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnimatedTsa]:
    """Certomancer's Animator as an external TSA on 127.0.0.1, one per test process; a test
    may stop it, and starts it again before it ends."""
    tsa = AnimatedTsa(tmp_path_factory.mktemp("animated-tsa"))
    tsa.start()
    yield tsa
    tsa.stop()


@pytest.fixture(scope="session")
def test_pki(pki_server: Server) -> Pki:
    built = build_pki(pki_server.base_url)
    pki_server.routes.update(
        {url.removeprefix(pki_server.base_url): endpoint for url, endpoint in built.endpoints().items()}  # type: ignore[misc]
    )
    return built


@dataclass
class Flow:
    original: bytes
    placed: bytes
    certified: bytes
    first: bytes  # after the first signer of the parallel group
    second: bytes  # after the second signer of the parallel group
    third: bytes  # after the signer of the next group
    final: bytes  # B-LTA


async def run_flow(p: Pki) -> Flow:
    original = make_pdf(10)
    placed = pdf.place_fields(original, PLACEMENTS)
    stamper = p.stamper()

    certified = await pades.certify(placed, p.seal, stamper, long_term=p.long_term())

    with p.signer("Anna Muster", "anna.muster@example.com") as credential:
        first = await pades.approve(
            certified,
            "Client",
            credential,
            stamper,
            name="Anna Muster",
            reason="I agree to the mandate",
            location="Zürich",
            fill={"Reference": "CUST-2026-0042", "Consent": True},
            long_term=p.long_term(),
            image=drawn_signature(),  # drawn; the others typed
        )
    with p.signer("Łukasz Zoë Brändli", "lukasz@example.com") as credential:
        second = await pades.approve(
            first,
            "CoClient",
            credential,
            stamper,
            name="Łukasz Zoë Brändli",
            reason="I agree to the mandate",
            fill={"SignedOn": date(2026, 12, 3)},
            long_term=p.long_term(),
        )
    with p.signer("Beat Berater", "beat.berater@alpine-bank.example") as credential:
        third = await pades.approve(
            second,
            "Advisor",
            credential,
            stamper,
            name="Beat Berater",
            reason="Approved for Alpine Private Bank",
            long_term=p.long_term(),
        )

    async with p.source() as source:
        final = await pades.finalize_lta(third, p.trust, source, stamper)
    return Flow(original, placed, certified, first, second, third, final)


@pytest.fixture(scope="session")
def flow(test_pki: Pki) -> Flow:
    return asyncio.run(run_flow(test_pki))


@pytest.fixture(scope="session")
def nss(test_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nss_database(tmp_path_factory.mktemp("nssdb"), test_pki.root.certificate)
