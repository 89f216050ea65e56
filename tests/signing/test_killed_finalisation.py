"""A `trustroom worker` killed with SIGKILL while it finalises a dossier (issue 14): the
last signer's step finalises in its own transaction (ADR 0018, decision 9), so after a
restart the dossier completes once, with one B-LTA document timestamp, `dossier.completed`
once, nothing lost.

The moment is made deterministic by a TSA gate under the test's control: it passes the
step's first two requests (pyHanko's sizing token, then the signature's timestamp) to
Certomancer's TSA and holds the third, the finalisation's document timestamp, unanswered:
the worker is inside the finalisation, its transaction open, when it arrives; it is killed
then, and a new worker (the in-process TSA) takes the job up after the dead one's lease.
Most of its time (half a minute on a loaded machine) is the two worker processes starting:
a real process is the point."""

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
from trustroom.signing.service import authority
from trustroom.signing.tasks import APPLY_STEP

from ..clients.conftest import Person
from ..factories import TenantFixture, make_member
from ..helpers import events_of
from ..outbound import free_port
from ..untraced import untraced
from ..webhooks.conftest import local, world
from ..webhooks.test_crash import start_worker
from .animated_tsa import AnimatedTsa
from .sending import add_document
from .test_dossiers import DOSSIERS, create_dossier, signer
from .test_requests import Sent
from .test_workflow import final_pdf

__all__ = ["local", "world"]  # fixtures


class TsaGate:
    """An HTTP server on 127.0.0.1 passing the first `passed` requests on to `upstream` and
    holding every later one unanswered."""

    def __init__(self, upstream: str, passed: int) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.seen = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                gate.seen += 1
                if gate.seen > passed:
                    gate.arrived.set()
                    gate.release.wait(120)
                    return
                asked = httpx.post(upstream, content=body, headers={"Content-Type": "application/timestamp-query"})
                token = asked.content
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(token)))
                self.end_headers()
                self.wfile.write(token)

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
def tsa_gate(animated_tsa: AnimatedTsa) -> Iterator[TsaGate]:
    gate = TsaGate(animated_tsa.url, passed=2)
    yield gate
    gate.close()


async def step_job(database: Database) -> Job:
    """The one signing step of the test's own database: the last, so it finalises too."""
    async with database.session(write=False) as session, cross_tenant(session):
        [job] = await session.scalars(select(Job).where(Job.task == APPLY_STEP.name))
        return job


async def test_a_worker_killed_during_finalisation_completes_the_dossier_once(
    local: Settings,
    world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient],
    tsa_gate: TsaGate,
    animated_tsa: AnimatedTsa,
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
    certified, dossier = await final_pdf(made)
    stamps_certified = len(open_reader(certified).embedded_timestamp_signatures)
    await made.submit(anna, typed_name="Anna Muster")

    log = tmp_path / "worker.log"
    with monkeypatch.context() as env:  # the worker's TSA: Certomancer's, through the gate
        env.setenv("TRUSTROOM_SIGNING__TSA_URLS", tsa_gate.url)
        env.setenv("TRUSTROOM_SIGNING__TSA_TIMEOUT_SECONDS", "120")
        env.setenv("TRUSTROOM_SIGNING__TRUST_ROOTS", str(animated_tsa.root_pem))
        env.setenv("TRUSTROOM_SIGNING__FETCH_URLS", f"{animated_tsa.base_url}/")
        worker = start_worker(local, log)
    try:
        arrived = await asyncio.to_thread(tsa_gate.arrived.wait, 90)
        assert arrived and worker.poll() is None, log.read_text()[-3000:]
        killed = await step_job(database)
        assert killed.status == JobStatus.LEASED and killed.attempts == 1  # inside the finalisation
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
    between, dossier = await final_pdf(made)
    assert between == certified and dossier.state == "pending"  # nothing of the killed attempt kept

    worker = start_worker(local, log)  # the in-process TSA again
    try:
        deadline = time.monotonic() + 90
        while (job := await step_job(database)).status != JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert job.attempts == 2 and job.result == {"outcome": "completed"}, job.result

    final, dossier = await final_pdf(made)
    assert dossier.state == "completed"
    assert final.startswith(certified)
    assert len(open_reader(final).embedded_timestamp_signatures) == stamps_certified + 1  # one B-LTA revision
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
