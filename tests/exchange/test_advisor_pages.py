"""The advisor portal's exchange pages over HTTP: create an exchange, a folder, upload,
share, create the client's access link."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from trustroom.auth.models import Role
from trustroom.auth.service.members import NewMember
from trustroom.db import Database
from trustroom.keys import ServerKeys

from ..clients.test_pages import csrf_of, signed_in
from ..factories import TenantFixture, make_member
from .conftest import EXCHANGES


@pytest.fixture
async def advisor_member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> NewMember:
    return await make_member(database, keys, tenant.id, role=Role.ADVISOR)


async def test_an_advisor_sets_up_a_room(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, advisor_member: NewMember
) -> None:
    browser = await signed_in(app, advisor_member)
    listing = await browser.get("/portal/exchanges")
    assert listing.status_code == 200 and "New exchange" in listing.text
    form = await browser.get("/portal/exchanges/new")
    token = csrf_of(form)
    prefilled = dict(
        re.findall(r'name="(username|external_user_id|external_exchange_id)"[^>]*value="([^"]+)"', form.text)
    )
    assert len(prefilled) == 3
    values = {
        **prefilled,
        "csrf_token": token,
        "name": "Mandat Weber",
        "language_code": "FR",
        "password": "short",
        "client_email": "eva.weber@mail.example",
        "client_mobile_number": "+41791112233",
        "client_last_name": "Weber",
    }
    refused = await browser.post("/portal/exchanges/new", data=values)
    assert refused.status_code == 400 and 'id="password-error"' in refused.text
    assert 'value="eva.weber@mail.example"' in refused.text  # what was typed stays
    created = await browser.post("/portal/exchanges/new", data={**values, "password": "long enough secret"})
    assert created.status_code == 303, created.text
    room_url = created.headers["location"]
    exchange_id = room_url.rsplit("/", 1)[-1]
    api = (await client.get(f"{EXCHANGES}/{exchange_id}", headers=tenant.headers)).json()
    assert (api["name"], api["languageCode"], api["client"]["lastName"]) == ("Mandat Weber", "FR", "Weber")
    room = await browser.get(room_url)
    assert room.status_code == 200 and "no folders yet" in room.text
    folder = await browser.post(f"{room_url}/folders", data={"name": "Verträge", "csrf_token": token})
    assert folder.status_code == 303
    room = await browser.get(folder.headers["location"])
    upload_url = re.search(r'data-url="([^"]+)"', room.text)
    assert upload_url and "Verträge" in room.text
    uploaded = await browser.post(
        upload_url.group(1),
        files={"file": ("Vertrag.pdf", b"%PDF-1.4 contract", "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["uploadedBy"] == {"kind": "member", "name": advisor_member.member.display_name}
    shared = await browser.post(f"{room_url}/documents/{document['id']}/share", data={"csrf_token": token})
    assert shared.status_code == 303
    room = await browser.get(shared.headers["location"])
    assert "Vertrag.pdf" in room.text and "Shared" in room.text
    content = await browser.get(f"{room_url}/documents/{document['id']}/content")
    assert content.content == b"%PDF-1.4 contract"
    link = await browser.post(f"{room_url}/link", data={"csrf_token": token})
    assert link.status_code == 200
    url = re.search(r'id="access-link">([^<]+)<', link.text)
    assert url and "/x/link/" in url.group(1)
    deleted = await browser.post(f"{room_url}/documents/{document['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert (
        await client.get(f"{EXCHANGES}/{exchange_id}/documents/{document['id']}", headers=tenant.headers)
    ).status_code == 404


async def test_a_reviewer_may_not_open_exchanges(
    app: FastAPI, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    reviewer = await make_member(database, keys, tenant.id, role=Role.REVIEWER)
    browser = await signed_in(app, reviewer)
    assert (await browser.get("/portal/exchanges")).status_code == 403


async def test_dates_sizes_and_the_rooms_language_read_in_the_pages_language(
    app: FastAPI, advisor_member: NewMember
) -> None:
    browser = await signed_in(app, advisor_member)
    form = await browser.get("/portal/exchanges/new?language=de")
    assert '<option value="FR" >Französisch</option>' in form.text  # languages by name, not code
    token = csrf_of(form)
    prefilled = dict(
        re.findall(r'name="(username|external_user_id|external_exchange_id)"[^>]*value="([^"]+)"', form.text)
    )
    values = {
        **prefilled,
        "csrf_token": token,
        "name": "Mandat Rossi",
        "language_code": "FR",
        "password": "long enough secret",
        "client_email": "a.very.long.address.of.the.client@subsidiary.mail.example",
        "client_mobile_number": "+41791112233",
    }
    created = await browser.post("/portal/exchanges/new?language=de", data=values)
    assert created.status_code == 303, created.text
    room_url = created.headers["location"].split("?")[0]
    folder = await browser.post(f"{room_url}/folders", data={"name": "Steuern", "csrf_token": token})
    room = await browser.get(folder.headers["location"])
    upload_url = re.search(r'data-url="([^"]+)"', room.text)
    assert upload_url
    uploaded = await browser.post(
        upload_url.group(1),
        files={"file": ("Steuern.pdf", b"%PDF-1.4 " + b"x" * 1491, "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201, uploaded.text

    german = await browser.get(f"{folder.headers['location']}&language=de")
    assert "Französisch" in german.text  # the room's language, named
    assert '<td class="number">1,5 kB</td>' in german.text
    assert re.search(r"<time[^>]*>\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC</time>", german.text)
    french = await browser.get(f"{folder.headers['location']}&language=fr")
    assert '<td class="number">1,5\u202fko</td>' in french.text
    listing = await browser.get("/portal/exchanges?language=de")
    assert re.search(r"<time[^>]*>\d{2}\.\d{2}\.\d{4}</time>", listing.text)
    link = await browser.post(f"{room_url}/link?language=de", data={"csrf_token": token})
    assert re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC", link.text)
