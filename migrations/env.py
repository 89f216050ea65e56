"""Alembic environment: async engine from Trustroom's settings, metadata from trustroom.models."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from trustroom.clients.models import SEARCH_INDEX, SEARCH_TABLES
from trustroom.db import Database
from trustroom.models import metadata
from trustroom.settings import Settings

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or Settings().resolved_database_url
    return str(url)


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave out the search objects made by hand (FTS5 tables with their shadow tables, the
    trigram index): the metadata does not describe them, so a comparison would drop them."""
    if type_ == "table" and name is not None and name.startswith(SEARCH_TABLES):
        return False
    return not (type_ == "index" and name == SEARCH_INDEX)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    database = Database(_url())
    async with database.engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await database.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
