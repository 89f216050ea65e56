"""The signer's pages under /s/ (issue #14, item 4): the link changes nothing, Start opens a
session and leaves the token behind, codes, the documents with the signer's fields, Sign
and Decline forms, being signed, and refusals as pages in the invitee's language."""

from __future__ import annotations

import re
from uuid import UUID

import httpx
from fastapi import FastAPI

from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..clients.conftest import Person
from ..factories import TenantFixture
from .test_codes import Signer
from .test_documents import advisor  # noqa: F401 - the fixture
from .test_dossiers import DOSSIERS
from .test_signer_api import BROWSER, pending_dossier
from .test_signer_sign import drawn_png, recorded


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.11", 51000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", headers=BROWSER)


async def test_a_signer_starts_confirms_their_code_and_signs_on_the_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,  # noqa: F811
) -> None:
    dossier, (_anna, beat_token), document_id = await pending_dossier(client, advisor)
    beat_id = dossier["invitees"][1]["id"]
    async with browser(app) as page:
        landing = await page.get(f"/s/{beat_token}")
        assert landing.status_code == 200 and "Start" in landing.text
        assert "Content-Security-Policy" in landing.headers and "style=" not in landing.text
        # Opening the link marks nothing (mail scanners follow links).
        read = (await client.get(f"{DOSSIERS}/{dossier['id']}", headers=advisor.headers)).json()
        assert read["invitees"][1]["state"] == "invited"

        refused = await page.post(f"/s/{beat_token}", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        started = await page.post(f"/s/{beat_token}", data={"csrf_token": csrf_of(landing)})
        assert started.status_code == 303 and started.headers["location"] == "/s/dossier"
        read = (await client.get(f"{DOSSIERS}/{dossier['id']}", headers=advisor.headers)).json()
        assert read["invitees"][1]["state"] == "viewed"

        # Not authenticated yet: the documents lead to the code page.
        assert (await page.get("/s/dossier")).headers["location"] == "/s/code"
        code_page = await page.get("/s/code")
        assert code_page.status_code == 200 and "otp_email" in code_page.text
        token = csrf_of(code_page)
        sent = await page.post("/s/code/send", data={"csrf_token": token, "method": "otp_email"})
        assert sent.status_code == 200 and 'role="status"' in sent.text
        wrong = await page.post("/s/code/verify", data={"csrf_token": token, "method": "otp_email", "code": "000000x"})
        assert wrong.status_code == 400 and "data-detail" in wrong.text
        code = await Signer(database, keys, settings, tenant, UUID(beat_id)).last_code()
        passed = await page.post("/s/code/verify", data={"csrf_token": token, "method": "otp_email", "code": code})
        assert passed.status_code == 303 and passed.headers["location"] == "/s/dossier"

        documents = await page.get("/s/dossier")
        assert documents.status_code == 200, documents.text
        assert f"/s/documents/{document_id}/pages/2" in documents.text
        assert 'id="signature-pad"' in documents.text and 'name="consent"' in documents.text
        assert documents.text.count('class="sign-field own') == 1  # Beat's; Anna's two are placeholders
        image = await page.get(f"/s/documents/{document_id}/pages/2?width=400")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

        form = {"csrf_token": csrf_of(documents), "consent_locale": "en", "signature_png": drawn_png()}
        no_consent = await page.post("/s/sign", data=form)
        assert no_consent.status_code == 400 and "consent" in no_consent.text.lower()
        assert await recorded(database, tenant, dossier["id"]) == ([], 0)
        signed = await page.post("/s/sign", data={**form, "consent": "yes"})
        assert signed.status_code == 303 and signed.headers["location"] == "/s/signing"
        (request,), steps = await recorded(database, tenant, dossier["id"])
        assert steps == 1 and str(request.invitee_id) == beat_id
        being_signed = await page.get("/s/signing")
        assert being_signed.status_code == 200 and "/static/sign.js" in being_signed.text
        status = await page.get("/s/status")
        assert status.json()["signingRequest"] == "pending"
        # Signed: the documents page, and a second Sign, lead to "being signed".
        assert (await page.get("/s/dossier")).headers["location"] == "/s/signing"
        assert (await page.post("/s/sign", data={**form, "consent": "yes"})).headers["location"] == "/s/signing"


async def test_declining_on_the_page_and_refusals_in_the_invitees_language(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,  # noqa: F811
) -> None:
    _dossier, (anna_token, beat_token), _document_id = await pending_dossier(client, advisor)
    async with browser(app) as anna, browser(app) as beat:
        await beat.post(f"/s/{beat_token}", data={"csrf_token": csrf_of(await beat.get(f"/s/{beat_token}"))})
        landing = await anna.get(f"/s/{anna_token}")
        assert 'lang="de"' in landing.text  # Anna's locale is de-CH
        await anna.post(f"/s/{anna_token}", data={"csrf_token": csrf_of(landing)})
        code_page = await anna.get("/s/code")
        empty = await anna.post("/s/decline", data={"csrf_token": csrf_of(code_page), "reason": " "})
        assert empty.status_code in (303, 400)
        declined = await anna.post("/s/decline", data={"csrf_token": csrf_of(code_page), "reason": "Falscher Betrag"})
        assert declined.status_code == 303 and declined.headers["location"] == "/s/done"
        done = await anna.get("/s/done")
        assert done.status_code == 200 and 'data-state="declined"' in done.text

        # The dossier has ended: Beat's session and link are refused with a page, not JSON.
        ended = await beat.get("/s/dossier")
        assert ended.status_code == 410 and ended.headers["content-type"].startswith("text/html")
        assert "data-detail" in ended.text
        link = await anna.get(f"/s/{anna_token}")
        assert link.status_code == 410 and 'lang="de"' in link.text
        unknown = await anna.get("/s/" + "A" * 64)
        assert unknown.status_code == 401 and unknown.headers["content-type"].startswith("text/html")
    async with browser(app) as stranger:
        assert (await stranger.get("/s/dossier")).status_code == 401
