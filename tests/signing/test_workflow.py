"""The signing workflow end to end (ADR 0018): a dossier sent (fields placed, certified),
three signers (Anna and Beat in parallel, Carla after them) submitting through
`requests.submit`, their steps and the finalisation run by the job runner, and the final
PDF judged by pyHanko's AdES-LTA validation trusting only the tenant's root, by pdfsig and
by qpdf. One dossier, judged by several checks."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from cryptography import x509
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from trustroom.actor import Actor
from trustroom.audit.models import AuditEvent
from trustroom.auth.service import tenants
from trustroom.db import Database, bind_tenant
from trustroom.jobs.models import Job
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import errors, validation
from trustroom.signing.models import (
    STEP_TASK,
    Dossier,
    DossierDocument,
    DossierState,
    Invitee,
    SignatureRecord,
    SigningRequest,
)
from trustroom.signing.pdf import open_reader
from trustroom.signing.revocation import to_asn1
from trustroom.signing.service import authority
from trustroom.signing.service.stored_pdfs import Workshop

from ..clients.conftest import Person
from ..factories import TenantFixture
from ..helpers import events_of
from ..untraced import untraced
from .animated_tsa import AnimatedTsa
from .sending import add_document, authenticate
from .support import appearance_images, drawn_signature, nss_database, pdfsig, tool
from .test_dossiers import DOSSIERS, create_dossier, signer
from .test_invites import run_due, travel
from .test_requests import Sent, advisor, anna_values, sent

__all__ = ["advisor", "sent"]  # fixtures


async def final_pdf(made: Sent) -> tuple[bytes, Dossier]:
    async with made.database.session() as session:
        await bind_tenant(session, made.tenant.id)
        dossier = await session.get(Dossier, UUID(made.dossier["id"]))
        assert dossier is not None
        document = await session.scalar(select(DossierDocument).where(DossierDocument.dossier_id == dossier.id))
        assert document is not None
        data = await Workshop.of(made.keys, made.settings).read(session, _operator(made), document.blob_id)
        return data, dossier


def _operator(made: Sent) -> Actor:
    return tenants.operator(made.tenant.id)


def _written(data: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "final.pdf"
    path.write_bytes(data)
    return path


def second_opinions(final: bytes, root: x509.Certificate, tmp_path: Path) -> None:
    """qpdf finds the file sound; pdfsig, trusting only the root, every signature valid."""
    path = _written(final, tmp_path)
    checked = subprocess.run([tool("qpdf"), "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    nss = nss_database(tmp_path / "nssdb", root)
    found, text = pdfsig(path, nss, "-no-ocsp")
    approvals = [s for s in found if s.field.startswith("trustroom-signature")]
    assert len(approvals) == 3, text
    signed = [s for s in found if not s.field.startswith("Timestamp")]  # pdfsig cannot judge those (pitfall 6)
    assert len(signed) == 4, text
    assert all(s.validation == "Signature is Valid." for s in signed), text
    assert all(s.certificate == "Certificate is Trusted." for s in signed), text


async def test_three_signers_end_to_end(sent: Sent, tmp_path: Path) -> None:
    anna, beat, carla = sent.invitee("Anna"), sent.invitee("Beat"), sent.invitee("Carla")
    assert ("dossier.prepared", {"dossierId": sent.dossier["id"], "documents": 1}) in await events_of(
        sent.database, sent.tenant, "dossier.prepared"
    )
    # Anna draws her signature, Beat and Carla type theirs.
    for who, extra in ((anna, {"values": anna_values(sent), "signature_png": drawn_signature()}), (beat, {})):
        await authenticate(sent.database, sent.tenant, who)
        await sent.submit(who, typed_name="Signed", **extra)
    await run_due(sent.database, sent.settings, sent.tenant, within=120)
    await authenticate(sent.database, sent.tenant, carla)
    await sent.submit(carla, typed_name="Carla Rossi")
    await run_due(sent.database, sent.settings, sent.tenant, within=120)

    final, dossier = await final_pdf(sent)
    assert dossier.state == "completed"
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        people = {
            p.name: p.state for p in await session.scalars(select(Invitee).where(Invitee.dossier_id == dossier.id))
        }
        assert people["Anna Muster"] == people["Beat Brändli"] == people["Carla Rossi"] == "signed"
        records = list(await session.scalars(select(SignatureRecord).where(SignatureRecord.dossier_id == dossier.id)))
        assert (
            len(records) == 3
            and len({r.certificate_serial for r in records}) == 3
            and not any(r.sealed for r in records)
        )
        applied = list(await session.scalars(select(SigningRequest).where(SigningRequest.dossier_id == dossier.id)))
        assert {r.state for r in applied} == {"applied"}
        assert all(r.sealed_input is None and r.sealed_image is None for r in applied)
        document = await session.scalar(select(DossierDocument).where(DossierDocument.dossier_id == dossier.id))
        assert document is not None and document.archive_due_at is not None
        trust = await authority.validation_trust(session, sent.settings, sent.tenant.id)
    completed = await events_of(sent.database, sent.tenant, "dossier.completed")
    assert [data["dossierId"] for _, data in completed] == [sent.dossier["id"]]

    with untraced():  # the judge's time, not ours (tests/untraced.py)
        reports = await validation.validate(final, trust)
    signatures = [r for r in reports if r.kind != "timestamp"]
    assert [r.kind for r in signatures] == ["certification", "approval", "approval", "approval"]
    assert {r.signer for r in signatures if r.kind == "approval"} == {"Anna Muster", "Beat Brändli", "Carla Rossi"}
    for report in reports:
        assert report.intact and report.valid and report.trusted, report
        assert report.docmdp_ok in (True, None), report
    assert all(r.level == "B-LTA" for r in signatures), signatures
    # Anna's drawn signature is in her stamp; the typed ones keep the text stamp.
    images = {
        signature.signer_cert.subject.native["common_name"]: appearance_images(final, signature.field_name)
        for signature in open_reader(final).embedded_regular_signatures
        if signature.field_name.startswith("trustroom-signature")
    }
    assert images["Anna Muster"] >= 1 and images["Beat Brändli"] == images["Carla Rossi"] == 0, images

    await asyncio.to_thread(second_opinions, final, trust.roots[0], tmp_path)


async def test_a_cancelled_dossier_voids_the_pending_request(sent: Sent) -> None:
    anna = sent.invitee("Anna")
    await authenticate(sent.database, sent.tenant, anna)
    await sent.submit(anna, values=anna_values(sent), typed_name="Anna Muster")

    async def cancel(session: object, actor: Actor, dossier: Dossier, invitee: Invitee) -> None:
        dossier.state = DossierState.CANCELLED

    await sent.run(anna, cancel)
    await run_due(sent.database, sent.settings, sent.tenant, within=60)
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        request = await session.scalar(select(SigningRequest).where(SigningRequest.invitee_id == UUID(anna)))
        assert request is not None and request.state == "void" and request.sealed_input is None
        count = await session.scalar(
            select(func.count()).select_from(SignatureRecord).where(SignatureRecord.invitee_id == UUID(anna))
        )
        assert count == 0
    again = await sent.submit(anna, typed_name="Anna Muster")  # the first request, void: nothing signs
    assert again.id == request.id and again.state == "void"
    with pytest.raises(errors.DossierEnded):
        await sent.submit(sent.invitee("Beat"), typed_name="Beat")


def through(settings: Settings, tsa: AnimatedTsa) -> Settings:
    """The settings with `tsa` as the only TSA, its root trusted and its CRL fetched over HTTP."""
    signing = settings.signing.model_copy(
        update={
            "tsa_urls": [tsa.url],
            "tsa_timeout_seconds": 2,
            "trust_roots": [tsa.root_pem],
            "fetch_urls": [f"{tsa.base_url}/"],
        }
    )
    return settings.model_copy(update={"signing": signing})


async def test_a_step_without_a_timestamp_fails_closed_and_completes_once_the_tsa_is_back(
    sent: Sent, animated_tsa: AnimatedTsa
) -> None:
    """The TSA is Certomancer's animator over HTTP: stopped, the step fails closed; started
    again on the same port, the retried step completes and the final PDF validates."""
    anna, beat, carla = sent.invitee("Anna"), sent.invitee("Beat"), sent.invitee("Carla")
    external = through(sent.settings, animated_tsa)
    await authenticate(sent.database, sent.tenant, anna)
    await sent.submit(anna, values=anna_values(sent), typed_name="Anna Muster")
    before, _ = await final_pdf(sent)
    animated_tsa.stop()
    try:
        await run_due(sent.database, external, sent.tenant, within=60)
    finally:
        animated_tsa.start()

    after, _ = await final_pdf(sent)
    assert after == before  # nothing signed without a time
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        request = await session.scalar(select(SigningRequest).where(SigningRequest.invitee_id == UUID(anna)))
        assert request is not None and request.state == "pending" and request.failures == 1
        assert request.last_error == "TimestampUnavailable"
        invitee = await session.get(Invitee, UUID(anna))
        assert invitee is not None and invitee.state != "signed"
        failed = await session.scalar(
            select(AuditEvent).where(AuditEvent.tenant_id == sent.tenant.id, AuditEvent.action == "signing.step.failed")
        )
        assert failed is not None and failed.data["error"] == "TimestampUnavailable"
        job = await session.scalar(select(Job).where(Job.task == STEP_TASK, Job.tenant_id == sent.tenant.id))
        assert job is not None and job.status == "pending" and job.attempts == 1  # to be retried
    step_failed = await events_of(sent.database, sent.tenant, "dossier.step.failed")
    assert [(data["inviteeId"], data["error"]) for _, data in step_failed] == [(anna, "TimestampUnavailable")]

    await travel(sent.database, sent.tenant, 3600)  # the retry is due, the TSA is back
    await run_due(sent.database, external, sent.tenant, within=60)
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        invitee = await session.get(Invitee, UUID(anna))
        assert invitee is not None and invitee.state == "signed"
    for who in (beat, carla):
        await authenticate(sent.database, sent.tenant, who)
        await sent.submit(who, typed_name="Signed")
        await run_due(sent.database, external, sent.tenant, within=60)

    final, dossier = await final_pdf(sent)
    assert dossier.state == "completed"
    reader = open_reader(final)
    assert len(reader.embedded_regular_signatures) == 4  # certification, Anna, Beat, Carla
    stamped_by = {s.signer_cert.subject.native["common_name"] for s in reader.embedded_timestamp_signatures}
    assert "Certomancer Test Time-Stamping Authority" in stamped_by
    async with sent.database.session(write=False) as session:
        trust = await authority.validation_trust(session, external, sent.tenant.id)
    with untraced():  # the judge's time, not ours (tests/untraced.py)
        reports = await validation.validate(final, trust)
    assert all(report.ok for report in reports), [r for r in reports if not r.ok]
    assert all(r.level == "B-LTA" for r in reports if r.kind != "timestamp"), reports


async def test_ten_signers_submitting_at_once_each_sign_once(
    client: httpx.AsyncClient,
    advisor: Person,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    tmp_path: Path,
) -> None:
    made = Sent(database, keys, settings, tenant)
    people = [signer(name=f"Signer {n}", email=f"signer{n}@mail.example") for n in range(10)]
    made.dossier = await create_dossier(client, advisor.headers, method="ses", invitees=people)
    made.document = await add_document(client, advisor.headers, made.dossier, pages=1)
    answer = await client.post(
        f"{DOSSIERS}/{made.dossier['id']}/invites",
        headers=advisor.headers,
        json=[{"inviteeId": person["id"], "channel": "link"} for person in made.dossier["invitees"]],
    )
    assert answer.status_code == 201, answer.text
    ids = [person["id"] for person in made.dossier["invitees"]]
    submitted = await asyncio.gather(*(made.submit(who, typed_name="Signer") for who in ids for _twice in range(2)))
    assert len({request.id for request in submitted}) == 10
    await run_due(database, settings, tenant, within=240)

    final, dossier = await final_pdf(made)
    assert dossier.state == "completed"
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        trust = await authority.validation_trust(session, settings, tenant.id)
        records = list(await session.scalars(select(SignatureRecord).where(SignatureRecord.dossier_id == dossier.id)))
    assert sorted(str(r.invitee_id) for r in records) == sorted(ids) and all(r.sealed for r in records)
    # Judged by pyHanko directly rather than by our validation's per-signature AdES-LTA
    # (eleven difference analyses over twenty revisions, minutes on a loaded machine): each
    # signature's integrity and trust, and the difference analysis once, from the
    # certification to the end, which covers every revision after it.
    root = trust.roots[0]
    context = ValidationContext(trust_roots=[to_asn1(root)], allow_fetching=False, revocation_mode="soft-fail")
    reader = open_reader(final)
    approvals = []
    with untraced():  # the judge's time, not ours (tests/untraced.py)
        for signature in reader.embedded_regular_signatures:
            certification = signature.docmdp_level is not None
            status = await async_validate_pdf_signature(signature, context, skip_diff=not certification)
            assert status.intact and status.valid and status.trusted, (signature.field_name, status)
            if certification:
                assert status.docmdp_ok and status.modification_level is not None, status
            else:
                approvals.append(signature.field_name)
    assert sorted(approvals) == sorted(r.field_name for r in records)  # each once
