"""The member sign-in belongs to one tenant: the same email with the same password in two
tenants are two members who never meet, neither in a sign-in, nor in a failure, nor in a
lockout; `/portal/login` only leads back to the tenant a browser used, and every "sign in
again" goes to the tenant's own page."""

from __future__ import annotations

import itertools
import re
import time
from uuid import UUID

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from trustroom.auth.models import Member
from trustroom.auth.service.members import NewMember
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture, make_member
from .test_portal import csrf, login_of

SHARED_EMAIL = "sam.weber@bank.example"
SHARED_PASSWORD = "the same password in both banks"
UNKNOWN_TENANT = "01890000-0000-7000-8000-000000000000"
_addresses = itertools.count(1)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    """A browser of its own: cookies, and an address (rate limits count per address)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(f"198.18.9.{next(_addresses)}", 4000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)


@pytest.fixture
async def twins(
    database: Database, keys: ServerKeys, tenant: TenantFixture, other_tenant: TenantFixture
) -> dict[UUID, NewMember]:
    """One member in each tenant, with the same email and the same password."""
    return {
        owner.id: await make_member(
            database, keys, owner.id, email=SHARED_EMAIL, password=SHARED_PASSWORD, display_name=f"Sam {label}"
        )
        for owner, label in ((tenant, "Alpha"), (other_tenant, "Beta"))
    }


async def _password_step(browser: httpx.AsyncClient, tenant_id: UUID | str, password: str) -> httpx.Response:
    token = await csrf(browser, login_of(UUID(str(tenant_id))))
    return await browser.post(
        login_of(UUID(str(tenant_id))), data={"email": SHARED_EMAIL, "password": password, "csrf_token": token}
    )


async def _totp_step(browser: httpx.AsyncClient, code: str) -> httpx.Response:
    token = await csrf(browser, "/portal/login/totp")
    return await browser.post("/portal/login/totp", data={"code": code, "csrf_token": token})


async def _member(database: Database, tenant_id: UUID) -> Member:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant_id)
        member = await session.scalar(select(Member).where(Member.tenant_id == tenant_id, Member.email == SHARED_EMAIL))
    assert member is not None
    return member


def _untouched(member: Member) -> bool:
    return member.failed_attempts == 0 and member.locked_until is None


def _wrong_code(secret: str) -> str:
    """A code the server cannot accept now (it tries now ± one step)."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


async def test_each_tenant_url_signs_in_its_own_member(
    app: FastAPI, tenant: TenantFixture, other_tenant: TenantFixture, twins: dict[UUID, NewMember]
) -> None:
    for owner, twin in ((other_tenant, tenant), (tenant, other_tenant)):
        mine, theirs = twins[owner.id], twins[twin.id]
        async with _browser(app) as browser:
            step = await _password_step(browser, owner.id, SHARED_PASSWORD)
            assert step.status_code == 303 and step.headers["location"] == "/portal/login/totp", step.text
            enrol = await browser.get("/portal/login/totp")
            # The pending sign-in is this tenant's member: their TOTP secret, not the twin's.
            assert mine.totp_secret in enrol.text and theirs.totp_secret not in enrol.text
            refused = await _totp_step(browser, pyotp.TOTP(theirs.totp_secret).now())
            assert refused.status_code == 401  # the twin's authenticator opens nothing here
            done = await _totp_step(browser, pyotp.TOTP(mine.totp_secret).now())
            assert done.status_code == 303 and done.headers["location"] == "/portal/", done.text
            dashboard = await browser.get("/portal/")
            assert dashboard.status_code == 200
            assert mine.member.display_name in dashboard.text and theirs.member.display_name not in dashboard.text


async def test_failures_and_lockout_stay_in_their_tenant(
    app: FastAPI,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    twins: dict[UUID, NewMember],
) -> None:
    attempts = settings.auth.login_max_attempts
    async with _browser(app) as attacker:
        statuses = [
            (await _password_step(attacker, tenant.id, "wrong wrong wrong")).status_code for _ in range(attempts)
        ]
    assert statuses == [401] * (attempts - 1) + [423]
    locked, untouched = await _member(database, tenant.id), await _member(database, other_tenant.id)
    assert locked.locked_until is not None
    assert _untouched(untouched)
    async with _browser(app) as member_of_other:
        assert (await _password_step(member_of_other, other_tenant.id, SHARED_PASSWORD)).status_code == 303
        code = pyotp.TOTP(twins[other_tenant.id].totp_secret).now()
        assert (await _totp_step(member_of_other, code)).status_code == 303
        assert (await member_of_other.get("/portal/")).status_code == 200
    async with _browser(app) as member_of_locked:
        # The right password does not get past the lock, and the other tenant's member is not tried.
        assert (await _password_step(member_of_locked, tenant.id, SHARED_PASSWORD)).status_code == 423


async def test_wrong_passwords_and_codes_count_in_their_tenant_only(
    app: FastAPI, database: Database, tenant: TenantFixture, other_tenant: TenantFixture, twins: dict[UUID, NewMember]
) -> None:
    async with _browser(app) as browser:
        assert (await _password_step(browser, other_tenant.id, "wrong wrong wrong")).status_code == 401
    assert (await _member(database, other_tenant.id)).failed_attempts == 1
    assert _untouched(await _member(database, tenant.id))

    async with _browser(app) as browser:
        assert (await _password_step(browser, tenant.id, SHARED_PASSWORD)).status_code == 303
        assert (await _totp_step(browser, _wrong_code(twins[tenant.id].totp_secret))).status_code == 401
    assert (await _member(database, tenant.id)).failed_attempts == 1
    assert (await _member(database, other_tenant.id)).failed_attempts == 1  # as before: not the twin's


async def test_sign_in_urls_name_a_known_tenant(
    app: FastAPI, database: Database, tenant: TenantFixture, twins: dict[UUID, NewMember]
) -> None:
    async with _browser(app) as browser:
        for path in ("/portal/t/not-a-tenant/login", f"/portal/t/{UNKNOWN_TENANT}/login", "/portal/t/%00/login"):
            unknown = await browser.get(f"{path}?language=de")
            assert unknown.status_code == 404, path
            assert 'name="password"' not in unknown.text and "Link Ihrer Organisation" in unknown.text
        token = await csrf(browser, login_of(tenant.id))
        for path in (f"/portal/t/{UNKNOWN_TENANT}/login", "/portal/t/1/login"):
            refused = await browser.post(
                path, data={"email": SHARED_EMAIL, "password": SHARED_PASSWORD, "csrf_token": token}
            )
            assert refused.status_code == 404 and "organization" in refused.text
    assert _untouched(await _member(database, tenant.id))


@pytest.mark.parametrize("language", ["de", "en", "fr", "it"])
async def test_without_a_remembered_tenant_the_page_asks_for_the_link(
    app: FastAPI, tenant: TenantFixture, twins: dict[UUID, NewMember], language: str
) -> None:
    expected = {
        "de": "Link Ihrer Organisation",
        "en": "organization&#39;s link to the advisor portal",
        "fr": "lien de votre organisation",
        "it": "link della Sua organizzazione",
    }[language]
    async with _browser(app) as browser:
        page = await browser.get(f"/portal/login?language={language}")
        assert page.status_code == 200 and f'<html lang="{language}">' in page.text
        assert expected in page.text
        assert 'name="password"' not in page.text and str(tenant.id) not in page.text  # no tenant is disclosed
        # The old form's address reads no password and signs in nobody.
        old_form = await browser.post(
            f"/portal/login?language={language}", data={"email": SHARED_EMAIL, "password": SHARED_PASSWORD}
        )
        assert old_form.status_code == 200 and expected in old_form.text
        assert "set-cookie" not in old_form.headers or "trustroom_pending" not in old_form.headers["set-cookie"]


async def test_a_remembered_tenant_is_where_sign_in_leads(
    app: FastAPI, tenant: TenantFixture, other_tenant: TenantFixture, twins: dict[UUID, NewMember]
) -> None:
    async with _browser(app) as browser:
        shown = await browser.get(login_of(other_tenant.id))
        assert shown.status_code == 200 and "__Host-trustroom_portal_tenant=" in shown.headers["set-cookie"]
        # Having seen a tenant's sign-in page, the browser is led back there.
        forwarded = await browser.get("/portal/login?language=fr")
        assert forwarded.status_code == 303
        assert forwarded.headers["location"] == f"{login_of(other_tenant.id)}?language=fr"
        old_form = await browser.post("/portal/login", data={"email": SHARED_EMAIL, "password": SHARED_PASSWORD})
        assert old_form.status_code == 303 and old_form.headers["location"] == login_of(other_tenant.id)
        # Without a session, portal pages and the code step lead to that tenant's page too.
        assert (await browser.get("/portal/contacts")).headers["location"] == login_of(other_tenant.id)
        assert (await browser.get("/portal/login/totp")).headers["location"] == login_of(other_tenant.id)

        # Signing in elsewhere moves it: sign-out and an ended session lead to that tenant.
        assert (await _password_step(browser, tenant.id, SHARED_PASSWORD)).status_code == 303
        done = await _totp_step(browser, pyotp.TOTP(twins[tenant.id].totp_secret).now())
        assert done.status_code == 303
        dashboard = await browser.get("/portal/?language=de")
        found = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text)
        assert found
        out = await browser.post("/portal/logout?language=de", data={"csrf_token": found.group(1)})
        assert out.status_code == 303 and out.headers["location"] == f"{login_of(tenant.id)}?language=de"
        assert (await browser.get("/portal/")).headers["location"] == login_of(tenant.id)

    async with _browser(app) as garbled:
        page = await garbled.get("/portal/login", headers={"Cookie": "__Host-trustroom_portal_tenant=not-a-uuid"})
        assert page.status_code == 200 and 'name="password"' not in page.text
