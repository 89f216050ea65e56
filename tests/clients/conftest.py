"""Fixtures for client records: members acting through the tenant's key, and a contact factory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from trustroom.auth.models import Role
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX
from trustroom.jobs.models import CLAIMABLE, Event, Job
from trustroom.jobs.runner import Runner
from trustroom.jobs.service import Task
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture, make_member

CONTACTS = f"{API_PREFIX}/contacts"


@dataclass(frozen=True)
class Person:
    """A member reached through the tenant's key with X-Acting-Member."""

    id: UUID
    headers: dict[str, str]


async def person(database: Database, keys: ServerKeys, tenant: TenantFixture, role: Role) -> Person:
    new = await make_member(database, keys, tenant.id, role=role)
    return Person(new.member.id, {**tenant.headers, "X-Acting-Member": str(new.member.id)})


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADVISOR)


@pytest.fixture
async def reviewer(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADMIN)


@pytest.fixture
async def admin(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADMIN)


def anna(**extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "personalInformation": {"firstName": "Anna", "lastName": "Muster", "language": "DE"},
        "communication": {"email": "anna.muster@example.com", "mobile": "+41791234567"},
        "address": {"street": "Bahnhofstrasse 1", "postalCode": "8001", "city": "Zürich", "country": "CH"},
    }
    for section, values in extra.items():
        details.setdefault(section, {}).update(values)
    return details


_usernames = iter(range(1, 1_000_000))


async def create_contact(
    client: httpx.AsyncClient, headers: dict[str, str], details: dict[str, Any] | None = None, **body: Any
) -> dict[str, Any]:
    payload = {"contactTypeId": 1, "username": f"client{next(_usernames)}", "details": details or anna(), **body}
    response = await client.post(CONTACTS, headers=headers, json=payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def events_of(database: Database, tenant: TenantFixture, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The tenant's events whose type starts with `prefix`, oldest first: (type, data)."""
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        rows = await session.scalars(
            select(Event).where(Event.tenant_id == tenant.id, Event.type.startswith(prefix)).order_by(Event.id)
        )
        return [(row.type, row.data) for row in rows]


async def run_jobs(
    database: Database, settings: Settings, tenant: TenantFixture, *tasks: Task, within: float = 60
) -> None:
    """Run a worker with `tasks` until none of the tenant's jobs of those tasks is left to do."""
    names = [task.name for task in tasks]

    async def waiting() -> int:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            count = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.tenant_id == tenant.id, Job.task.in_(names), Job.status.in_(CLAIMABLE))
            )
            return int(count or 0)

    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    runner = Runner(database, fast, tasks, concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + within
    try:
        while await waiting():
            assert time.monotonic() < deadline, "jobs still waiting"
            assert not worker.done(), worker
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


def stored_blobs(settings: Settings) -> dict[str, bytes]:
    """Every file of the local blob store, by name, as it lies on disk."""
    root = Path(settings.data_dir, "blobs")
    return {path.name: path.read_bytes() for path in root.rglob("*") if path.is_file()}
