"""Named cache generations: per-process caches that a database change invalidates at once in every process.

A row per name in `cache_generations` holds a counter. Triggers on the tables a cache is
filled from bump that counter inside the transaction that changes them (`bump_trigger_sql`),
so no code path can forget it: the API, the CLI, a worker in another process and SQL typed
by hand all count. A `GenerationCache` remembers the counter its entries were read under
and drops every entry when a later read of the counter differs (ADR 0012).

Each use of a cache reads the counter afresh, and the value it gets is at least as new as
the moment of the call: a change committed before a request arrived is seen by that
request, whichever process made it.
- SQLite: one plain `SELECT` on a lean, read-only `sqlite3` connection of this process, run
  inline on the event loop (a few microseconds; in WAL mode a reader never waits for the
  writer). Its busy timeout is zero: if SQLite ever answers busy, the read gives up and
  the caller goes to the database as if nothing were cached.
- PostgreSQL: the same `SELECT` on one dedicated autocommit connection. Concurrent callers
  share reads: a caller takes the result of any read that *started* after it arrived, so
  under load one round trip serves every request that queued meanwhile. A failed read
  drops the connection (reconnected on next use) and serves nothing from the cache.

LISTEN/NOTIFY was considered for PostgreSQL: a notification reaches the other processes
asynchronously, after the revoking request has answered, so "the very next request" could
still be served from the stale cache. The shared read costs less than a pooled query and
has no such window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

log = logging.getLogger("trustroom.generations")

AUTH = "auth"  # API keys, their tenants and acting members (auth.service.api_keys)
WEBHOOK_SECRETS = "webhook_secrets"  # endpoints' signing secrets (webhooks.secret_cache)
READ_TIMEOUT_SECONDS = 2.0
_SELECT = "SELECT name, value FROM cache_generations"


class CacheGeneration(Base):
    """One counter per named cache; only triggers write it (and the migration that seeds it)."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


def _identifier(name: str) -> str:
    # Names and tables come from code (migrations), never from input; refuse anything else anyway.
    if not re.fullmatch(r"[a-z_]{1,40}", name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def seed_sql(name: str) -> str:
    return f"INSERT INTO cache_generations (name, value) VALUES ('{_identifier(name)}', 0)"  # noqa: S608 - checked


def bump_trigger_sql(
    dialect: str, name: str, table: str, columns: Sequence[str], *, on_insert: bool = False
) -> list[str]:
    """Triggers that bump generation `name` when one of `columns` of `table` is set, or a row is deleted.

    Only the listed columns count, so bookkeeping updates (say, a key's last-used time)
    leave the caches warm. New rows need no bump where a cache holds single rows (nothing
    caches a row that did not exist); a cache of row *sets* (an endpoint's secrets) needs
    `on_insert`.
    """
    cols = ", ".join(_identifier(column) for column in columns)
    name, table = _identifier(name), _identifier(table)
    bump = f"UPDATE cache_generations SET value = value + 1 WHERE name = '{name}'"  # noqa: S608 - checked
    if dialect == "postgresql":
        events = f"{'INSERT OR ' if on_insert else ''}UPDATE OF {cols} OR DELETE"
        return [
            "CREATE OR REPLACE FUNCTION trustroom_bump_generation() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE cache_generations SET value = value + 1 WHERE name = TG_ARGV[0]; RETURN NULL; END $$",
            f"CREATE TRIGGER {table}_bump_{name} AFTER {events} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION trustroom_bump_generation('{name}')",
        ]
    statements = [
        f"CREATE TRIGGER {table}_bump_{name}_update AFTER UPDATE OF {cols} ON {table} BEGIN {bump}; END",
        f"CREATE TRIGGER {table}_bump_{name}_delete AFTER DELETE ON {table} BEGIN {bump}; END",
    ]
    if on_insert:
        statements.append(f"CREATE TRIGGER {table}_bump_{name}_insert AFTER INSERT ON {table} BEGIN {bump}; END")
    return statements


def drop_trigger_sql(dialect: str, name: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_bump_{name} ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {table}_bump_{name}_{event}" for event in ("update", "delete", "insert")]


class Generations:
    """Reads the counters of one database for this process (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._sqlite_path = parsed.database or ""
        self._conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: Any = None  # psycopg.AsyncConnection, imported only on PostgreSQL
        self._lock = asyncio.Lock()
        self._reads_started = 0
        self._last_read = 0  # the number of the last finished read
        self._last_values: dict[str, int] | None = None

    async def read(self) -> dict[str, int] | None:
        """Every counter as of now or later; None when it cannot be read (then trust no cache)."""
        if self.is_sqlite:
            return self._read_sqlite()
        arrived = self._reads_started
        async with self._lock:
            if self._last_read > arrived:  # a read that began after this caller arrived has finished
                return self._last_values
            self._reads_started += 1
            number = self._reads_started
            try:
                values = await asyncio.wait_for(self._read_postgres(), READ_TIMEOUT_SECONDS)
            except Exception:
                log.warning("cannot read cache generations; caches bypassed until it works again", exc_info=True)
                await self._close_postgres()
                values = None
            self._last_read, self._last_values = number, values
            return values

    def _read_sqlite(self) -> dict[str, int] | None:
        try:
            if self._sqlite is None:
                # Read-only, autocommit (each SELECT sees the latest commit), never waiting.
                uri = f"{Path(self._sqlite_path).resolve().as_uri()}?mode=ro"
                self._sqlite = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False)
            return dict(self._sqlite.execute(_SELECT).fetchall())
        except sqlite3.Error:
            log.warning("cannot read cache generations; caches bypassed for this request", exc_info=True)
            self._close_sqlite()
            return None

    async def _read_postgres(self) -> dict[str, int]:
        if self._postgres is None:
            import psycopg  # noqa: PLC0415 - the PostgreSQL driver, absent from SQLite-only installs

            self._postgres = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        cursor = await self._postgres.execute(_SELECT)
        return {str(name): int(value) for name, value in await cursor.fetchall()}

    async def _close_postgres(self) -> None:
        connection, self._postgres = self._postgres, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def _close_sqlite(self) -> None:
        connection, self._sqlite = self._sqlite, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        self._close_sqlite()
        await self._close_postgres()


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationCache(Generic[K, V]):
    """A per-process map whose entries live as long as generation `name` does not move.

    Use: `found, generation = await cache.lookup(key)`; on a miss read the database *after*
    the lookup and `store(key, value, generation)`: the value is then at least as new as
    the generation it is filed under, and a store under a generation that has moved on
    meanwhile is dropped.
    """

    def __init__(self, name: str, generations: Generations, *, max_entries: int = 10_000) -> None:
        self.name = name
        self.generations = generations
        self.max_entries = max_entries
        self._entries: dict[K, V] = {}
        self._generation: int | None = None

    async def lookup(self, key: K) -> tuple[V | None, int | None]:
        values = await self.generations.read()
        generation = None if values is None else values.get(self.name)
        return self.lookup_at(key, generation), generation

    def lookup_at(self, key: K, generation: int | None) -> V | None:
        """The entry under a generation this request has just read (for a second cache of the same name)."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        if generation is None:
            return None
        return self._entries.get(key)

    def store(self, key: K, value: V, generation: int | None) -> None:
        if generation is None or generation != self._generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; a full cache refills from hits
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
