"""`signing.archive_timestamps` (issue 14, item 5): a completed dossier's documents and its
sealed audit report get a new archive timestamp before the newest one stops being
verifiable. Time is travelled past one document's and the report's due dates; each gets
exactly one more document-timestamp revision, every earlier signature stays intact and
pyHanko's AdES-LTA validation (trusting only the root) still passes; the document not due
is untouched. Without a TSA the renewal fails closed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography import x509
from pyhanko.sign.validation import ades
from sqlalchemy import select

from trustroom.audit.models import AuditEvent
from trustroom.auth.service import tenants
from trustroom.db import Database, bind_tenant, cross_tenant, utcnow
from trustroom.jobs import service as jobs
from trustroom.jobs.models import Job, JobStatus
from trustroom.jobs.runner import Runner
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import pades
from trustroom.signing.models import DossierDocument, DossierFile
from trustroom.signing.pdf import open_reader
from trustroom.signing.service import authority
from trustroom.signing.service.archive import Archived
from trustroom.signing.service.stored_pdfs import Workshop
from trustroom.signing.tasks import ARCHIVE_TIMESTAMPS

from ..clients.conftest import Person
from ..factories import TenantFixture
from ..outbound import free_port
from ..untraced import untraced
from .sending import add_document
from .support import offline_lta_spec
from .test_dossiers import DOSSIERS, create_dossier, signer
from .test_invites import TASKS, run_due
from .test_requests import Sent, advisor

__all__ = ["advisor"]  # fixture


@dataclass
class Stored:
    blob_id: UUID
    due: Any
    data: bytes


class Completed(Sent):
    """A completed `ses` dossier of one signer with two documents."""

    def __init__(self, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture):
        super().__init__(database, keys, settings, tenant)
        self.documents: list[dict[str, Any]] = []

    def document_ids(self) -> list[UUID]:
        return [UUID(document["id"]) for document in self.documents]

    async def stored(self, document_id: UUID, model: type[Archived] = DossierDocument) -> Stored:
        async with self.database.session(write=False) as session:
            await bind_tenant(session, self.tenant.id)
            document = await session.get(model, document_id)
            assert document is not None
            actor = tenants.operator(self.tenant.id)
            data = await Workshop.of(self.keys, self.settings).read(session, actor, document.blob_id)
            return Stored(document.blob_id, document.archive_due_at, data)

    async def report_id(self) -> UUID:
        async with self.database.session(write=False) as session:
            await bind_tenant(session, self.tenant.id)
            report = await session.scalar(select(DossierFile).where(DossierFile.dossier_id == UUID(self.dossier["id"])))
            assert report is not None
            return report.id

    async def travel_past_due(self, document_id: UUID, model: type[Archived] = DossierDocument) -> None:
        """As if the document's due date were an hour ago: its times move back that far."""
        async with self.database.session() as session:
            await bind_tenant(session, self.tenant.id)
            document = await session.get(model, document_id)
            assert document is not None and document.archive_due_at is not None
            back = document.archive_due_at - utcnow() + timedelta(hours=1)
            document.archive_due_at -= back
            # Core UPDATE: `updated_at` would otherwise be set to now by its onupdate.
            await session.execute(
                model.__table__.update()  # type: ignore[attr-defined]
                .where(model.id == document_id)
                .values(archive_due_at=document.archive_due_at, updated_at=document.updated_at - back)
            )
            await session.commit()

    async def audit(self, action: str) -> list[AuditEvent]:
        async with self.database.session(write=False) as session:
            await bind_tenant(session, self.tenant.id)
            found = await session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == self.tenant.id, AuditEvent.action == action)
            )
            return list(found)

    async def root(self) -> x509.Certificate:
        async with self.database.session(write=False) as session:
            trust = await authority.validation_trust(session, self.settings, self.tenant.id)
        return trust.roots[0]


@pytest.fixture
async def completed(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
) -> Completed:
    made = Completed(database, keys, settings, tenant)
    made.dossier = await create_dossier(client, advisor.headers, method="ses", invitees=[signer()])
    made.documents = [
        await add_document(client, advisor.headers, made.dossier, pages=1, name=name)
        for name in ("mandate.pdf", "annex.pdf")
    ]
    anna = made.invitee("Anna")
    invites = [{"inviteeId": anna, "channel": "link"}]
    answer = await client.post(f"{DOSSIERS}/{made.dossier['id']}/invites", headers=advisor.headers, json=invites)
    assert answer.status_code == 201, answer.text
    await made.submit(anna, typed_name="Anna Muster")
    await run_due(database, settings, tenant, within=120)
    return made


async def archive_run(database: Database, settings: Settings, within: float = 60) -> Job:
    """Enqueue the platform job as its schedule would and run a worker until it has run once."""
    async with database.session() as session, cross_tenant(session):
        job_id = (await jobs.enqueue(session, ARCHIVE_TIMESTAMPS)).id
        await session.commit()
    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    stop = asyncio.Event()
    worker = asyncio.create_task(Runner(database, fast, TASKS, concurrency=1).run(stop))
    deadline = time.monotonic() + within
    try:
        while True:
            async with database.session(write=False) as session, cross_tenant(session):
                job = await session.get(Job, job_id)
                assert job is not None
                if job.status != JobStatus.LEASED and job.attempts > 0:
                    return job
            assert time.monotonic() < deadline and not worker.done(), "the archive job did not run"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def assert_lta_valid(data: bytes, root: x509.Certificate, signed: int = 2) -> None:
    """pyHanko's own AdES-LTA validation, offline (DSS only), the root the only trust anchor;
    `signed` signatures (a document: the certification and Anna's sealed step; a report: its seal)."""
    spec = offline_lta_spec(root)
    signatures = open_reader(data).embedded_regular_signatures
    assert len(signatures) == signed
    for signature in signatures:
        with untraced():  # the judge's time, not ours
            result = await ades.ades_lta_validation(signature, spec)
        status = result.api_status
        assert status is not None and status.intact and status.valid and status.trusted, signature.field_name
        assert status.docmdp_ok and status.bottom_line, signature.field_name
        assert result.ades_subindic.name == "OK", (signature.field_name, result.failure_msg)


async def test_a_due_document_and_report_get_one_more_archive_timestamp(completed: Completed) -> None:
    due_id, other_id = completed.document_ids()
    report_id = await completed.report_id()
    await completed.travel_past_due(due_id)
    await completed.travel_past_due(report_id, DossierFile)
    before, other = await completed.stored(due_id), await completed.stored(other_id)
    report_before = await completed.stored(report_id, DossierFile)

    job = await archive_run(completed.database, completed.settings)
    assert job.status == JobStatus.SUCCEEDED and job.result == {"renewed": 2, "failed": 0}, job.result

    report = await completed.stored(report_id, DossierFile)  # the sealed audit report, renewed alike
    assert report.data.startswith(report_before.data)
    stamps = open_reader(report_before.data).embedded_timestamp_signatures
    assert len(open_reader(report.data).embedded_timestamp_signatures) == len(stamps) + 1
    await assert_lta_valid(report.data, await completed.root(), signed=1)
    assert report.due == pades.renewal_due(report.data) and report.due > report_before.due

    after = await completed.stored(due_id)
    assert after.data.startswith(before.data)  # an incremental update: every earlier revision as it was
    stamps_before = open_reader(before.data).embedded_timestamp_signatures
    assert len(open_reader(after.data).embedded_timestamp_signatures) == len(stamps_before) + 1
    await assert_lta_valid(after.data, await completed.root())
    assert after.due == pades.renewal_due(after.data) and after.due > before.due
    assert await completed.stored(other_id) == other  # not due: untouched
    renewed = await completed.audit("signing.document.archive_timestamp_renewed")
    assert sorted((event.target_type, event.target_id) for event in renewed) == sorted(
        [("dossierDocument", str(due_id)), ("dossierFile", str(report_id))]
    )
    assert all(event.data["dossierId"] == completed.dossier["id"] for event in renewed)

    again = await archive_run(completed.database, completed.settings)  # renewed just now: nothing due
    assert again.result == {"renewed": 0, "failed": 0}
    assert (await completed.stored(due_id)).data == after.data


async def test_without_a_timestamp_the_renewal_fails_closed_and_is_retried(completed: Completed) -> None:
    due_id, _ = completed.document_ids()
    await completed.travel_past_due(due_id)
    before = await completed.stored(due_id)
    stopped = f"http://127.0.0.1:{free_port()}/tsa"  # nothing listens: a TSA that is down
    signing = completed.settings.signing.model_copy(update={"tsa_urls": [stopped], "tsa_timeout_seconds": 2})
    down = completed.settings.model_copy(update={"signing": signing})

    job = await archive_run(completed.database, down)
    assert job.status == JobStatus.PENDING and job.attempts == 1  # to be retried
    assert job.last_error is not None and "TimestampUnavailable" in job.last_error
    assert await completed.stored(due_id) == before  # nothing without a time, still due
    [failed] = await completed.audit("signing.document.archive_timestamp_failed")
    assert failed.target_id == str(due_id) and failed.data["error"] == "TimestampUnavailable"

    job = await archive_run(completed.database, completed.settings)  # the TSA is back
    assert job.result == {"renewed": 1, "failed": 0}
    after = await completed.stored(due_id)
    assert len(open_reader(after.data).embedded_timestamp_signatures) == (
        len(open_reader(before.data).embedded_timestamp_signatures) + 1
    )
