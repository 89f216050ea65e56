"""Member invitations: the email (real SMTP), the one-time link, password and TOTP
enrolment, signing in afterwards; replaced, revoked, used and expired links; tenants apart."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from trustroom.audit import service as audit
from trustroom.auth.models import Member, MemberInvitation
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..clients.test_pages import csrf_of
from ..factories import TenantFixture, make_api_key, make_member
from ..helpers import events_of
from ..outbound import MailCatcher, send_queued
from .test_portal import login_of

INVITATIONS = "/api/v1/members/invitations"
_addresses = iter(range(1, 250))
PASSWORD = "a long and new passphrase"


@pytest.fixture
async def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client with an address of its own (rate limits count per address) and cookies."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(f"198.51.101.{next(_addresses)}", 1))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)


async def invite(client: httpx.AsyncClient, tenant: TenantFixture, email: str, **extra: Any) -> dict[str, Any]:
    made = await client.post(INVITATIONS, headers=tenant.headers, json={"email": email, "role": "advisor", **extra})
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def link_in_mail(
    database: Database, settings: Settings, mail: MailCatcher, tenant: TenantFixture, address: str
) -> tuple[str, str]:
    """(subject, link path) of the newest invitation mailed to `address`, sent over SMTP."""
    await send_queued(database, mail.settings(settings), tenant.id)
    received = mail.to(address)[-1]
    found = re.search(r"https?://[^/\s]+(/portal/invitations/\S+)", received.get_content())
    assert found, received.get_content()
    return str(received["Subject"]), found.group(1)


async def choose_password(browser: httpx.AsyncClient, path: str, password: str, **extra: str) -> httpx.Response:
    token = csrf_of(await browser.get(path))
    form = {"password": password, "password_repeated": password, "csrf_token": token, **extra}
    return await browser.post(path, data=form)


async def test_an_invited_member_sets_a_password_enrols_totp_and_signs_in(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    mail: MailCatcher,
) -> None:
    made = await invite(client, tenant, " Lea.Keller@Bank.example ", languageCode="FR", displayName="Léa Keller")
    assert (made["email"], made["status"], made["languageCode"], made["role"]) == (
        "lea.keller@bank.example",
        "pending",
        "FR",
        "advisor",
    )
    assert made["invitedBy"] == f"app:{tenant.api_key_id}" and made["memberId"] is None
    valid_for = datetime.fromisoformat(made["expiresAt"]) - utcnow()
    assert timedelta(days=6, hours=23) < valid_for <= timedelta(days=7)

    subject, path = await link_in_mail(database, settings, mail, tenant, "lea.keller@bank.example")
    assert subject.startswith("Votre invitation")
    # The email also gives the tenant's own sign-in page for every later sign-in.
    sign_in = re.search(
        r"https?://[^/\s]+(/portal/t/[^/\s]+/login)\s", mail.to("lea.keller@bank.example")[-1].get_content()
    )
    assert sign_in and sign_in.group(1) == login_of(tenant.id)
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        stored = await session.scalar(select(MemberInvitation).where(MemberInvitation.id == UUID(made["id"])))
    assert stored is not None and path.rsplit("/", 1)[-1] not in stored.token_hash  # a keyed hash only

    page = await browser.get(path)
    assert page.status_code == 200 and 'lang="fr"' in page.text and "lea.keller@bank.example" in page.text
    short = await choose_password(browser, path, "short")
    assert short.status_code == 400 and "10" in short.text
    token = csrf_of(page)
    differ = await browser.post(
        path, data={"password": PASSWORD, "password_repeated": PASSWORD + "!", "csrf_token": token}
    )
    assert differ.status_code == 400
    as_email = await choose_password(browser, path, "lea.keller@bank.example")
    assert as_email.status_code == 400
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert await session.scalar(select(Member).where(Member.email == "lea.keller@bank.example")) is None

    accepted = await choose_password(browser, path, PASSWORD, display_name="Léa K.")
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == "/portal/login/totp?language=fr"
    assert f"__Host-trustroom_portal_tenant={tenant.id}" in accepted.headers["set-cookie"]
    enrol = await browser.get(accepted.headers["location"])
    assert enrol.status_code == 200 and 'class="qr"' in enrol.text
    secret_found = re.search(r'<code class="secret">([A-Z2-7]+)</code>', enrol.text)
    assert secret_found, enrol.text
    secret = secret_found.group(1)
    done = await browser.post(
        "/portal/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(enrol)}
    )
    assert done.status_code == 303, done.text
    assert (await browser.get("/portal/")).status_code == 200

    used = await browser.get(path)
    assert used.status_code == 410 and "déjà été utilisée" in used.text
    assert f'href="{login_of(tenant.id)}"' in used.text  # "Sign in" leads to the invitation's tenant
    again = await browser.post(path, data={"password": PASSWORD, "password_repeated": PASSWORD, "csrf_token": token})
    assert again.status_code == 410

    # A fresh browser signs in with the chosen password and the next TOTP code.
    fresh = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.101.250", 1)),
        base_url="https://testserver",
        follow_redirects=False,
    )
    login = await fresh.get(sign_in.group(1))
    step = await fresh.post(
        sign_in.group(1),
        data={"email": "lea.keller@bank.example", "password": PASSWORD, "csrf_token": csrf_of(login)},
    )
    assert step.status_code == 303, step.text
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the next step: a code is never accepted twice
    signed = await fresh.post("/portal/login/totp", data={"code": code, "csrf_token": csrf_of(login)})
    assert signed.status_code == 303, signed.text

    members = (await client.get("/api/v1/members?pageSize=200", headers=tenant.headers)).json()["items"]
    [member] = [m for m in members if m["email"] == "lea.keller@bank.example"]
    assert (member["displayName"], member["role"], member["totpEnrolled"]) == ("Léa K.", "advisor", True)
    listed = (await client.get(f"{INVITATIONS}?status=accepted", headers=tenant.headers)).json()["items"]
    assert [(i["id"], i["memberId"]) for i in listed] == [(made["id"], member["id"])]
    kinds = [kind for kind, _ in await events_of(database, tenant, "member")]
    assert kinds == ["member.invitation.created", "member.invitation.accepted", "member.created"]
    async with database.session(write=False) as session:
        assert (await audit.verify(session, tenant.id)).intact


async def test_reinviting_replaces_the_link_and_members_cannot_be_invited(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    keys: ServerKeys,
    tenant: TenantFixture,
    mail: MailCatcher,
) -> None:
    first = await invite(client, tenant, "max@bank.example")
    _, first_path = await link_in_mail(database, settings, mail, tenant, "max@bank.example")
    second = await invite(client, tenant, "max@bank.example", role="reviewer")
    _, second_path = await link_in_mail(database, settings, mail, tenant, "max@bank.example")
    assert first_path != second_path
    replaced = await browser.get(first_path)
    assert replaced.status_code == 410 and "not valid" in replaced.text
    assert (await browser.get(second_path)).status_code == 200
    revoked = (await client.get(f"{INVITATIONS}?status=revoked", headers=tenant.headers)).json()["items"]
    assert [i["id"] for i in revoked] == [first["id"]]
    pending = (await client.get(f"{INVITATIONS}?status=pending", headers=tenant.headers)).json()["items"]
    assert [(i["id"], i["role"]) for i in pending] == [(second["id"], "reviewer")]
    created = [data for kind, data in await events_of(database, tenant, "member.invitation.created")]
    assert created[-1]["replaces"] == [first["id"]]

    member = await make_member(database, keys, tenant.id)
    taken = await client.post(
        INVITATIONS, headers=tenant.headers, json={"email": member.member.email.upper(), "role": "advisor"}
    )
    assert taken.status_code == 409 and taken.json()["subCode"] == "EmailNotUnique"


async def test_revoked_and_expired_links_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    mail: MailCatcher,
) -> None:
    revoked = await invite(client, tenant, "rita@bank.example")
    _, revoked_path = await link_in_mail(database, settings, mail, tenant, "rita@bank.example")
    assert (await client.delete(f"{INVITATIONS}/{revoked['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.delete(f"{INVITATIONS}/{revoked['id']}", headers=tenant.headers)).status_code == 204
    assert (await browser.get(revoked_path)).status_code == 410

    expired = await invite(client, tenant, "otto@bank.example", languageCode="DE")
    _, expired_path = await link_in_mail(database, settings, mail, tenant, "otto@bank.example")
    page = await browser.get(expired_path)
    token = csrf_of(page)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(
            update(MemberInvitation)
            .where(MemberInvitation.id == UUID(expired["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    shown = await browser.get(expired_path)
    assert shown.status_code == 410 and "abgelaufen" in shown.text and 'lang="de"' in shown.text
    posted = await browser.post(
        expired_path, data={"password": PASSWORD, "password_repeated": PASSWORD, "csrf_token": token}
    )
    assert posted.status_code == 410
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert await session.scalar(select(Member).where(Member.email == "otto@bank.example")) is None
    listed = (await client.get(f"{INVITATIONS}?status=expired", headers=tenant.headers)).json()["items"]
    assert [i["id"] for i in listed] == [expired["id"]]

    assert (await browser.get("/portal/invitations/not-a-real-token")).status_code == 410
    unknown = await client.delete(f"{INVITATIONS}/{UUID(int=7)}", headers=tenant.headers)
    assert unknown.status_code == 404 and unknown.json()["subCode"] == "InvitationNotFound"


async def test_an_accepted_invitation_cannot_be_revoked(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    mail: MailCatcher,
) -> None:
    made = await invite(client, tenant, "ida@bank.example")
    _, path = await link_in_mail(database, settings, mail, tenant, "ida@bank.example")
    assert (await choose_password(browser, path, PASSWORD)).status_code == 303
    refused = await client.delete(f"{INVITATIONS}/{made['id']}", headers=tenant.headers)
    assert refused.status_code == 409 and refused.json()["subCode"] == "InvitationAlreadyAccepted"


async def test_invitations_stay_in_their_tenant_and_need_members_write(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
) -> None:
    mine = await invite(client, tenant, "sam@bank.example")
    theirs = await invite(client, other_tenant, "sam@bank.example")  # the same person, another bank
    assert mine["id"] != theirs["id"]
    listed = (await client.get(INVITATIONS, headers=other_tenant.headers)).json()
    assert [i["id"] for i in listed["items"]] == [theirs["id"]] and listed["totalCount"] == 1
    foreign = await client.delete(f"{INVITATIONS}/{mine['id']}", headers=other_tenant.headers)
    assert foreign.status_code == 404
    mine_listed = (await client.get(INVITATIONS, headers=tenant.headers)).json()["items"]
    assert [(i["id"], i["status"]) for i in mine_listed] == [(mine["id"], "pending")]

    reader = await make_api_key(database, keys, tenant.id, ["members:read"])
    denied = await client.post(
        INVITATIONS, headers={"Authorization": f"Bearer {reader}"}, json={"email": "x@bank.example", "role": "admin"}
    )
    assert denied.status_code == 403
    bad = await client.post(INVITATIONS, headers=tenant.headers, json={"email": "x@bank.example", "role": "boss"})
    assert bad.status_code in (400, 422) and bad.json()["code"]


async def test_the_link_page_is_rate_limited(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings
) -> None:
    statuses = [(await browser.get(f"/portal/invitations/guess-{n}")).status_code for n in range(40)]
    limit = settings.auth.ip_attempts_per_minute
    assert statuses[:limit] == [410] * limit
    assert statuses[-1] == 429
