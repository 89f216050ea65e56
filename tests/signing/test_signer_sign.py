"""POST /api/v1/signer/sign (issue #14, item 4): consent, authentication and the signer's
own fields are checked, then one signing request is recorded and its step queued under
the dossier's key (ADR 0018); a second submission answers the first; the status shows it."""

from __future__ import annotations

import base64
import io
from typing import Any
from uuid import UUID

import httpx
from PIL import Image
from sqlalchemy import func, select

from trustroom.db import Database, bind_tenant
from trustroom.jobs.models import Job
from trustroom.keys import ServerKeys
from trustroom.signing.models import STEP_TASK, SigningRequest, dossier_concurrency_key
from trustroom.signing.service import requests

from ..clients.conftest import Person
from ..factories import TenantFixture
from .sending import authenticate
from .test_documents import advisor  # noqa: F401 - the fixture
from .test_dossiers import problem
from .test_signer_api import SIGNER, bearer, pending_dossier


def drawn_png() -> str:
    """A signature as a canvas exports it: a data URL of a PNG."""
    image = Image.new("RGBA", (300, 100), (255, 255, 255, 0))
    for x in range(20, 280):
        image.putpixel((x, 50 + (x % 20) - 10), (0, 0, 80, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def reference_id(dossier_read: dict[str, Any]) -> str:
    (document,) = dossier_read["documents"]
    return next(f["id"] for f in document["fields"] if f["own"] and f["type"] == "text")


async def recorded(database: Database, tenant: TenantFixture, dossier_id: str) -> tuple[list[SigningRequest], int]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        rows = list(await session.scalars(select(SigningRequest).where(SigningRequest.dossier_id == UUID(dossier_id))))
        steps = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.task == STEP_TASK, Job.concurrency_key == dossier_concurrency_key(UUID(dossier_id)))
        )
    return rows, int(steps or 0)


async def test_signing_records_one_request_and_queues_its_step(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    advisor: Person,  # noqa: F811
) -> None:
    dossier, (anna_token, beat_token), _document_id = await pending_dossier(client, advisor)
    anna_id, beat_id = (person["id"] for person in dossier["invitees"])
    read = (await client.get(f"{SIGNER}/dossier", headers=bearer(anna_token))).json()
    reference = reference_id(read)
    body = {"values": {reference: "R-2026-7"}, "signaturePng": drawn_png(), "consent": True}

    # Refusals change nothing: no consent, not authenticated, a required field left out,
    # somebody else's field, a picture that is no PNG.
    problem(
        await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json={**body, "consent": False}),
        400,
        "BadRequest",
        "SignerConsentRequired",
    )
    problem(
        await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json=body),
        403,
        "Forbidden",
        "SignerAuthenticationRequired",
    )
    await authenticate(database, tenant, anna_id)
    problem(
        await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json={**body, "values": {}}),
        400,
        "BadRequest",
        "SubmittedFieldRequired",
    )
    beats_field = next(f["id"] for f in read["documents"][0]["fields"] if not f["own"])
    problem(
        await client.post(
            f"{SIGNER}/sign", headers=bearer(anna_token), json={**body, "values": {reference: "x", beats_field: "y"}}
        ),
        400,
        "BadRequest",
        "SubmittedFieldUnknown",
    )
    for picture in ("not base64!", base64.b64encode(b"GIF89a...").decode()):
        problem(
            await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json={**body, "signaturePng": picture}),
            400,
            "BadRequest",
            "SignatureImageInvalid",
        )
    assert await recorded(database, tenant, dossier["id"]) == ([], 0)

    signed = await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json=body)
    assert signed.status_code == 202, signed.text
    assert signed.json() == {"dossierState": "pending", "inviteeState": "invited", "signingRequest": "pending"}
    # A double click: the first request's state again, nothing recorded twice.
    again = await client.post(f"{SIGNER}/sign", headers=bearer(anna_token), json=body)
    assert again.status_code == 202 and again.json() == signed.json()
    status = await client.get(f"{SIGNER}/status", headers=bearer(anna_token))
    assert status.json()["signingRequest"] == "pending"
    read = (await client.get(f"{SIGNER}/dossier", headers=bearer(anna_token))).json()
    assert read["signingRequest"] == "pending"
    (request,), steps = await recorded(database, tenant, dossier["id"])
    assert steps == 1 and str(request.invitee_id) == anna_id
    assert request.consent_locale == "de" and request.consent_sha256 == requests.consent_sha256("signer", "de")
    values, typed = requests.opened_input(keys, request)
    assert (values, typed) == ({reference: "R-2026-7"}, None)
    png = requests.opened_image(keys, request)
    assert png is not None and png.startswith(requests.PNG_MAGIC)
    assert request.user_agent is not None and request.user_agent.startswith("Mozilla/5.0")

    # Having signed, Anna can no longer decline.
    problem(
        await client.post(f"{SIGNER}/decline", headers=bearer(anna_token), json={"reason": "changed my mind"}),
        409,
        "Conflict",
        "AlreadySubmitted",
    )

    # Beat signs with his typed name, in the consent language he was shown.
    await authenticate(database, tenant, beat_id)
    typed = await client.post(
        f"{SIGNER}/sign",
        headers=bearer(beat_token),
        json={"typedName": "  Beat Brändli ", "consent": True, "consentLocale": "fr-CH"},
    )
    assert typed.status_code == 202, typed.text
    rows, steps = await recorded(database, tenant, dossier["id"])
    assert steps == 2
    beats = next(row for row in rows if str(row.invitee_id) == beat_id)
    assert requests.opened_input(keys, beats) == ({}, "Beat Brändli")
    assert beats.consent_sha256 == requests.consent_sha256("signer", "fr-CH") != request.consent_sha256


async def test_a_signature_needs_a_drawing_or_a_name_and_a_valid_body(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,  # noqa: F811
) -> None:
    dossier, (_anna, beat_token), _document_id = await pending_dossier(client, advisor)
    await authenticate(database, tenant, dossier["invitees"][1]["id"])
    problem(
        await client.post(f"{SIGNER}/sign", headers=bearer(beat_token), json={"consent": True, "typedName": " "}),
        400,
        "BadRequest",
        "SignatureMissing",
    )
    for bad in ({"typedName": "Beat"}, {"consent": True, "typedName": "Beat", "consentLocale": "../x"}):
        answer = await client.post(f"{SIGNER}/sign", headers=bearer(beat_token), json=bad)
        assert answer.status_code == 422, answer.text
    assert await recorded(database, tenant, dossier["id"]) == ([], 0)
