"""The advisor portal's e-signature pages over HTTP (issue #14, item 8): a member creates a
draft, adds invitees from their contacts and by hand, uploads a PDF, places fields, sends,
finds the dossier in the list and cancels it; refusals read beside their fields, in the
page's language; another team's dossier stays out of reach; every form needs its CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from trustroom.auth.models import Role
from trustroom.auth.service.members import NewMember
from trustroom.db import Database
from trustroom.keys import ServerKeys

from ..clients.conftest import create_contact
from ..clients.test_pages import csrf_of, signed_in
from ..factories import TenantFixture, make_member
from .support import make_pdf
from .test_dossiers import DOSSIERS, create_dossier

PORTAL = "/portal/dossiers"


@pytest.fixture
async def member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> NewMember:
    return await make_member(database, keys, tenant.id, role=Role.ADVISOR)


def acting(tenant: TenantFixture, member: NewMember) -> dict[str, str]:
    return {**tenant.headers, "X-Acting-Member": str(member.member.id)}


async def new_draft(browser: httpx.AsyncClient, token: str, name: str = "Mandate Weber") -> str:
    created = await browser.post(
        f"{PORTAL}/new", data={"csrf_token": token, "name": name, "method": "ses", "expires_in_days": "30"}
    )
    assert created.status_code == 303, created.text
    location: str = created.headers["location"]
    return location.rsplit("/", 1)[-1]


async def test_an_advisor_prepares_sends_finds_and_cancels_a_dossier(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, member: NewMember
) -> None:
    browser = await signed_in(app, member)
    listing = await browser.get(PORTAL)
    assert listing.status_code == 200 and "New dossier" in listing.text and "No dossiers yet." in listing.text
    token = csrf_of(await browser.get(f"{PORTAL}/new"))

    refused = await browser.post(
        f"{PORTAL}/new", data={"csrf_token": token, "name": "Mandate Weber", "method": "ses", "expires_in_days": "120"}
    )
    assert refused.status_code == 400 and 'id="expires_in_days-error"' in refused.text
    assert 'value="Mandate Weber"' in refused.text  # what was typed stays
    dossier_id = await new_draft(browser, token)
    page = await browser.get(f"{PORTAL}/{dossier_id}")
    assert page.status_code == 200 and "No invitees yet." in page.text

    # From the member's contacts: found by name, added with what the contact's card says.
    contact = await create_contact(client, tenant.headers, advisorIds=[str(member.member.id)])
    found = await browser.get(f"{PORTAL}/{dossier_id}", params={"q": "Muster"})
    assert f'name="contact_id" value="{contact["id"]}"' in found.text
    from_contact = await browser.post(
        f"{PORTAL}/{dossier_id}/invitees",
        data={"csrf_token": token, "contact_id": contact["id"], "role": "signer", "position": "1"},
    )
    assert from_contact.status_code == 303, from_contact.text
    # By hand: a missing name and a bad mobile number are refused beside their fields.
    by_hand = {"csrf_token": token, "last_name": "Brändli", "email": "beat@mail.example", "role": "signer"}
    nameless = await browser.post(
        f"{PORTAL}/{dossier_id}/invitees?language=de", data={**by_hand, "position": "2", "authentication": "otp_sms"}
    )
    assert nameless.status_code == 400
    assert 'id="invitee-first_name-error"' in nameless.text
    assert 'value="Brändli"' in nameless.text
    added = await browser.post(
        f"{PORTAL}/{dossier_id}/invitees", data={**by_hand, "first_name": "Beat", "position": "2"}
    )
    assert added.status_code == 303, added.text
    api = (await client.get(f"{DOSSIERS}/{dossier_id}", headers=tenant.headers)).json()
    assert [(i["name"], i["position"], i["contactId"]) for i in api["invitees"]] == [
        ("Anna Muster", 1, contact["id"]),
        ("Beat Brändli", 2, None),
    ]
    assert api["ownerMemberId"] == str(member.member.id)
    anna, beat = (invitee["id"] for invitee in api["invitees"])

    # Upload (the script's request), then the rendered page the fields are placed on.
    no_token = await browser.post(
        f"{PORTAL}/{dossier_id}/documents", files={"file": ("Mandat.pdf", make_pdf(2), "application/pdf")}
    )
    assert no_token.status_code == 403
    uploaded = await browser.post(
        f"{PORTAL}/{dossier_id}/documents",
        files={"file": ("Mandat.pdf", make_pdf(2), "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["id"]
    page = await browser.get(f"{PORTAL}/{dossier_id}")
    assert f"{PORTAL}/{dossier_id}/documents/{document_id}/pages/2" in page.text
    image = await browser.get(f"{PORTAL}/{dossier_id}/documents/{document_id}/pages/1")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    fields_url = f"{PORTAL}/{dossier_id}/documents/{document_id}/fields"
    signature = {"type": "signature", "page": 2, "x": 72, "y": 100, "width": 180, "height": 50}
    off_page = await browser.put(
        f"{fields_url}?language=de",
        json={"fields": [{**signature, "inviteeId": anna}, {**signature, "inviteeId": beat, "x": 500}]},
        headers={"X-CSRF-Token": token},
    )
    assert off_page.status_code == 400, off_page.text
    problem = off_page.json()
    assert [error["pointer"] for error in problem["errors"]] == ["/fields/1"]
    assert "Seite" in problem["errors"][0]["message"]  # in the page's language
    # Sending before Beat has a signature field is refused, naming him.
    early = await browser.post(
        f"{PORTAL}/{dossier_id}/send", data={"csrf_token": token, f"channel-{anna}": "link", f"channel-{beat}": "email"}
    )
    assert early.status_code == 400 and "Beat Brändli" in early.text
    placed = await browser.put(
        fields_url,
        json={"fields": [{**signature, "inviteeId": anna}, {**signature, "inviteeId": beat, "x": 320}]},
        headers={"X-CSRF-Token": token},
    )
    assert placed.status_code == 200, placed.text
    assert [(f["inviteeId"], f["x"]) for f in placed.json()["fields"]] == [(anna, 72), (beat, 320)]

    checked = await browser.post(f"{PORTAL}/{dossier_id}/validate", data={"csrf_token": token})
    assert checked.status_code == 200 and "no signatures yet" in checked.text

    sent = await browser.post(
        f"{PORTAL}/{dossier_id}/send", data={"csrf_token": token, f"channel-{anna}": "link", f"channel-{beat}": "email"}
    )
    assert sent.status_code == 303, sent.text
    page = await browser.get(f"{PORTAL}/{dossier_id}")
    links = re.findall(r'class="invite-link" readonly value="([^"]+)"', page.text)
    assert len(links) == 1 and "/s/" in links[0]  # Anna's link, for the advisor to deliver
    assert "Pending" in page.text and "Invites and reminders" in page.text

    pending = await browser.get(PORTAL, params={"state": "pending"})
    assert "Mandate Weber" in pending.text and "Anna Muster, Beat Brändli" in pending.text
    assert "Mandate Weber" not in (await browser.get(PORTAL, params={"state": "draft"})).text

    reasonless = await browser.post(f"{PORTAL}/{dossier_id}/cancel", data={"csrf_token": token, "reason": " "})
    assert reasonless.status_code == 400 and 'id="reason-error"' in reasonless.text
    cancelled = await browser.post(
        f"{PORTAL}/{dossier_id}/cancel", data={"csrf_token": token, "reason": "The client chose another offer."}
    )
    assert cancelled.status_code == 303
    api = (await client.get(f"{DOSSIERS}/{dossier_id}", headers=tenant.headers)).json()
    assert (api["state"], api["cancelReason"]) == ("cancelled", "The client chose another offer.")
    page = await browser.get(f"{PORTAL}/{dossier_id}?language=fr")
    assert "The client chose another offer." in page.text and "Annulé" in page.text


async def test_a_draft_is_deleted_and_its_documents_and_invitees_removed(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, member: NewMember
) -> None:
    browser = await signed_in(app, member)
    token = csrf_of(await browser.get(f"{PORTAL}/new"))
    dossier_id = await new_draft(browser, token, "To be deleted")
    uploaded = await browser.post(
        f"{PORTAL}/{dossier_id}/documents",
        files={"file": ("Entwurf.pdf", make_pdf(1), "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201
    removed = await browser.post(
        f"{PORTAL}/{dossier_id}/documents/{uploaded.json()['id']}/delete", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert "No documents yet." in (await browser.get(f"{PORTAL}/{dossier_id}")).text
    deleted = await browser.post(f"{PORTAL}/{dossier_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert (await client.get(f"{DOSSIERS}/{dossier_id}", headers=tenant.headers)).status_code == 404


async def test_a_member_never_sees_another_teams_dossier(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    member: NewMember,
) -> None:
    peer = await make_member(database, keys, tenant.id, role=Role.ADVISOR)
    theirs = await create_dossier(client, acting(tenant, peer), name="Peer's mandate")
    uploaded = await client.post(
        f"{DOSSIERS}/{theirs['id']}/documents",
        headers=tenant.headers,
        files={"file": ("Peer.pdf", make_pdf(1), "application/pdf")},
    )
    assert uploaded.status_code == 201
    browser = await signed_in(app, member)
    token = csrf_of(await browser.get(f"{PORTAL}/new"))
    assert "Peer&#39;s mandate" not in (await browser.get(PORTAL)).text
    base = f"{PORTAL}/{theirs['id']}"
    document = f"{base}/documents/{uploaded.json()['id']}"
    reached: dict[str, int] = {
        "page": (await browser.get(base)).status_code,
        "image": (await browser.get(f"{document}/pages/1")).status_code,
        "fields": (
            await browser.put(f"{document}/fields", json={"fields": []}, headers={"X-CSRF-Token": token})
        ).status_code,
        "delete document": (await browser.post(f"{document}/delete", data={"csrf_token": token})).status_code,
        "invitee": (await browser.post(f"{base}/invitees", data={"csrf_token": token, "first_name": "X"})).status_code,
        "send": (await browser.post(f"{base}/send", data={"csrf_token": token})).status_code,
        "cancel": (await browser.post(f"{base}/cancel", data={"csrf_token": token, "reason": "no"})).status_code,
        "delete": (await browser.post(f"{base}/delete", data={"csrf_token": token})).status_code,
        "validate": (await browser.post(f"{base}/validate", data={"csrf_token": token})).status_code,
    }
    assert set(reached.values()) == {404}, reached
    still = (await client.get(f"{DOSSIERS}/{theirs['id']}", headers=tenant.headers)).json()
    assert (still["state"], len(still["invitees"])) == ("draft", 1)


async def test_every_form_needs_its_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, member: NewMember
) -> None:
    browser = await signed_in(app, member)
    token = csrf_of(await browser.get(f"{PORTAL}/new"))
    dossier_id = await new_draft(browser, token)
    base = f"{PORTAL}/{dossier_id}"
    attempts: dict[str, Any] = {
        "new": browser.post(f"{PORTAL}/new", data={"name": "Forged"}),
        "invitee": browser.post(f"{base}/invitees", data={"first_name": "Eve", "last_name": "Forger"}),
        "wrong token": browser.post(f"{base}/invitees", data={"csrf_token": "0" * 64, "first_name": "Eve"}),
        "fields": browser.put(f"{base}/documents/{dossier_id}/fields", json={"fields": []}),
        "send": browser.post(f"{base}/send"),
        "delete": browser.post(f"{base}/delete"),
        "cancel": browser.post(f"{base}/cancel", data={"reason": "forged"}),
        "validate": browser.post(f"{base}/validate"),
        "other origin": browser.post(
            f"{base}/delete", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
        ),
    }
    statuses = {name: (await attempt).status_code for name, attempt in attempts.items()}
    assert set(statuses.values()) == {403}, statuses
    listed = (await client.get(DOSSIERS, headers=tenant.headers)).json()["items"]
    assert [(d["name"], d["invitees"]) for d in listed] == [("Mandate Weber", [])]
