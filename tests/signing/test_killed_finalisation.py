"""A `trustroom worker` killed with SIGKILL while it finalises a dossier (issue 14): the
finalisation runs in one transaction, so after a restart the dossier completes once, with
one more document timestamp (the B-LTA one), `dossier.completed` once, nothing lost.

The moment is made deterministic by a TSA under the test's control that takes the request
and never answers: the worker is inside `signing.finalize_dossier`, its transaction open,
when the request arrives; it is killed then, and a new worker (the in-process TSA) takes
the job up after the dead one's lease. Most of its time (half a minute on a loaded machine)
is the two worker processes starting: a real process is the point."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from trustroom.audit.models import AuditEvent
from trustroom.auth.models import Role
from trustroom.db import Database, bind_tenant, cross_tenant
from trustroom.jobs.models import Job, JobStatus
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import validation
from trustroom.signing.models import Dossier
from trustroom.signing.pdf import open_reader
from trustroom.signing.service import authority, steps
from trustroom.signing.tasks import APPLY_STEP

from ..clients.conftest import Person
from ..factories import TenantFixture, make_member
from ..helpers import events_of, run_jobs
from ..outbound import free_port
from ..untraced import untraced
from ..webhooks.conftest import local, world
from ..webhooks.test_crash import start_worker
from .sending import add_document
from .test_dossiers import DOSSIERS, create_dossier, signer
from .test_requests import Sent
from .test_workflow import final_pdf

__all__ = ["local", "world"]  # fixtures


class SilentTsa:
    """An HTTP server on 127.0.0.1 that takes every request and never answers it."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        silent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                silent.arrived.set()
                silent.release.wait(120)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def silent_tsa() -> Iterator[SilentTsa]:
    tsa = SilentTsa()
    yield tsa
    tsa.close()


async def finalisation_job(database: Database) -> Job:
    """The one finalisation job of the test's own database."""
    async with database.session(write=False) as session, cross_tenant(session):
        [job] = await session.scalars(select(Job).where(Job.task == steps.FINALIZE.name))
        return job


async def test_a_worker_killed_during_finalisation_completes_the_dossier_once(
    local: Settings,
    world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient],
    silent_tsa: SilentTsa,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database, keys, tenant, client = world
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR, display_name="Beat Berater")
    advisor = Person(member.member.id, {**tenant.headers, "X-Acting-Member": str(member.member.id)})
    made = Sent(database, keys, local, tenant)
    made.dossier = await create_dossier(client, advisor.headers, method="ses", invitees=[signer()])
    await add_document(client, advisor.headers, made.dossier, pages=1)
    anna = made.invitee("Anna")
    invites = [{"inviteeId": anna, "channel": "link"}]
    answer = await client.post(f"{DOSSIERS}/{made.dossier['id']}/invites", headers=advisor.headers, json=invites)
    assert answer.status_code == 201, answer.text
    await made.submit(anna, typed_name="Anna Muster")
    await run_jobs(database, local, tenant, APPLY_STEP)  # signed here; the finalisation is left
    signed, dossier = await final_pdf(made)
    assert dossier.state == "pending"
    stamps_signed = len(open_reader(signed).embedded_timestamp_signatures)

    log = tmp_path / "worker.log"
    with monkeypatch.context() as env:  # the worker's TSA: the silent one
        env.setenv("TRUSTROOM_SIGNING__TSA_URLS", silent_tsa.url)
        env.setenv("TRUSTROOM_SIGNING__TSA_TIMEOUT_SECONDS", "120")
        worker = start_worker(local, log)
    try:
        arrived = await asyncio.to_thread(silent_tsa.arrived.wait, 60)
        assert arrived and worker.poll() is None, log.read_text()[-3000:]
        killed = await finalisation_job(database)
        assert killed.status == JobStatus.LEASED and killed.attempts == 1  # inside finalize_dossier
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
    between, dossier = await final_pdf(made)
    assert between == signed and dossier.state == "pending"  # nothing of the killed attempt kept

    worker = start_worker(local, log)  # the in-process TSA again
    try:
        deadline = time.monotonic() + 90
        while (job := await finalisation_job(database)).status != JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert job.attempts == 2 and job.result == {"outcome": "completed"}, job.result

    final, dossier = await final_pdf(made)
    assert dossier.state == "completed"
    assert final.startswith(signed)
    assert len(open_reader(final).embedded_timestamp_signatures) == stamps_signed + 1  # one B-LTA revision
    completed = await events_of(database, tenant, "dossier.completed")
    assert [data["dossierId"] for _, data in completed] == [made.dossier["id"]]
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        about = await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant.id, AuditEvent.target_id == made.dossier["id"])
        )
        assert [event.data.get("to") for event in about].count("completed") == 1
        trust = await authority.validation_trust(session, local, tenant.id)
        row = await session.get(Dossier, UUID(made.dossier["id"]))
        assert row is not None and row.state == "completed"
    with untraced():  # the judge's time, not ours
        reports = await validation.validate(final, trust)
    assert all(report.ok for report in reports), [r for r in reports if not r.ok]
