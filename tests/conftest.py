"""Shared test set-up: one migrated database per run (SQLite, or PostgreSQL when
TRUSTROOM_TEST_DATABASE=postgres), an app per test, and an HTTP client over ASGI.

Tests isolate themselves by creating their own tenants; nothing is shared between tests
but the schema.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from trustroom.app import create_app
from trustroom.auth.keys import ServerKeys
from trustroom.cli import migrate
from trustroom.db import Database
from trustroom.settings import Settings

from .factories import TenantFixture, make_tenant

ON_POSTGRES = os.environ.get("TRUSTROOM_TEST_DATABASE") == "postgres"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _reset_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trustroom-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    """A freshly migrated database for this test run."""
    if ON_POSTGRES:
        url = os.environ["TRUSTROOM_TEST_POSTGRES_URL"]
        _reset_postgres(url)
    else:
        url = f"sqlite:///{data_dir / 'test.db'}"
    migrate(Settings(data_dir=data_dir, database_url=url, secret_key=SecretStr(TEST_SECRET)))
    return url


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET),
        run_worker_in_process=False,
        log_json=True,
    )


@pytest.fixture(scope="session")
def keys(settings: Settings) -> ServerKeys:
    return ServerKeys(settings.secret())


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, run_worker_in_process=False)
    yield application
    await application.state.database.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.10", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http_client:
        yield http_client


@pytest.fixture
async def tenant(database: Database, keys: ServerKeys) -> TenantFixture:
    """A fresh tenant with an all-scopes API key."""
    return await make_tenant(database, keys)


@pytest.fixture
async def other_tenant(database: Database, keys: ServerKeys) -> TenantFixture:
    return await make_tenant(database, keys, name="Other Bank")
