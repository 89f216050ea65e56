"""The peer of `api_overhead.py`: a minimal FastAPI app doing what Trustroom's members page does.

Its two routes are the yardsticks: `GET /bare` (nothing at all) and `GET /members?pageSize=10`
(an API-key lookup by keyed hash, one 10-row SELECT with its total, a Pydantic response)
on a copy of the benchmark's data. SQLite: one sync `sqlite3` connection read inline on the
event loop (WAL). PostgreSQL: psycopg, one pool of async connections. No middleware, no
tenant binding, no audit: the floor of this stack, not a product.

Configured by environment (uvicorn imports `create_app` as a factory):
PEER_DATABASE (a SQLite file path or a postgresql:// URL), PEER_HASH_KEY (hex HMAC key of
API keys, derived by the benchmark from the server secret), PEER_POOL_SIZE (default 10).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

KEY_SQL = "SELECT tenant_id, scopes, expires_at, revoked_at FROM api_keys WHERE key_hash = {p}"
PAGE_SQL = (
    "SELECT id, email, display_name, role, disabled_at, created_at, count(*) OVER () "
    "FROM members WHERE tenant_id = {p} ORDER BY email DESC LIMIT {p} OFFSET {p}"
)


class Member(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    email: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime


class Page(BaseModel):
    items: list[Member]
    page: int
    page_size: int
    total: int


def _check_key(row: Any) -> Any:
    if row is None:
        raise HTTPException(401, "invalid key")
    tenant_id, scopes, expires_at, revoked_at = row
    if revoked_at is not None:
        raise HTTPException(401, "revoked")
    if isinstance(expires_at, str):
        expires_at = datetime.fromisoformat(expires_at).replace(tzinfo=UTC)
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise HTTPException(401, "expired")
    if "members:read" not in str(scopes):
        raise HTTPException(403, "scope")
    return tenant_id


def _page(rows: list[Any], page: int, page_size: int) -> Page:
    items = [
        Member(id=str(r[0]), email=r[1], display_name=r[2], role=r[3], disabled=r[4] is not None, created_at=r[5])
        for r in rows
    ]
    return Page(items=items, page=page, page_size=page_size, total=int(rows[0][6]) if rows else 0)


def create_app() -> FastAPI:
    database = os.environ["PEER_DATABASE"]
    hash_key = bytes.fromhex(os.environ["PEER_HASH_KEY"])
    postgres = database.startswith("postgres")
    pool: asyncio.Queue[Any] = asyncio.Queue()
    lite: list[sqlite3.Connection] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if postgres:
            import psycopg  # noqa: PLC0415 - PostgreSQL runs only

            for _ in range(int(os.environ.get("PEER_POOL_SIZE", "10"))):
                pool.put_nowait(await psycopg.AsyncConnection.connect(database, autocommit=True))
        else:
            connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            lite.append(connection)
        yield
        while not pool.empty():
            await pool.get_nowait().close()
        for connection in lite:
            connection.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/members", response_model=Page)
    async def members(
        request: Request,
        page: int = Query(1, ge=1),
        page_size: int = Query(50, ge=1, le=200, alias="pageSize"),
    ) -> Page:
        _scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        key_hash = hmac.new(hash_key, secret.strip().encode(), hashlib.sha256).hexdigest()
        offset = (page - 1) * page_size
        if not postgres:
            connection = lite[0]
            tenant_id = _check_key(connection.execute(KEY_SQL.format(p="?"), (key_hash,)).fetchone())
            rows = connection.execute(PAGE_SQL.format(p="?"), (tenant_id, page_size, offset)).fetchall()
            rows = [(*r[:5], datetime.fromisoformat(r[5]).replace(tzinfo=UTC), r[6]) for r in rows]
            return _page(rows, page, page_size)
        connection = await pool.get()
        try:
            cursor = await connection.execute(KEY_SQL.format(p="%s"), (key_hash,))
            tenant_id = _check_key(await cursor.fetchone())
            cursor = await connection.execute(PAGE_SQL.format(p="%s"), (tenant_id, page_size, offset))
            return _page(await cursor.fetchall(), page, page_size)
        finally:
            pool.put_nowait(connection)

    return app
