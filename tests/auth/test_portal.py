"""Advisor-portal sign-in over HTTP: CSRF, password, TOTP enrolment, lockout, rate limits."""

from __future__ import annotations

import re
import time
from uuid import UUID

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from trustroom.app import create_app
from trustroom.auth.models import Role
from trustroom.auth.service.members import NewMember
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture, make_member

_ip_counter = iter(range(1, 250))


@pytest.fixture
async def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client with its own address, cookies and no redirects followed."""
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=(f"198.51.100.{next(_ip_counter)}", 4000)
    )
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)


def login_of(tenant_id: UUID) -> str:
    """The tenant's own sign-in page: member sign-ins are bound to one tenant."""
    return f"/portal/t/{tenant_id}/login"


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def password_step(client: httpx.AsyncClient, member: NewMember, password: str | None = None) -> httpx.Response:
    login = login_of(member.member.tenant_id)
    token = await csrf(client, login)
    return await client.post(
        login, data={"email": member.member.email, "password": password or member.password, "csrf_token": token}
    )


async def totp_step(client: httpx.AsyncClient, code: str) -> httpx.Response:
    """The code for the pending sign-in (the TOTP page of a pending sign-in has the form)."""
    token = await csrf(client, "/portal/login/totp")
    return await client.post("/portal/login/totp", data={"code": code, "csrf_token": token})


@pytest.fixture
async def member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> NewMember:
    return await make_member(database, keys, tenant.id)


async def test_sign_in_enrols_totp_then_opens_the_dashboard(browser: httpx.AsyncClient, member: NewMember) -> None:
    first = await password_step(browser, member)
    assert first.status_code == 303 and first.headers["location"] == "/portal/login/totp"
    enrol = await browser.get("/portal/login/totp")
    assert 'class="qr"' in enrol.text and "data:image/svg+xml" in enrol.text
    assert member.totp_secret in enrol.text

    done = await totp_step(browser, pyotp.TOTP(member.totp_secret).now())
    assert done.status_code == 303 and done.headers["location"] == "/portal/"
    cookie = done.headers["set-cookie"]
    assert "__Host-trustroom_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    dashboard = await browser.get("/portal/")
    assert dashboard.status_code == 200
    assert member.member.display_name in dashboard.text
    assert dashboard.headers["content-security-policy"].startswith("default-src 'self'")

    token = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text)
    assert token
    out = await browser.post("/portal/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303 and out.headers["location"] == login_of(member.member.tenant_id)
    cleared = out.headers["set-cookie"]
    assert cleared.startswith("__Host-trustroom_session=") and "Max-Age=0" in cleared and "Secure" in cleared
    assert (await browser.get("/portal/")).status_code == 303


async def test_second_sign_in_asks_for_the_code_only_and_refuses_replays(
    browser: httpx.AsyncClient, member: NewMember
) -> None:
    totp = pyotp.TOTP(member.totp_secret)
    await password_step(browser, member)
    code = totp.now()
    assert (await totp_step(browser, code)).status_code == 303

    await password_step(browser, member)
    page = await browser.get("/portal/login/totp")
    assert 'class="qr"' not in page.text
    replay = await totp_step(browser, code)
    assert replay.status_code == 401
    assert 'role="alert"' in replay.text
    later = await totp_step(browser, totp.at(time.time() + 30))
    assert later.status_code == 303


async def test_forms_without_a_valid_csrf_token_are_refused(browser: httpx.AsyncClient, member: NewMember) -> None:
    login = login_of(member.member.tenant_id)
    await browser.get(login)
    for token in (None, "forged"):
        data = {"email": member.member.email, "password": member.password}
        if token:
            data["csrf_token"] = token
        response = await browser.post(login, data=data)
        assert response.status_code == 403
        assert "CsrfTokenInvalid" in response.text
    token = await csrf(browser, login)
    cross_site = await browser.post(
        login,
        data={"email": member.member.email, "password": member.password, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403


async def test_repeated_failures_lock_the_member(browser: httpx.AsyncClient, member: NewMember) -> None:
    for _ in range(4):
        assert (await password_step(browser, member, "wrong password")).status_code == 401
    locked = await password_step(browser, member, "wrong password")
    assert locked.status_code == 423
    still_locked = await password_step(browser, member)
    assert still_locked.status_code == 423
    assert "locked" in still_locked.text


async def test_wrong_email_and_expired_step_are_handled(browser: httpx.AsyncClient, member: NewMember) -> None:
    login = login_of(member.member.tenant_id)
    token = await csrf(browser, login)
    unknown = await browser.post(login, data={"email": "nobody@bank.example", "password": "x", "csrf_token": token})
    assert unknown.status_code == 401
    no_step = await browser.get("/portal/login/totp")
    assert no_step.status_code == 303 and no_step.headers["location"] == login
    expired = await browser.post("/portal/login/totp", data={"code": "123456", "csrf_token": token})
    # Nothing to enter a code for: the answer is the tenant's sign-in form, with why.
    assert expired.status_code == 401
    assert f'action="{login}"' in expired.text and 'role="alert"' in expired.text


async def test_attempts_per_address_are_rate_limited(settings: Settings, member: NewMember) -> None:
    limit = 3
    strict = settings.model_copy(update={"auth": settings.auth.model_copy(update={"ip_attempts_per_minute": limit})})
    app = create_app(strict, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("192.0.2.99", 4000))
    login = login_of(member.member.tenant_id)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        token = await csrf(client, login)
        statuses = [
            (
                await client.post(login, data={"email": f"n{i}@bank.example", "password": "x", "csrf_token": token})
            ).status_code
            for i in range(limit + 1)
        ]
    await app.state.database.dispose()
    assert statuses[:limit] == [401] * limit
    assert statuses[-1] == 429


async def test_pages_are_localized(browser: httpx.AsyncClient, tenant: TenantFixture) -> None:
    german = await browser.get(f"{login_of(tenant.id)}?language=de")
    assert '<html lang="de">' in german.text
    assert "Passwort" in german.text
    assert f'action="{login_of(tenant.id)}?language=de"' in german.text
    french = await browser.get(login_of(tenant.id), headers={"Accept-Language": "fr-CH, de;q=0.5"})
    assert '<html lang="fr">' in french.text


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.REVIEWER, {"/portal/contacts", "/portal/reviews"}, {"/portal/exchanges"}),
        (Role.ADVISOR, {"/portal/contacts", "/portal/exchanges"}, {"/portal/reviews"}),
    ],
)
async def test_the_dashboard_offers_only_what_the_member_may_open(
    browser: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    role: Role,
    shown: set[str],
    hidden: set[str],
) -> None:
    member = await make_member(database, keys, tenant.id, role=role)
    await password_step(browser, member)
    assert (await totp_step(browser, pyotp.TOTP(member.totp_secret).now())).status_code == 303
    dashboard = await browser.get("/portal/")
    links = set(re.findall(r'href="(/portal/[^"?]+)', dashboard.text))
    assert shown <= links and not hidden & links
    assert "Signatures" not in dashboard.text  # no tile for a feature that is not built
    for link in links:  # and none of them a dead end
        assert (await browser.get(link)).status_code == 200, link
