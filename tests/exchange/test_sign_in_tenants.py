"""The client sign-in belongs to one tenant: two providers' clients with the same username
and password never meet, neither in a sign-in, nor in a failure, nor in a lockout."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from trustroom.db import Database, bind_tenant
from trustroom.exchange.models import ClientAccount
from trustroom.settings import Settings

from ..factories import TenantFixture
from .conftest import PASSWORD, create_exchange
from .test_client_portal import csrf_of, last_code, login_of

SHARED_USERNAME = "anna.muster"
_addresses = itertools.count(1)


def _browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(f"198.18.7.{next(_addresses)}", 4000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)


@pytest.fixture
async def twins(
    client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> dict[UUID, dict[str, Any]]:
    """One exchange in each tenant, for clients with the same username and password."""
    return {
        owner.id: await create_exchange(client, owner.headers, username=SHARED_USERNAME, name=f"Raum {label}")
        for owner, label in ((tenant, "Alpha"), (other_tenant, "Beta"))
    }


async def _password_step(browser: httpx.AsyncClient, tenant: TenantFixture, password: str) -> httpx.Response:
    token = csrf_of(await browser.get(login_of(tenant)))
    return await browser.post(
        login_of(tenant), data={"username": SHARED_USERNAME, "password": password, "csrf_token": token}
    )


async def _account(database: Database, tenant: TenantFixture) -> ClientAccount:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        account = await session.scalar(
            select(ClientAccount).where(ClientAccount.tenant_id == tenant.id, ClientAccount.username == SHARED_USERNAME)
        )
    assert account is not None
    return account


async def test_each_tenant_url_signs_in_its_own_client(
    app: FastAPI,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    twins: dict[UUID, dict[str, Any]],
) -> None:
    for owner, room_name in ((other_tenant, "Raum Beta"), (tenant, "Raum Alpha")):
        async with _browser(app) as browser:
            step = await _password_step(browser, owner, PASSWORD)
            assert step.status_code == 303, step.text
            code = await last_code(database, settings, owner, SHARED_USERNAME)
            token = csrf_of(await browser.get(step.headers["location"]))
            done = await browser.post("/x/code", data={"code": code, "csrf_token": token})
            assert done.status_code == 303, done.text
            room = await browser.get(done.headers["location"])
            assert room.status_code == 200 and room_name in room.text
            other_room = ({"Raum Alpha", "Raum Beta"} - {room_name}).pop()
            assert other_room not in room.text


async def test_failures_and_lockout_stay_in_their_tenant(
    app: FastAPI,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    twins: dict[UUID, dict[str, Any]],
) -> None:
    async with _browser(app) as attacker:
        statuses = [
            (await _password_step(attacker, tenant, "wrong wrong wrong")).status_code
            for _ in range(settings.auth.login_max_attempts)
        ]
    assert statuses == [401] * (settings.auth.login_max_attempts - 1) + [423]
    locked, untouched = await _account(database, tenant), await _account(database, other_tenant)
    assert locked.locked_until is not None
    assert untouched.failed_attempts == 0 and untouched.locked_until is None
    async with _browser(app) as client_of_other:
        assert (await _password_step(client_of_other, other_tenant, PASSWORD)).status_code == 303
    async with _browser(app) as client_of_locked:
        # The right password does not get past the lock, and the other tenant's account is not tried.
        assert (await _password_step(client_of_locked, tenant, PASSWORD)).status_code == 423


async def test_a_wrong_password_in_one_tenant_counts_there_only(
    app: FastAPI,
    database: Database,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
    twins: dict[UUID, dict[str, Any]],
) -> None:
    async with _browser(app) as browser:
        assert (await _password_step(browser, other_tenant, "wrong wrong wrong")).status_code == 401
    assert (await _account(database, other_tenant)).failed_attempts == 1
    assert (await _account(database, tenant)).failed_attempts == 0


async def test_sign_in_urls_name_a_known_tenant(app: FastAPI, tenant: TenantFixture) -> None:
    async with _browser(app) as browser:
        unknown = await browser.get("/x/login")
        assert unknown.status_code == 200 and 'name="password"' not in unknown.text
        assert "sign-in link your provider" in unknown.text
        for bad in ("/x/t/not-a-tenant/login", "/x/t/01890000-0000-7000-8000-000000000000/login"):
            assert (await browser.get(bad)).status_code == 404
        token = csrf_of(await browser.get(login_of(tenant)))
        refused = await browser.post(
            "/x/t/01890000-0000-7000-8000-000000000000/login",
            data={"username": SHARED_USERNAME, "password": PASSWORD, "csrf_token": token},
        )
        assert refused.status_code == 404
        # Having seen a tenant's sign-in page, the browser is led back there.
        forwarded = await browser.get("/x/login?language=fr")
        assert forwarded.status_code == 303
        assert forwarded.headers["location"] == f"{login_of(tenant)}?language=fr"
