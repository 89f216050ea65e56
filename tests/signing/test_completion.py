"""Completion and evidence (issue 14, item 6): a dossier of a client's exchange, signed by two
invitees (code by email, code by SMS) and finalised by the job runner, has exactly one sealed
audit report that names them and the documents' hashes and that pyHanko validates; its signed
PDFs and the report are in the client's room, shared; `…/download`, `…/evidence` and
`…/audit-report` hand them out (API and advisor portal), 409 before completion, 404 to
another tenant.

The completed dossier is made once for the module (the signing steps and the B-LTA
finalisation are the expensive part); the tests only read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select

from trustroom.actor import Actor, ActorKind
from trustroom.app import create_app
from trustroom.audit.service import chain_hash
from trustroom.auth.models import Role
from trustroom.auth.service.members import NewMember
from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import Document as ExchangeDocument
from trustroom.exchange.models import Exchange
from trustroom.exchange.service import access as exchange_access
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import validation
from trustroom.signing.models import DossierDocument, DossierFile
from trustroom.signing.service import authority, steps
from trustroom.signing.service.stored_pdfs import Workshop

from ..clients.conftest import create_contact
from ..clients.test_pages import signed_in
from ..exchange.conftest import EXCHANGES, create_exchange
from ..factories import make_member, make_tenant
from ..untraced import untraced
from .sending import add_document, authenticate
from .test_dossiers import DOSSIERS, create_dossier, signer
from .test_invites import run_due
from .test_report import _text as pdf_text
from .test_requests import SIGNER_IP, Sent

pytestmark = pytest.mark.asyncio(loop_scope="module")

PORTAL = "/portal/dossiers"


@dataclass
class Completed:
    made: Sent
    app: FastAPI
    client: httpx.AsyncClient
    member: NewMember
    headers: dict[str, str]
    exchange: dict[str, Any]
    draft: dict[str, Any]

    @property
    def url(self) -> str:
        return f"{DOSSIERS}/{self.made.dossier['id']}"

    async def read(self, work: Any) -> Any:
        async with self.made.database.session(write=False) as session:
            await bind_tenant(session, self.made.tenant.id)
            return await work(session)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def completed(settings: Settings, keys: ServerKeys) -> AsyncIterator[Completed]:
    database = Database(settings.resolved_database_url)
    app = create_app(settings, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.10", 51000))
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    tenant = await make_tenant(database, keys)
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR, display_name="Beat Berater")
    headers = {**tenant.headers, "X-Acting-Member": str(member.member.id)}
    contact = await create_contact(client, headers)
    exchange = await create_exchange(client, headers, contactId=contact["id"])
    made = Sent(database, keys, settings, tenant)
    made.dossier = await create_dossier(
        client,
        headers,
        method="aes",
        exchangeId=exchange["id"],
        invitees=[
            signer(authenticationMethods=["otp_email"]),
            signer(name="Beat Brändli", email="beat@mail.example", authenticationMethods=["otp_sms"]),
        ],
    )
    made.document = await add_document(client, headers, made.dossier, pages=1)
    sent = await client.post(
        f"{DOSSIERS}/{made.dossier['id']}/invites",
        headers=headers,
        json=[{"inviteeId": person["id"], "channel": "link"} for person in made.dossier["invitees"]],
    )
    assert sent.status_code == 201, sent.text
    for name in ("Anna", "Beat"):
        await authenticate(database, tenant, made.invitee(name))
        await made.submit(made.invitee(name), typed_name=name)
    await run_due(database, settings, tenant, within=180)
    draft = await create_dossier(client, headers)
    yield Completed(made, app, client, member, headers, exchange, draft)
    await client.aclose()
    await app.state.database.dispose()
    await database.dispose()


async def _report_and_documents(done: Completed) -> tuple[list[DossierFile], list[DossierDocument], bytes]:
    async def work(session: Any) -> tuple[list[DossierFile], list[DossierDocument], bytes]:
        dossier_id = UUID(done.made.dossier["id"])
        files = list(await session.scalars(select(DossierFile).where(DossierFile.dossier_id == dossier_id)))
        documents = list(await session.scalars(select(DossierDocument).where(DossierDocument.dossier_id == dossier_id)))
        workshop = Workshop.of(done.made.keys, done.made.settings)
        actor = Actor(done.made.tenant.id, ActorKind.SYSTEM, None)
        return files, documents, await workshop.read(session, actor, files[0].blob_id)

    result: tuple[list[DossierFile], list[DossierDocument], bytes] = await done.read(work)
    return result


async def test_completion_stores_one_sealed_report_naming_invitees_and_hashes(
    completed: Completed, tmp_path: Path
) -> None:
    files, documents, report = await _report_and_documents(completed)
    assert completed.made.dossier["id"] and len(files) == 1 and files[0].kind == "audit_report"
    assert files[0].sha256 == hashlib.sha256(report).hexdigest()
    text = pdf_text(report, tmp_path)
    flat = "".join(text.split())
    assert "Anna Muster" in text and "Beat Brändli" in text
    (document,) = documents
    assert document.original_sha256 in flat and document.sha256 in flat and document.original_sha256 != document.sha256
    assert "a***@mail.example" in text and "67" in text and SIGNER_IP in text
    assert "anna.muster@mail.example" not in text  # addresses masked
    trust = await completed.read(
        lambda session: authority.validation_trust(session, completed.made.settings, completed.made.tenant.id)
    )
    with untraced():  # the judge's time, not ours
        reports = await validation.validate(report, trust)
    (seal,) = [r for r in reports if r.kind == "certification"]
    assert seal.level == "B-LTA" and all(r.ok for r in reports), reports

    # Finalising again (a second worker, a lost lease) adds nothing.
    async def again(session: Any) -> str:
        actor = Actor(completed.made.tenant.id, ActorKind.SYSTEM, None)
        workshop = Workshop.of(completed.made.keys, completed.made.settings)
        return await steps.finalize(session, actor, workshop, UUID(completed.made.dossier["id"]))

    assert await completed.read(again) == "nothing"
    count = await completed.read(
        lambda session: session.scalar(
            select(func.count())
            .select_from(DossierFile)
            .where(DossierFile.kind == "audit_report", DossierFile.dossier_id == UUID(completed.made.dossier["id"]))
        )
    )
    assert count == 1


async def test_the_signed_pdfs_and_the_report_are_shared_in_the_clients_room(completed: Completed) -> None:
    exchange_id = UUID(completed.exchange["id"])

    async def client_sees(session: Any) -> list[ExchangeDocument]:
        exchange = await session.get(Exchange, exchange_id)
        client = Actor(completed.made.tenant.id, ActorKind.CLIENT, exchange.account_id)
        return list(
            await session.scalars(
                select(ExchangeDocument).where(
                    ExchangeDocument.exchange_id == exchange_id, exchange_access.visible_documents(client)
                )
            )
        )

    seen = await completed.read(client_sees)
    assert sorted(d.name for d in seen) == ["Audit report Mandate agreement.pdf", "contract.pdf"]
    assert all(d.shared_at is not None and d.side == "advisor" for d in seen)
    folders = await completed.client.get(f"{EXCHANGES}/{exchange_id}/folders", headers=completed.headers)
    (folder,) = [f for f in folders.json()["items"] if f["name"] == "Mandate agreement"]  # a folder of its own
    assert {str(d.folder_id) for d in seen} == {folder["id"]}


async def test_before_completion_409_and_another_tenant_404(completed: Completed, keys: ServerKeys) -> None:
    for what in ("download", "evidence", "audit-report"):
        early = await completed.client.get(f"{DOSSIERS}/{completed.draft['id']}/{what}", headers=completed.headers)
        assert early.status_code == 409 and early.json()["subCode"] == "DossierNotCompleted", early.text
        german = await completed.client.get(
            f"{DOSSIERS}/{completed.draft['id']}/{what}?language=de", headers=completed.headers
        )
        assert german.json()["detail"] != early.json()["detail"]  # localized
    other = await make_tenant(completed.made.database, keys, name="Other Bank")
    for what in ("download", "evidence", "audit-report"):
        foreign = await completed.client.get(f"{completed.url}/{what}", headers=other.headers)
        assert foreign.status_code == 404 and foreign.json()["subCode"] == "DossierNotFound"


async def test_download_and_audit_report(completed: Completed) -> None:
    _files, documents, report = await _report_and_documents(completed)
    answer = await completed.client.get(f"{completed.url}/download", headers=completed.headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    opened = zipfile.ZipFile(io.BytesIO(answer.content))
    assert opened.namelist() == ["contract.pdf", "Audit report Mandate agreement.pdf"]
    assert hashlib.sha256(opened.read("contract.pdf")).hexdigest() == documents[0].sha256
    assert opened.read("Audit report Mandate agreement.pdf") == report
    pdf = await completed.client.get(f"{completed.url}/audit-report", headers=completed.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content == report
    assert pdf.headers["etag"] == f'"{hashlib.sha256(report).hexdigest()}"'


async def test_the_evidence_bundle(completed: Completed) -> None:
    answer = await completed.client.get(f"{completed.url}/evidence", headers=completed.headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    opened = zipfile.ZipFile(io.BytesIO(answer.content))
    assert opened.namelist() == [
        "documents/contract.pdf",
        "audit-report.pdf",
        "audit-events.json",
        "validation/contract.json",
        "SHA256SUMS",
    ]
    sums = [line.split("  ", 1) for line in opened.read("SHA256SUMS").decode().splitlines() if not line.startswith("#")]
    assert len(sums) == 4
    for digest, name in sums:
        assert hashlib.sha256(opened.read(name)).hexdigest() == digest, name
    events = json.loads(opened.read("audit-events.json"))["events"]
    assert {"signing.dossier.sent", "signing.dossier.completed", "signing.invitee.signed"} <= {
        e["action"] for e in events
    }
    assert all(chain_hash(e["content"]) == e["hash"] for e in events)
    verdict = json.loads(opened.read("validation/contract.json"))
    assert verdict["ok"] is True and len(verdict["signatures"]) >= 3


async def test_the_advisor_portal_links_to_the_files(completed: Completed) -> None:
    browser = await signed_in(completed.app, completed.member)
    base = f"{PORTAL}/{completed.made.dossier['id']}"
    page = await browser.get(base)
    assert page.status_code == 200
    for what, kind in (
        ("download", "application/zip"),
        ("audit-report", "application/pdf"),
        ("evidence", "application/zip"),
    ):
        assert f'href="{base}/{what}"' in page.text
        answer = await browser.get(f"{base}/{what}")
        assert answer.status_code == 200 and answer.headers["content-type"] == kind, answer.text
    await browser.aclose()
