"""One request, one transaction, committed before the answer: a failed commit is a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from trustroom.auth.models import ApiKey
from trustroom.db import Database, bind_tenant
from trustroom.http import CurrentActor, SessionDep

from .factories import TenantFixture

PROBE_TABLE = "commit_probe"


async def _create_probe(database: Database) -> None:
    """A table whose rows fail only at COMMIT: a deferred check that no flush can trip."""
    async with database.session() as session:
        if database.is_sqlite:
            await session.execute(text("CREATE TABLE IF NOT EXISTS commit_probe_parent (id INTEGER PRIMARY KEY)"))
            await session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id INTEGER PRIMARY KEY, parent INTEGER "
                    "REFERENCES commit_probe_parent(id) DEFERRABLE INITIALLY DEFERRED)"
                )
            )
        else:
            await session.execute(text(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id serial PRIMARY KEY, parent int)"))
            await session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION commit_probe_fail() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
                )
            )
            await session.execute(text(f"DROP TRIGGER IF EXISTS commit_probe_deferred ON {PROBE_TABLE}"))
            await session.execute(
                text(
                    f"CREATE CONSTRAINT TRIGGER commit_probe_deferred AFTER INSERT ON {PROBE_TABLE} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_probe_fail()"
                )
            )
        await session.commit()


@pytest.fixture
async def failing_app(app: FastAPI, database: Database) -> AsyncIterator[FastAPI]:
    await _create_probe(database)

    @app.post("/api/v1/test-only/commit-fails", status_code=201)
    async def commit_fails(session: SessionDep, actor: CurrentActor) -> dict[str, str]:
        session.add(ApiKey(tenant_id=actor.tenant_id, name="doomed", prefix="x", key_hash="f" * 64, scopes=[]))
        await session.execute(text(f"INSERT INTO {PROBE_TABLE} (parent) VALUES (424242)"))
        await session.flush()
        return {"status": "created"}

    yield app


async def test_commit_failure_answers_5xx_and_keeps_nothing(
    failing_app: FastAPI, client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    response = await client.post("/api/v1/test-only/commit-fails", headers=tenant.headers)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "InternalServerError"
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        doomed = await session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.name == "doomed"))
    assert doomed is None


async def test_service_error_rolls_back_everything(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    """A request that fails after writing leaves no trace: the member list stays empty."""
    body = {"email": "dup@bank.example", "role": "advisor"}
    assert (await client.post("/api/v1/members", json=body, headers=tenant.headers)).status_code == 201
    again = await client.post("/api/v1/members", json=body, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["subCode"] == "EmailNotUnique"
    listing = await client.get("/api/v1/members", headers=tenant.headers)
    assert listing.json()["totalCount"] == 1
