"""The audit report and the archives of a finished dossier (issue #14, item 6).

Judged by outside tools where they exist: qpdf checks the PDF's structure, poppler's
pdftotext and pdffonts read what it says and which fonts it embeds, pyHanko's AdES
validation (trusting only the test root) judges the seal, GNU sha256sum checks the
evidence bundle's manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation.pdf_embedded import read_certification_data

from trustroom.audit.models import GENESIS_HASH, AuditEvent
from trustroom.audit.service import chain_hash
from trustroom.signing import pades, pdf, validation
from trustroom.signing.evidence import archive, fonts
from trustroom.signing.evidence.facts import (
    AuditRecord,
    Authentication,
    DocumentFacts,
    DossierFacts,
    InviteeFacts,
    ReportFacts,
    SignatureFacts,
    StateChange,
    mask_email,
    mask_phone,
)
from trustroom.signing.evidence.report import audit_report, seal_report

from .conftest import Flow
from .support import Pki, append_page_content, make_pdf, tool

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free

START = datetime(2026, 12, 3, 14, 30, 5, tzinfo=UTC)
TENANT = uuid.UUID("0193a0e2-0000-7000-8000-000000000001")
DOSSIER_ID = "0193a0e2-7c1b-7f00-9c1e-1234567890ab"
NAMES = ("Łukasz Żółć", "Françoise Lefèvre", "Jürg Nüesch", "Zoë O'Brien")


def _event(seq: int, previous: str, at: datetime, action: str) -> AuditEvent:
    """A real audit row (not stored): its hash is what `audit.record` would have chained."""
    event = AuditEvent(
        tenant_id=TENANT,
        seq=seq,
        occurred_at=at,
        actor_kind="member",
        actor_id="0193a0e2-0000-7000-8000-00000000beef",
        api_key_id=None,
        action=action,
        target_type="dossier",
        target_id=DOSSIER_ID,
        data={"name": "Łukasz Żółć"},
        correlation_id=None,
        ip="203.0.113.7",
        prev_hash=previous,
    )
    event.hash = chain_hash(event.chained_content())
    return event


def _events(count: int) -> tuple[AuditRecord, ...]:
    records, previous = [], GENESIS_HASH
    for number in range(count):
        # Every third position belongs to another record of the tenant: the chain runs through it.
        event = _event(10 + 3 * number, previous, START + timedelta(seconds=number), f"signing.step.{number}")
        previous = chain_hash({"filler": number})
        records.append(AuditRecord.of(event, actor=NAMES[number % len(NAMES)]))
    return tuple(records)


def _invitee(number: int) -> InviteeFacts:
    name = f"{NAMES[number % len(NAMES)]} {number}"
    approver = number % 3 == 2
    return InviteeFacts(
        name=name,
        role="approver" if approver else "signer",
        state="approved" if approver else "signed",
        position=number // 2 + 1,
        email=f"jane.doe{number}@example.com",
        phone="+41791234567",
        authentications=(
            Authentication("otp_email", f"jane.doe{number}@example.com", START + timedelta(minutes=10)),
            Authentication("otp_sms", "+41791234567", START + timedelta(minutes=11)),
        ),
        ip="2001:db8::7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        viewed_at=START + timedelta(minutes=9),
        signed_at=START + timedelta(minutes=12),
        signatures=(
            ()
            if approver
            else (SignatureFacts("Mandate.pdf", f"Signer{number}", "1F2E3D4C5B6A7988", "ab" * 32, sealed=False),)
        ),
    )


def _facts(locale: str = "de-CH", *, invitees: int = 3, events: int = 8) -> ReportFacts:
    dossier = DossierFacts(
        id=DOSSIER_ID,
        name="Mandat Łukasz Żółć & Françoise <b>",
        method="aes",
        locale=locale,
        owner="Beat Berater (beat@alpine-bank.example)",
        provider="Alpine Private Bank",
        state="completed",
        created_at=START,
        sent_at=START + timedelta(minutes=5),
        completed_at=START + timedelta(hours=2),
        state_changes=(
            StateChange(START, "draft"),
            StateChange(START + timedelta(minutes=5), "pending"),
            StateChange(START + timedelta(hours=2), "completed"),
        ),
    )
    documents = (
        DocumentFacts("Mandate.pdf", 10, "a1" * 32, "b2" * 32),
        DocumentFacts("Risk disclosure.pdf", 3, "c3" * 32, "d4" * 32),
    )
    return ReportFacts(
        dossier,
        documents,
        tuple(_invitee(n) for n in range(invitees)),
        _events(events),
        START + timedelta(hours=2, minutes=1),
    )


def _text(data: bytes, tmp_path: Path, name: str = "report.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run([tool("pdftotext"), str(path), "-"], capture_output=True, text=True, timeout=60, check=True)
    return " ".join(run.stdout.split())


def _qpdf_clean(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "checked.pdf"
    path.write_bytes(data)
    run = subprocess.run([tool("qpdf"), "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No syntax or stream encoding errors found" in run.stdout


def _fonts(data: bytes, tmp_path: Path) -> list[tuple[str, str]]:
    """(name, embedded yes/no) of every font, as poppler's pdffonts lists them."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    run = subprocess.run([tool("pdffonts"), str(path)], capture_output=True, text=True, timeout=60, check=True)
    rows = run.stdout.splitlines()[2:]
    return [(row.split()[0], row.split()[-5]) for row in rows]


LANGUAGES = {
    "de-CH": ("Prüfbericht", "03.12.2026, 14:30:05 UTC", "Seite 1 von", "Code per SMS an", "Unterzeichnet"),
    "en-GB": ("Audit report", "3 Dec 2026, 14:30:05 UTC", "Page 1 of", "Code by SMS to", "Signed"),
    "fr-CH": ("Rapport d'audit", "3 déc. 2026, 14:30:05 UTC", "Page 1 sur", "Code par SMS au", "Signé"),
    "it-CH": ("Rapporto di audit", "3 dic 2026, 14:30:05 UTC", "Pagina 1 di", "Codice via SMS al", "Firmato"),
}


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_the_report_speaks_the_dossiers_language(locale: str, tmp_path: Path) -> None:
    report = audit_report(_facts(locale))
    _qpdf_clean(report, tmp_path)
    text = _text(report, tmp_path)
    title, moment, page, sms, signed = LANGUAGES[locale]
    for expected in (title, moment, page, sms, signed, *NAMES, "Mandat Łukasz Żółć & Françoise <b>"):
        assert expected in text, (expected, text[:2000])
    assert "j***@example.com" in text and "+41 •• ••• •• 67" in text
    assert "jane.doe" not in text and "79 123" not in text  # never the full address or number
    assert "a1" * 32 in text and "b2" * 32 in text  # original and final SHA-256
    assert "1F2E3D4C5B6A7988" in text  # the signer's certificate serial
    fonts_used = _fonts(report, tmp_path)
    assert fonts_used and all(embedded == "yes" for _, embedded in fonts_used), fonts_used
    assert all("NimbusSans" in name for name, _ in fonts_used)
    assert audit_report(_facts(locale)) == report  # the same facts, the same bytes


def test_sixty_invitees_and_three_hundred_events_paginate(tmp_path: Path) -> None:
    facts = _facts("en-GB", invitees=60, events=300)
    report = audit_report(facts)
    _qpdf_clean(report, tmp_path)
    pages = int(pdf.open_reader(report).root["/Pages"]["/Count"])
    assert pages > 10
    text = _text(report, tmp_path)
    numbers = [(int(a), int(b)) for a, b in re.findall(r"Page (\d+) of (\d+)", text)]
    assert numbers == [(n, pages) for n in range(1, pages + 1)]
    for invitee in facts.invitees:
        assert f"{invitee.name} " in text
    for event in facts.events:
        assert event.hash[:32] in text and event.hash[32:] in text, event.seq
    # The events table's header row repeats on every page it continues on.
    assert text.count("Chain hash (SHA-256)") >= 5
    assert text.count("Signed or approved") >= 2  # so does the invitees' table


def test_sparse_and_unusual_facts_still_make_a_report(tmp_path: Path) -> None:
    base = _facts("fr-CH", invitees=0, events=0)
    declined = InviteeFacts(
        name="Zoë O'Brien",
        role="signer",
        state="declined",
        authentications=(Authentication("passkey", "-", START),),
        declined_at=START + timedelta(hours=1),
        decline_reason="Les montants sont faux",
    )
    sealed = InviteeFacts(
        name="Jürg Nüesch",
        role="observer",  # a role this report does not know is shown as it is
        state="signed",
        signatures=(SignatureFacts("Mandate.pdf", "Client", "0A", "cd" * 32, sealed=True),),
    )
    facts = replace(
        base,
        dossier=replace(base.dossier, method="qes", state="expired", state_changes=(), sent_at=None),
        documents=(DocumentFacts("Mandate.pdf", 1, "e5" * 32),),
        invitees=(declined, sealed),
    )
    report = audit_report(facts)
    _qpdf_clean(report, tmp_path)
    text = _text(report, tmp_path)
    for expected in (
        "Aucun événement d'audit.",
        "Refusé",
        "Les montants sont faux",
        "passkey",
        "observer",
        "qes",
        "Expiré",
        "cachet du prestataire",
        "Page 1 sur",
    ):
        assert expected in text, expected
    assert "Changements de statut" not in text  # no state changes, no empty table


def test_without_nimbus_sans_the_report_falls_back_to_a_standard_font(tmp_path: Path) -> None:
    missing = tmp_path / "missing.otf"
    faces = fonts.report_faces(missing)
    assert (faces.regular, faces.bold, faces.embedded) == ("Helvetica", "Helvetica-Bold", False)
    facts = _facts("en-GB", invitees=1, events=1)
    latin = replace(facts, invitees=(replace(facts.invitees[0], name="Françoise Müller"),))
    report = audit_report(latin, faces=faces)
    _qpdf_clean(report, tmp_path)
    assert "Françoise Müller" in _text(report, tmp_path)


def test_the_bold_face_falls_back_to_the_regular_one(tmp_path: Path) -> None:
    assert pdf.DEFAULT_FONT.is_file(), "`make browser-tools` installs fonts-urw-base35"
    faces = fonts.report_faces(pdf.DEFAULT_FONT, tmp_path / "no-bold.otf")
    assert faces.regular == faces.bold and faces.embedded


def test_a_truetype_font_is_used_as_it_is(tmp_path: Path) -> None:
    converted = fonts.truetype(pdf.DEFAULT_FONT)
    assert converted[:4] == b"\x00\x01\x00\x00"  # TrueType outlines now, CFF before
    path = tmp_path / "converted.ttf"
    path.write_bytes(converted)
    assert fonts.truetype(path) == converted


def test_masking() -> None:
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("x@sub.example.ch") == "x***@sub.example.ch"
    assert mask_email("no-at-sign") == "***" and mask_email("@example.com") == "***"
    assert mask_phone("+41791234567") == "+41 •• ••• •• 67"
    assert mask_phone("+4915112345678") == "+49 •••• •••••78"
    assert mask_phone("0041 (79) 123.45.67") == "•••• •• •••••67"  # not E.164: only the last two digits
    assert mask_phone("+1 (202) 555-0147").endswith("47") and "202" not in mask_phone("+1 (202) 555-0147")


def test_signature_facts_name_the_certificate(test_pki: Pki) -> None:
    certificate = test_pki.seal.certificate
    facts = SignatureFacts.of("Mandate.pdf", "Client", certificate, sealed=True)
    assert int(facts.certificate_serial, 16) == certificate.serial_number
    assert (
        facts.certificate_fingerprint
        == hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    )


async def test_the_sealed_report_validates_against_the_test_root(test_pki: Pki, tmp_path: Path) -> None:
    report = audit_report(_facts("it-CH"))
    sealed = await seal_report(
        report, test_pki.seal, test_pki.stamper(), long_term=test_pki.long_term(), dossier_id=DOSSIER_ID, locale="it-CH"
    )
    assert sealed.startswith(report)  # an incremental update of the report as made
    _qpdf_clean(sealed, tmp_path)
    assert read_certification_data(pdf.open_reader(sealed)).permission is MDPPerm.NO_CHANGES
    reports = await validation.validate(sealed, pades.Trust([test_pki.root.certificate]))
    certification = [r for r in reports if r.kind == "certification"]
    assert len(certification) == 1 and certification[0].level == "B-LTA"
    assert certification[0].signer == "Alpine Private Bank seal"
    assert all(r.ok for r in reports), reports
    signature = pdf.open_reader(sealed).embedded_signatures[0]
    assert signature.sig_object["/Reason"] == f"Rapporto di audit del dossier {DOSSIER_ID}"
    # The seal allows no changes: a drawing added after it is reported as not allowed.
    changed = await validation.validate(append_page_content(sealed), pades.Trust([test_pki.root.certificate]))
    assert changed[0].docmdp_ok is False and not changed[0].ok


# --- archives -----------------------------------------------------------------------------------

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\Windows\\win.ini",
    "/absolute.pdf",
    "C:\\Users\\x.pdf",
    ".hidden.pdf",
    "..",
    "",
    "   ",
    "CON",
    "nul.txt.pdf",
    "lpt1.PDF",
    "invoice\u202efdp.exe",
    "tab\tnew\nline\x00null.pdf",
    'a:b*c?d"e<f>g|h.pdf',
    "Vertrag Łukasz Żółć.pdf",
    "Vertrag Łukasz Żółć.PDF",
    "vertrag łukasz żółć.pdf",
    "Cafe\u0301.pdf",  # decomposed é: NFC makes it one character
    "é" * 200 + ".pdf",
]


def test_hostile_names_are_neutralized() -> None:
    names = archive.unique_names(HOSTILE)
    assert len({n.casefold() for n in names}) == len(names)  # duplicates disambiguated
    for original, name in zip(HOSTILE, names, strict=True):
        assert name.endswith(".pdf"), name
        assert not set(name) & set('/\\:*?"<>|'), name
        assert not name.startswith((".", " ")), name
        assert all(ord(c) >= 32 and c not in "\u202e\u202d\u200e\u200f" for c in name), name
        assert len(name.encode()) <= 150, (original, len(name.encode()))
        assert name.split(".")[0].upper() not in {"CON", "NUL", "LPT1"}, name
    by_original = dict(zip(HOSTILE, names, strict=True))
    assert by_original["Vertrag Łukasz Żółć.pdf"] == "Vertrag Łukasz Żółć.pdf"  # Unicode kept
    assert by_original["Vertrag Łukasz Żółć.PDF"] == "Vertrag Łukasz Żółć (2).pdf"
    assert by_original["vertrag łukasz żółć.pdf"] == "vertrag łukasz żółć (3).pdf"
    assert by_original["Cafe\u0301.pdf"] == "Café.pdf"
    assert by_original["invoice\u202efdp.exe"] == "invoicefdp.exe.pdf"
    assert by_original[".."] == "document.pdf" and by_original[""] == "document (2).pdf"
    assert by_original["tab\tnew\nline\x00null.pdf"] == "tab new linenull.pdf"
    assert by_original["CON"] == "_CON.pdf"
    assert archive.unique_names(["a.pdf", "a (2).pdf", "A.pdf"]) == ["a.pdf", "a (2).pdf", "A (3).pdf"]


def _dossier(locale: str = "de-CH") -> DossierFacts:
    return _facts(locale, invitees=0, events=0).dossier


def test_the_download_zip_holds_the_pdfs_and_the_report(flow: Flow) -> None:
    documents = [
        archive.SignedDocument("Mandate.pdf", flow.final),
        archive.SignedDocument("../Mandate.pdf", flow.third),
    ]
    data = b"".join(archive.download_zip(_dossier("fr-CH"), documents, b"%PDF-report", modified=START))
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.testzip() is None
        assert opened.namelist() == [
            "Mandate.pdf",
            "_Mandate.pdf",
            "Rapport d'audit Mandat Łukasz Żółć & Françoise _b_.pdf",
        ]
        assert opened.read("Mandate.pdf") == flow.final and opened.read("_Mandate.pdf") == flow.third
        assert {info.date_time for info in opened.infolist()} == {(2026, 12, 3, 14, 30, 4)}
    again = b"".join(archive.download_zip(_dossier("fr-CH"), documents, b"%PDF-report", modified=START))
    assert again == data  # the same dossier, the same bytes


async def test_the_evidence_bundle_checks_with_sha256sum(flow: Flow, test_pki: Pki, tmp_path: Path) -> None:
    trust = pades.Trust([test_pki.root.certificate])
    documents = [
        await archive.validated("Mandate.pdf", flow.final, trust),
        await archive.validated("../../Mandate.pdf", make_pdf(1), trust),  # unsigned: not ok
    ]
    facts = _facts("en-GB", invitees=2, events=5)
    report = audit_report(facts)
    chunks = list(archive.evidence_zip(facts.dossier, documents, report, facts.events, trust, made_at=START))
    assert len([chunk for chunk in chunks if chunk]) > 3  # streamed, not one block
    data = b"".join(chunks)
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
        assert names == [
            "documents/Mandate.pdf",
            "documents/_.._Mandate.pdf",
            "audit-report.pdf",
            "audit-events.json",
            "validation/Mandate.json",
            "validation/_.._Mandate.json",
            "SHA256SUMS",
        ]
        opened.extractall(folder)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(names)
    manifest = (folder / "SHA256SUMS").read_text()
    assert manifest.startswith("# SHA-256 of every file in the evidence bundle")
    assert "sha256sum -c SHA256SUMS" in manifest
    listed = dict(reversed(line.split("  ", 1)) for line in manifest.splitlines() if not line.startswith("#"))
    assert set(listed) == set(names) - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    run = _sha256sum(folder, "--strict")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") == len(names) - 1

    (folder / "audit-report.pdf").write_bytes(report + b"\n")  # a changed member is caught
    broken = _sha256sum(folder)
    assert broken.returncode == 1 and "audit-report.pdf: FAILED" in broken.stdout

    good = json.loads((folder / "validation/Mandate.json").read_text())
    assert good["ok"] is True and good["sha256"] == hashlib.sha256(flow.final).hexdigest()
    assert good["trustRoots"][0]["sha256"] == test_pki.root.certificate.fingerprint(hashes.SHA256()).hex()
    levels = {s["field"]: s["level"] for s in good["signatures"]}
    assert levels["Client"] == "B-LTA" and levels["Certification"] == "B-LTA"
    assert all(s["ok"] and s["intact"] and s["trusted"] and s["docmdpOk"] is not False for s in good["signatures"])
    unsigned = json.loads((folder / "validation/_.._Mandate.json").read_text())
    assert unsigned["ok"] is False and unsigned["signatures"] == []

    events = json.loads((folder / "audit-events.json").read_text())
    assert [e["seq"] for e in events["events"]] == [e.seq for e in facts.events]
    for event in events["events"]:  # anyone can recompute each chain hash from the bundle
        assert chain_hash(event["content"]) == event["hash"]
        assert event["content"]["prevHash"] == event["prevHash"]

    again = b"".join(archive.evidence_zip(facts.dossier, documents, report, facts.events, trust, made_at=START))
    assert again == data


def _sha256sum(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [tool("sha256sum"), *options, "-c", "SHA256SUMS"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60)


def test_members_stream_as_they_are_read() -> None:
    """A member given as chunks is written while it is read, and its digest still lands in the manifest."""
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for number in range(3):
            read.append(number)
            yield bytes([number]) * 70_000

    digests: dict[str, str] = {}
    stream = archive.stream_zip([archive.Member("big.bin", chunks())], modified=START, digests=digests)
    first = next(stream)
    assert first and read == [0]  # the first bytes leave before the member is read to its end
    data = first + b"".join(stream)
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        content = opened.read("big.bin")
    assert digests == {"big.bin": hashlib.sha256(content).hexdigest()}
    for modified in (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1)):  # noqa: DTZ001 (naive is UTC)
        old = archive.stream_zip([archive.Member("old.txt", b"x")], modified=modified)
        with zipfile.ZipFile(io.BytesIO(b"".join(old))) as opened:
            assert opened.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)  # ZIP's earliest
