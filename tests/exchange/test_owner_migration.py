"""Migration 6dd35dbe83eb: existing exchanges become owned by the member who made them, and
adding the column leaves every folder in place (a table copy on SQLite would cascade)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import anyio
import pytest
from alembic import command
from pydantic import SecretStr
from sqlalchemy import select, text

from trustroom.cli import alembic_config
from trustroom.db import Database, bind_tenant, uuid7
from trustroom.exchange.models import ClientAccount, Exchange, Folder
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..conftest import ON_POSTGRES, TEST_SECRET, scratch_postgres
from ..factories import make_member, make_tenant

BEFORE = "40b2bac40287"


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{tmp_path / 'migration.db'}"
        yield Settings(data_dir=tmp_path, database_url=url, secret_key=SecretStr(TEST_SECRET)).resolved_database_url


async def _room(database: Database, tenant_id: UUID, created_by: str) -> UUID:
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        account = ClientAccount(
            id=uuid7(),
            tenant_id=tenant_id,
            username=f"user-{uuid7()}",
            external_user_id=f"crm-{uuid7()}",
            language="de",
            password_hash="x",
            email="anna@mail.example",
            mobile_number="+41791234567",
        )
        exchange = Exchange(
            id=uuid7(),
            tenant_id=tenant_id,
            account_id=account.id,
            external_exchange_id=f"room-{uuid7()}",
            name="Mandat",
            created_by=created_by,
        )
        session.add_all([account, exchange])
        await session.flush()
        session.add(Folder(tenant_id=tenant_id, exchange_id=exchange.id, name="Steuern"))
        await session.commit()
        return exchange.id


async def test_existing_exchanges_are_owned_by_their_maker(scratch_url: str, keys: ServerKeys) -> None:
    config = alembic_config(scratch_url)
    # Alembic's environment runs its own event loop: in a thread, beside the test's.
    await anyio.to_thread.run_sync(command.upgrade, config, "head")
    database = Database(scratch_url)
    try:
        tenant = await make_tenant(database, keys)
        member = (await make_member(database, keys, tenant.id)).member
        by_member = await _room(database, tenant.id, f"member:{member.id}")
        by_app = await _room(database, tenant.id, f"app:{tenant.api_key_id}")
        await database.dispose()
        # Back to before the column, then up again: the upgrade must find the maker.
        await anyio.to_thread.run_sync(command.downgrade, config, BEFORE)
        await anyio.to_thread.run_sync(command.upgrade, config, "head")
        database = Database(scratch_url)
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            owners = dict((await session.execute(select(Exchange.id, Exchange.owner_member_id))).all())
            assert owners == {by_member: member.id, by_app: None}
            folders = await session.scalar(text("SELECT count(*) FROM exchange_folders"))
            assert folders == 2
    finally:
        await database.dispose()
