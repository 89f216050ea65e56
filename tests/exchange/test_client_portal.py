"""The client portal over HTTP: the access link, sign-in with password and an SMS code,
the room, and what a client may and may not do."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import AccessLink
from trustroom.messaging.models import OutboundMessage
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..helpers import events_of
from ..outbound import send_queued
from .conftest import EXCHANGES, PASSWORD, create_exchange, create_folder, upload

_addresses = iter(range(1, 250))


@pytest.fixture
async def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client with its own address, cookies and no redirects followed."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(f"198.18.1.{next(_addresses)}", 4000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)


def login_of(tenant: TenantFixture) -> str:
    return f"/x/t/{tenant.id}/login"


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text) or re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def last_code(database: Database, settings: Settings, tenant: TenantFixture, account_username: str) -> str:
    """The newest sign-in code sent, read from the SMS outbox after the send job ran."""
    await send_queued(database, settings, tenant.id)
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        message = await session.scalar(
            select(OutboundMessage)
            .where(OutboundMessage.tenant_id == tenant.id, OutboundMessage.purpose == "exchange.sign_in_code")
            .order_by(OutboundMessage.id.desc())
            .limit(1)
        )
    assert message is not None
    sms = json.loads((settings.data_dir / "outbox" / "sms" / f"{message.id}.json").read_text())
    found = re.search(r"\b(\d{6})\b", sms["text"])
    assert found, sms
    return found.group(1)


async def sign_in(
    browser: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> httpx.Response:
    token = csrf_of(await browser.get(login_of(tenant)))
    step = await browser.post(
        login_of(tenant), data={"username": exchange["username"], "password": PASSWORD, "csrf_token": token}
    )
    assert step.status_code == 303, step.text
    assert step.headers["location"] == "/x/code?language=de"
    code = await last_code(database, settings, tenant, exchange["username"])
    done = await browser.post("/x/code", data={"code": code, "csrf_token": token})
    assert done.status_code == 303, done.text
    return done


@pytest.fixture
async def exchange(client: httpx.AsyncClient, tenant: TenantFixture) -> dict[str, Any]:
    created = await create_exchange(client, tenant.headers)
    created["folder"] = (await create_folder(client, tenant.headers, created["id"], "Unterlagen"))["id"]
    return created


async def test_the_link_changes_nothing_until_confirmed(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    exchange: dict[str, Any],
) -> None:
    made = await client.post(f"{EXCHANGES}/{exchange['id']}/link", headers=tenant.headers)
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    path = url.removeprefix("http://127.0.0.1:8000")
    assert path.startswith("/x/link/")
    for _ in range(3):  # a mail scanner, a preview, the client
        landing = await browser.get(path)
        assert landing.status_code == 200 and "Mandat Muster" in landing.text
        assert 'lang="de"' in landing.text
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        link = await session.scalar(select(AccessLink).where(AccessLink.exchange_id == UUID(exchange["id"])))
        assert link is not None and link.used_at is None
    confirmed = await browser.post(path, data={"csrf_token": csrf_of(landing)})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"{login_of(tenant)}?language=de"
    again = await browser.get(path)
    assert again.status_code == 410
    unknown = await browser.get("/x/link/not-a-token")
    assert unknown.status_code == 410


async def test_sign_in_with_password_and_sms_code_opens_the_room(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    exchange: dict[str, Any],
) -> None:
    assert (await browser.get("/x/")).headers["location"] == "/x/login"
    done = await sign_in(browser, database, settings, tenant, exchange)
    room = await browser.get(done.headers["location"])
    assert room.status_code == 200
    assert "Mandat Muster" in room.text and "Unterlagen" in room.text and "beat@bank.example" in room.text
    assert 'lang="de"' in room.text
    audit = await client.get(
        "/api/v1/audit-events", headers=tenant.headers, params={"action": "exchange.client.signed_in"}
    )
    assert audit.status_code == 200


async def test_wrong_codes_end_the_sign_in_and_lock_the_account(
    browser: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> None:
    token = csrf_of(await browser.get(login_of(tenant)))
    wrong = await browser.post(
        login_of(tenant), data={"username": exchange["username"], "password": "nope nope nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    unknown = await browser.post(
        login_of(tenant), data={"username": "nobody", "password": PASSWORD, "csrf_token": token}
    )
    assert unknown.status_code == 401
    await browser.post(
        login_of(tenant), data={"username": exchange["username"], "password": PASSWORD, "csrf_token": token}
    )
    code = await last_code(database, settings, tenant, exchange["username"])
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    statuses = [
        (await browser.post("/x/code", data={"code": wrong_code, "csrf_token": token})).status_code for _ in range(4)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 423  # one wrong password and four wrong codes: five failures lock the account
    locked = await browser.post(
        login_of(tenant), data={"username": exchange["username"], "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 423


async def test_a_code_is_only_good_for_its_own_sign_in(
    app: FastAPI, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> None:
    first, second = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"192.0.2.{n}", 4000)), base_url="https://testserver"
        )
        for n in (10, 11)
    ]
    async with first, second:
        tokens = []
        for browser in (first, second):
            token = csrf_of(await browser.get(login_of(tenant)))
            tokens.append(token)
            await browser.post(
                login_of(tenant), data={"username": exchange["username"], "password": PASSWORD, "csrf_token": token}
            )
        code_of_second = await last_code(database, settings, tenant, exchange["username"])
        refused = await first.post(
            "/x/code", data={"code": code_of_second, "csrf_token": tokens[0]}, follow_redirects=False
        )
        assert refused.status_code == 401
        accepted = await second.post(
            "/x/code", data={"code": code_of_second, "csrf_token": tokens[1]}, follow_redirects=False
        )
        assert accepted.status_code == 303


async def test_resend_waits_between_codes(
    browser: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> None:
    token = csrf_of(await browser.get(login_of(tenant)))
    await browser.post(
        login_of(tenant), data={"username": exchange["username"], "password": PASSWORD, "csrf_token": token}
    )
    too_soon = await browser.post("/x/code/resend", data={"csrf_token": token})
    assert too_soon.status_code == 429 and int(too_soon.headers["retry-after"]) > 0


async def test_the_client_uploads_shares_and_deletes_only_their_own(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    exchange: dict[str, Any],
) -> None:
    advisor_doc = (
        await upload(client, tenant.headers, exchange["id"], exchange["folder"], "Offerte.pdf", b"%PDF-1.4 offer")
    ).json()
    await sign_in(browser, database, settings, tenant, exchange)
    room = await browser.get("/x/")
    assert "Offerte.pdf" not in room.text  # not shared yet
    await client.post(f"{EXCHANGES}/{exchange['id']}/documents/{advisor_doc['id']}/share", headers=tenant.headers)
    room = await browser.get("/x/")
    assert "Offerte.pdf" in room.text
    token = csrf_of(room)
    uploaded = await browser.post(
        f"/x/folders/{exchange['folder']}/documents",
        files={"file": ("Lohnausweis.pdf", b"%PDF-1.4 salary", "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201, uploaded.text
    mine = uploaded.json()
    assert (mine["side"], mine["shared"], mine["uploadedBy"]["kind"]) == ("client", False, "client")
    without_csrf = await browser.post(
        f"/x/folders/{exchange['folder']}/documents", files={"file": ("x.txt", b"x", "text/plain")}
    )
    assert without_csrf.status_code == 403
    # The advisor side does not see the client's document until it is shared.
    listed = (
        await client.get(f"{EXCHANGES}/{exchange['id']}/folders/{exchange['folder']}/documents", headers=tenant.headers)
    ).json()
    assert [d["name"] for d in listed["items"]] == ["Offerte.pdf"]
    downloaded = await browser.get(f"/x/documents/{advisor_doc['id']}/content")
    assert downloaded.content == b"%PDF-1.4 offer"
    refused = await browser.post(f"/x/documents/{advisor_doc['id']}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    shared = await browser.post(f"/x/documents/{mine['id']}/share", data={"csrf_token": token})
    assert shared.status_code == 303
    listed = (
        await client.get(f"{EXCHANGES}/{exchange['id']}/folders/{exchange['folder']}/documents", headers=tenant.headers)
    ).json()
    assert sorted(d["name"] for d in listed["items"]) == ["Lohnausweis.pdf", "Offerte.pdf"]
    after_share = await browser.post(f"/x/documents/{mine['id']}/delete", data={"csrf_token": token})
    assert after_share.status_code == 409
    events = [(t, d["side"], d["by"].split(":")[0]) for t, d in await events_of(database, tenant, "exchange.document")]
    assert events == [
        ("exchange.document.uploaded", "advisor", "app"),
        ("exchange.document.shared", "advisor", "app"),
        ("exchange.document.uploaded", "client", "client"),
        ("exchange.document.shared", "client", "client"),
    ]


async def test_a_client_never_reaches_another_room(
    browser: httpx.AsyncClient,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    exchange: dict[str, Any],
) -> None:
    other = await create_exchange(client, tenant.headers)
    other_folder = (await create_folder(client, tenant.headers, other["id"], "Geheim"))["id"]
    other_doc = (await upload(client, tenant.headers, other["id"], other_folder, "secret.txt", b"room B only")).json()
    await client.post(f"{EXCHANGES}/{other['id']}/documents/{other_doc['id']}/share", headers=tenant.headers)
    await sign_in(browser, database, settings, tenant, exchange)
    token = csrf_of(await browser.get("/x/"))
    attempts = [
        await browser.get(f"/x/?folder={other_folder}"),
        await browser.get(f"/x/documents/{other_doc['id']}/content"),
        await browser.post(f"/x/documents/{other_doc['id']}/share", data={"csrf_token": token}),
        await browser.post(f"/x/documents/{other_doc['id']}/delete", data={"csrf_token": token}),
        await browser.post(
            f"/x/folders/{other_folder}/documents",
            files={"file": ("intrude.txt", b"x", "text/plain")},
            headers={"X-CSRF-Token": token},
        ),
    ]
    room = attempts[0]
    assert room.status_code == 200 and "Geheim" not in room.text and "secret.txt" not in room.text
    assert [a.status_code for a in attempts[1:]] == [404, 404, 404, 404]
    assert all("room B only" not in a.text for a in attempts)
    # The client's session is no API key: the JSON API stays closed to it.
    assert (await browser.get(f"{EXCHANGES}/{other['id']}")).status_code == 401
    assert (await browser.get(f"{EXCHANGES}/{exchange['id']}")).status_code == 401


async def test_sign_out_ends_the_session(
    browser: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> None:
    await sign_in(browser, database, settings, tenant, exchange)
    token = csrf_of(await browser.get("/x/"))
    out = await browser.post("/x/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert (await browser.get("/x/")).status_code == 303


async def test_the_room_speaks_its_language_until_the_client_picks_another(
    browser: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture, exchange: dict[str, Any]
) -> None:
    # The browser prefers French, the advisor set the room to German: the room's language wins
    # (sign_in checks the code page is asked for in German).
    browser.headers["Accept-Language"] = "fr-CH,fr;q=0.9"
    done = await sign_in(browser, database, settings, tenant, exchange)
    room = await browser.get(done.headers["location"])
    assert 'lang="de"' in room.text and "Abmelden" in room.text

    # The language switcher: the pick holds for the rest of the session, links or not.
    picked = await browser.get("/x/?language=it")
    assert 'lang="it"' in picked.text
    assert 'lang="it"' in (await browser.get("/x/")).text
    assert 'lang="it"' in (await browser.get(f"/x/?folder={exchange['folder']}")).text

    # A new session (the next sign-in on this browser) starts in the room's language again.
    out = await browser.post("/x/logout", data={"csrf_token": csrf_of(picked)})
    assert out.status_code == 303
    done = await sign_in(browser, database, settings, tenant, exchange)
    assert 'lang="de"' in (await browser.get(done.headers["location"])).text
