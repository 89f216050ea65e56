"""Webhook test fixtures: a database of their own, real receivers on 127.0.0.1, a runner.

Delivery tests run the job engine over a database of their own, so no other test's events
(with endpoints on names that would need DNS) are delivered from here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from trustroom.app import create_app
from trustroom.auth.events import MEMBER_CREATED
from trustroom.auth.service import tenants
from trustroom.cli import migrate
from trustroom.db import Database, bind_tenant
from trustroom.jobs import service as jobs
from trustroom.jobs.runner import Runner
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks import service, tasks
from trustroom.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from trustroom.webhooks.schemas import EndpointCreate

from ..conftest import ON_POSTGRES, TEST_SECRET, scratch_postgres
from ..factories import TenantFixture, make_tenant

QUICK_DELIVER = dataclasses.replace(tasks.DELIVER, retry_delays=(0.1,) * len(tasks.RETRY_DELAYS))


@pytest.fixture
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings over a fresh database, admitting http receivers on 127.0.0.0/8."""
    data_dir = tmp_path_factory.mktemp("delivery")
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{Path(data_dir) / 'delivery.db'}"
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            secret_key=SecretStr(TEST_SECRET),
            run_worker_in_process=False,
            worker_poll_seconds=0.05,
            webhooks={"allow_http": True, "allowed_networks": ["127.0.0.0/8"], "timeout_seconds": 0.5},
        )
        migrate(settings)
        yield settings


@pytest.fixture
async def world(local: Settings) -> AsyncIterator[tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]]:
    database = Database(local.resolved_database_url)
    keys = ServerKeys.from_settings(local)
    tenant = await make_tenant(database, keys)
    app = create_app(local, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield database, keys, tenant, client
    await app.state.database.dispose()
    await database.dispose()


async def add_endpoint(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture, url: str, **fields: Any
) -> tuple[WebhookEndpoint, str]:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        body = EndpointCreate(url=url, **fields)
        endpoint, secret = await service.create(
            session, tenants.operator(tenant.id), keys, settings.webhooks, {"member.created"}, body
        )
        await session.commit()
    return endpoint, secret


async def run_until(
    database: Database, settings: Settings, done: Any, within: float = 15.0, concurrency: int = 4
) -> None:
    runner = Runner(database, settings, (QUICK_DELIVER,), subscribers=(tasks.fan_out,), concurrency=concurrency)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + within
    try:
        while not await done():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def delivery_of(database: Database, tenant: TenantFixture) -> tuple[WebhookDelivery | None, list[WebhookAttempt]]:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        delivery = await session.scalar(select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant.id))
        attempts = list(
            await session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.tenant_id == tenant.id).order_by(WebhookAttempt.attempt)
            )
        )
    return delivery, attempts


def status_is(database: Database, tenant: TenantFixture, status: DeliveryStatus) -> Callable[[], Awaitable[bool]]:
    """A check for `run_until`: the tenant's delivery has reached `status`."""

    async def check() -> bool:
        delivery, _ = await delivery_of(database, tenant)
        return delivery is not None and delivery.status == status

    return check


async def create_member(client: httpx.AsyncClient, tenant: TenantFixture) -> str:
    response = await client.post(
        "/api/v1/members", json={"email": "hook@bank.example", "role": "advisor"}, headers=tenant.headers
    )
    assert response.status_code == 201
    member_id: str = response.json()["id"]
    return member_id


async def emit_members_created(database: Database, tenant: TenantFixture, count: int) -> None:
    """`count` member.created events in one transaction, as a burst of API calls would."""
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        for _ in range(count):
            await jobs.emit(session, MEMBER_CREATED, {"member_id": uuid4()}, tenant_id=tenant.id)
        await session.commit()


def with_webhooks(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"webhooks": settings.webhooks.model_copy(update=changes)})
