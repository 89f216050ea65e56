"""The signer's submission (ADR 0018): `requests.submit` checks the dossier, the invitee's
turn, their authentication and their values, records one request per invitee (also under
concurrency), audits it with IP and user agent, and queues the step under the dossier's key.
Driven through the service, as the signer's pages and API call it."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from trustroom.actor import Actor, ActorKind
from trustroom.audit.models import AuditEvent
from trustroom.auth.models import Role
from trustroom.db import Database, bind_tenant
from trustroom.jobs.models import Job
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import errors
from trustroom.signing.models import (
    STEP_TASK,
    Dossier,
    DossierState,
    Invitee,
    SigningRequest,
    dossier_concurrency_key,
)
from trustroom.signing.service import requests

from ..clients.conftest import Person
from ..factories import TenantFixture, make_member
from .sending import add_document, authenticate
from .test_dossiers import DOSSIERS, create_dossier, signer

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chromium/156"
SIGNER_IP = "192.0.2.44"


def png(width: int = 300, height: int = 100) -> bytes:
    out = io.BytesIO()
    Image.new("LA", (width, height), (0, 0)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR, display_name="Beat Berater")
    return Person(member.member.id, {**tenant.headers, "X-Acting-Member": str(member.member.id)})


class Sent:
    """A sent dossier: Anna and Beat sign in parallel, Carla after them; Vera views."""

    def __init__(self, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture):
        self.database, self.keys, self.settings, self.tenant = database, keys, settings, tenant
        self.dossier: dict[str, Any] = {}
        self.document: dict[str, Any] = {}

    def invitee(self, name: str) -> str:
        return str(next(p["id"] for p in self.dossier["invitees"] if p["name"].startswith(name)))

    def field(self, invitee: str, kind: str) -> UUID:
        return UUID(next(f["id"] for f in self.document["fields"] if f["inviteeId"] == invitee and f["type"] == kind))

    async def run(self, invitee_id: str, work: Callable[..., Awaitable[Any]]) -> Any:
        async with self.database.session() as session:
            await bind_tenant(session, self.tenant.id)
            invitee = await session.get(Invitee, UUID(invitee_id))
            assert invitee is not None
            dossier = await session.get(Dossier, invitee.dossier_id)
            actor = Actor(invitee.tenant_id, ActorKind.SIGNER, invitee.id, ip=SIGNER_IP)
            try:
                result = await work(session, actor, dossier, invitee)
            except Exception:
                await session.rollback()
                raise
            await session.commit()
            return result

    async def submit(self, invitee_id: str, **given: Any) -> SigningRequest:
        options: dict[str, Any] = {
            "values": {},
            "typed_name": None,
            "signature_png": None,
            "consent_locale": "de-CH",
            "user_agent": BROWSER,
        } | given

        async def work(session: Any, actor: Actor, dossier: Dossier, invitee: Invitee) -> SigningRequest:
            return await requests.submit(session, actor, self.keys, self.settings.signing, dossier, invitee, **options)

        result: SigningRequest = await self.run(invitee_id, work)
        return result


@pytest.fixture
async def sent(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
) -> Sent:
    made = Sent(database, keys, settings, tenant)
    made.dossier = await create_dossier(
        client,
        advisor.headers,
        method="aes",
        invitees=[
            signer(authenticationMethods=["otp_email"]),
            signer(name="Beat Brändli", email="beat@mail.example", authenticationMethods=["otp_email"]),
            signer(name="Carla Rossi", email="carla@mail.example", position=2, authenticationMethods=["otp_email"]),
            signer(name="Vera Viewer", email="vera@mail.example", role="viewer"),
        ],
    )
    anna = made.invitee("Anna")
    extra = [
        {"inviteeId": anna, "type": "text", "page": 1, "x": 72, "y": 60, "width": 200, "height": 18},
        {"inviteeId": anna, "type": "checkbox", "page": 1, "x": 300, "y": 60, "width": 14, "height": 14},
        {"inviteeId": anna, "type": "date", "page": 1, "x": 340, "y": 60, "width": 100, "height": 18},
    ]
    made.document = await add_document(client, advisor.headers, made.dossier, extra_fields=extra)
    answer = await client.post(
        f"{DOSSIERS}/{made.dossier['id']}/invites",
        headers=advisor.headers,
        json=[{"inviteeId": person["id"], "channel": "link"} for person in made.dossier["invitees"]],
    )
    assert answer.status_code == 201, answer.text
    return made


def anna_values(sent: Sent) -> dict[UUID, str | bool]:
    anna = sent.invitee("Anna")
    return {sent.field(anna, "text"): "  CUST-2026-0042 ", sent.field(anna, "checkbox"): True}


async def test_a_submission_is_recorded_sealed_audited_and_queued_once(sent: Sent) -> None:
    anna = sent.invitee("Anna")
    await authenticate(sent.database, sent.tenant, anna)
    drawn = png()
    first = await sent.submit(anna, values=anna_values(sent), signature_png=drawn, typed_name="Anna Muster")
    again = await sent.submit(anna, values={}, typed_name="Someone Else")  # a double click
    assert again.id == first.id

    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        rows = list(await session.scalars(select(SigningRequest).where(SigningRequest.invitee_id == UUID(anna))))
        assert len(rows) == 1
        row = rows[0]
        values, typed = requests.opened_input(sent.keys, row)
        assert values == {str(sent.field(anna, "text")): "CUST-2026-0042", str(sent.field(anna, "checkbox")): True}
        assert typed == "Anna Muster" and requests.opened_image(sent.keys, row) == drawn
        assert b"CUST" not in (row.sealed_input or "").encode()
        assert row.state == "pending" and row.ip == SIGNER_IP and row.user_agent == BROWSER
        assert row.consent_sha256 == hashlib.sha256(requests.consent_text("signer", "de-CH").encode()).hexdigest()
        assert requests.consent_text("signer", "de-CH") != requests.consent_text("signer", "en")  # translated
        assert [entry["method"] for entry in row.authentication] == ["otp_email"]
        event = await session.get(AuditEvent, row.audit_event_id)
        assert event is not None and event.action == requests.SUBMITTED
        assert event.data["userAgent"] == BROWSER and event.data["signature"] == "drawn"
        assert event.ip == SIGNER_IP
        jobs = list(await session.scalars(select(Job).where(Job.task == STEP_TASK, Job.tenant_id == sent.tenant.id)))
        assert len(jobs) == 1
        assert jobs[0].args == {"dossierId": sent.dossier["id"], "inviteeId": anna}
        assert jobs[0].concurrency_key == dossier_concurrency_key(UUID(sent.dossier["id"]))
        assert jobs[0].concurrency_limit == 1


async def test_concurrent_submissions_record_one_request(sent: Sent) -> None:
    beat = sent.invitee("Beat")
    await authenticate(sent.database, sent.tenant, beat)
    made = await asyncio.gather(*(sent.submit(beat, typed_name=f"Beat {n}") for n in range(6)))
    assert len({request.id for request in made}) == 1
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.task == STEP_TASK, Job.tenant_id == sent.tenant.id)
        )
        assert count == 1


async def test_refusals_change_nothing(sent: Sent) -> None:
    anna, carla, vera = sent.invitee("Anna"), sent.invitee("Carla"), sent.invitee("Vera")
    with pytest.raises(errors.AuthenticationRequired):
        await sent.submit(anna, values=anna_values(sent), typed_name="Anna Muster")
    await authenticate(sent.database, sent.tenant, anna)
    text, checkbox, date = (sent.field(anna, kind) for kind in ("text", "checkbox", "date"))
    signature, beats = sent.field(anna, "signature"), sent.field(sent.invitee("Beat"), "signature")
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"values": {text: "x"}, "typed_name": "Anna"}, errors.SubmittedFieldRequired),  # the checkbox
        ({"values": {text: "", checkbox: True}, "typed_name": "Anna"}, errors.SubmittedFieldRequired),
        ({"values": {**anna_values(sent), date: "2026-01-01"}, "typed_name": "Anna"}, errors.SubmittedFieldUnknown),
        ({"values": {**anna_values(sent), signature: "Anna"}, "typed_name": "Anna"}, errors.SubmittedFieldUnknown),
        ({"values": {**anna_values(sent), beats: "x"}}, errors.SubmittedFieldUnknown),
        ({"values": {text: True, checkbox: True}, "typed_name": "Anna"}, errors.SubmittedFieldInvalid),
        ({"values": {text: "ok", checkbox: "yes"}, "typed_name": "Anna"}, errors.SubmittedFieldInvalid),
        ({"values": {text: "x" * 501, checkbox: True}, "typed_name": "Anna"}, errors.SubmittedFieldInvalid),
        ({"values": anna_values(sent), "typed_name": "   "}, errors.SignatureMissing),
        ({"values": anna_values(sent), "signature_png": b"GIF89a..."}, errors.SignatureImageInvalid),
        ({"values": anna_values(sent), "signature_png": png()[:-30]}, errors.SignatureImageInvalid),
        ({"values": anna_values(sent), "signature_png": png(5000, 5000)}, errors.SignatureImageInvalid),
    ]
    for given, refusal in cases:
        with pytest.raises(refusal):
            await sent.submit(anna, **given)
    await authenticate(sent.database, sent.tenant, carla)
    with pytest.raises(errors.InviteNotOpenYet):  # Anna and Beat sign first
        await sent.submit(carla, typed_name="Carla Rossi")
    with pytest.raises(errors.InviteeCannotSign):
        await sent.submit(vera, typed_name="Vera")

    async def cancel(session: Any, actor: Actor, dossier: Dossier, invitee: Invitee) -> None:
        dossier.state = DossierState.CANCELLED

    await sent.run(anna, cancel)
    with pytest.raises(errors.DossierEnded):
        await sent.submit(anna, values=anna_values(sent), typed_name="Anna Muster")
    async with sent.database.session(write=False) as session:
        await bind_tenant(session, sent.tenant.id)
        mine = SigningRequest.dossier_id == UUID(sent.dossier["id"])
        assert await session.scalar(select(func.count()).select_from(SigningRequest).where(mine)) == 0
        steps = (Job.task == STEP_TASK) & (Job.tenant_id == sent.tenant.id)
        assert await session.scalar(select(func.count()).select_from(Job).where(steps)) == 0
