"""The audit log is append-only and hash-chained; `trustroom audit verify` finds tampering."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from trustroom import cli
from trustroom.db import Database, append_only_sql, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..conftest import TEST_SECRET
from ..factories import TenantFixture, make_member

Tamper = Callable[[Database, UUID], Awaitable[None]]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("TRUSTROOM_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TRUSTROOM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRUSTROOM_SECRET_KEY", TEST_SECRET)


async def verify(capsys: pytest.CaptureFixture[str], tenant_id: UUID | None) -> tuple[int, dict[str, object]]:
    argv = ["audit", "verify", "--json"] + (["--tenant", str(tenant_id)] if tenant_id else [])
    code = await asyncio.to_thread(cli.run, argv)  # the CLI runs its own event loop
    return code, json.loads(capsys.readouterr().out)


async def _chain_of_three(database: Database, keys: ServerKeys, tenant: TenantFixture) -> None:
    for _ in range(3):
        await make_member(database, keys, tenant.id)


async def _unprotected(database: Database, tenant_id: UUID, statements: list[str]) -> None:
    """Run raw SQL with the append-only triggers out of the way, as a database owner could."""
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        if database.is_sqlite:
            await session.execute(text("DROP TRIGGER audit_events_no_update"))
            await session.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await session.execute(text(statement), {"tenant": _bound(database, tenant_id)})
        if database.is_sqlite:
            for statement in append_only_sql("sqlite", "audit_events"):
                await session.execute(text(statement))
        await session.commit()


def _bound(database: Database, tenant_id: UUID) -> object:
    """A tenant id as raw SQL sees it: SQLite stores UUIDs as 32 hex digits."""
    return tenant_id.hex if database.is_sqlite else tenant_id


def _tenant(column: str = "tenant_id") -> str:
    return f"{column} = :tenant"


async def edit_row(database: Database, tenant_id: UUID) -> None:
    await _unprotected(
        database, tenant_id, [f"UPDATE audit_events SET action = 'auth.member.deleted' WHERE {_tenant()} AND seq = 2"]
    )


async def delete_middle_row(database: Database, tenant_id: UUID) -> None:
    await _unprotected(database, tenant_id, [f"DELETE FROM audit_events WHERE {_tenant()} AND seq = 2"])


async def delete_newest_row(database: Database, tenant_id: UUID) -> None:
    await _unprotected(database, tenant_id, [f"DELETE FROM audit_events WHERE {_tenant()} AND seq = 4"])


async def reorder_rows(database: Database, tenant_id: UUID) -> None:
    await _unprotected(
        database,
        tenant_id,
        [
            f"UPDATE audit_events SET seq = -2 WHERE {_tenant()} AND seq = 2",
            f"UPDATE audit_events SET seq = 2 WHERE {_tenant()} AND seq = 3",
            f"UPDATE audit_events SET seq = 3 WHERE {_tenant()} AND seq = -2",
        ],
    )


@pytest.mark.usefixtures("cli_env")
async def test_untouched_chain_is_intact(
    database: Database, keys: ServerKeys, tenant: TenantFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    await _chain_of_three(database, keys, tenant)
    code, report = await verify(capsys, tenant.id)
    assert code == 0
    assert report == {"intact": True, "tenants": 1, "rows": 4}


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        (edit_row, 2, "edited"),
        (delete_middle_row, 3, "missing"),
        (delete_newest_row, 3, "deleted"),
        (reorder_rows, 2, "moved"),
    ],
)
async def test_tampering_is_detected(
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    capsys: pytest.CaptureFixture[str],
    tamper: Tamper,
    bad_seq: int,
    reason: str,
) -> None:
    await _chain_of_three(database, keys, tenant)
    await tamper(database, tenant.id)

    code, report = await verify(capsys, tenant.id)

    assert code == 1
    assert report["intact"] is False
    bad = report["firstBadRow"]
    assert isinstance(bad, dict)
    assert bad["tenantId"] == str(tenant.id)
    assert bad["seq"] == bad_seq
    assert reason in str(bad["reason"])


async def test_audit_rows_refuse_update_and_delete(database: Database, keys: ServerKeys, tenant: TenantFixture) -> None:
    await make_member(database, keys, tenant.id)
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE tenant_id = :t",
        "DELETE FROM audit_events WHERE tenant_id = :t",
    ):
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement), {"t": _bound(database, tenant.id)})


async def test_audit_events_api_filters_and_pages(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    new = await make_member(database, keys, tenant.id)
    created = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["contacts:read"]}, headers=tenant.headers
    )
    key_id = created.json()["id"]

    everything = (await client.get("/api/v1/audit-events", headers=tenant.headers)).json()
    assert everything["totalCount"] == 3
    assert [e["seq"] for e in everything["items"]] == [3, 2, 1]

    by_action = await client.get("/api/v1/audit-events", params={"action": "auth.api_key.*"}, headers=tenant.headers)
    [event] = by_action.json()["items"]
    assert event["targetId"] == key_id
    assert event["actorKind"] == "app"
    assert event["apiKeyId"] == str(tenant.api_key_id)
    assert event["correlationId"]

    by_target = await client.get(
        "/api/v1/audit-events",
        params={"targetType": "member", "targetId": str(new.member.id), "sortOrder": "Ascending"},
        headers=tenant.headers,
    )
    assert by_target.json()["totalCount"] == 1

    by_actor = await client.get("/api/v1/audit-events", params={"actor": key_id}, headers=tenant.headers)
    assert by_actor.json()["totalCount"] == 0

    window = await client.get(
        "/api/v1/audit-events",
        params={"from": event["occurredAt"], "to": "2999-01-01T00:00:00Z", "pageSize": 1},
        headers=tenant.headers,
    )
    page = window.json()
    assert page["totalCount"] == 1
    assert page["pageCount"] == 1
