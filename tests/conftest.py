"""Shared test set-up: one migrated database per run (SQLite, or PostgreSQL when
TRUSTROOM_TEST_DATABASE=postgres), an app per test, and an HTTP client over ASGI.

Tests isolate themselves by creating their own tenants; nothing is shared between tests
but the schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from trustroom.app import create_app
from trustroom.cli import migrate
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from .factories import TenantFixture, make_tenant
from .objectstore import MotoServer
from .outbound import MailCatcher
from .scanner import ClamdServer

ON_POSTGRES = os.environ.get("TRUSTROOM_TEST_DATABASE") == "postgres"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, tests marked `database_free` do not run again.

    They test pure code (the signing core, parsers, the audit report) with no database at
    all, so they give the same answer on both passes; they ran on the SQLite pass, and a
    second run would only spend the suite's time budget. A test is marked by hand, and the
    mark is refused on a test that reaches the database after all.
    """
    if not ON_POSTGRES:
        return
    kept, dropped = [], []
    for item in items:
        if item.get_closest_marker("database_free") is None:
            kept.append(item)
            continue
        if "database_url" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} is marked database_free but uses the database")
        dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A database of this run's own beside the given one, so parallel runs never collide."""
    name = f"trustroom_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield str(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trustroom-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    """A freshly migrated database for this test run."""
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{data_dir / 'test.db'}"
        migrate(Settings(data_dir=data_dir, database_url=url, secret_key=SecretStr(TEST_SECRET)))
        yield url


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
    return ServerKeys.from_settings(settings)


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


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    catcher = MailCatcher()
    catcher.controller.start()
    yield catcher
    catcher.controller.stop()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's S3 server in its own process, started when a test first needs it."""
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """A real clamd with the tests' signature, started when a test first needs it."""
    server = ClamdServer(tmp_path_factory.mktemp("clamd"))
    yield server
    server.stop()
