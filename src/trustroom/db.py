"""Persistence: the declarative base, id and time types, tenancy helpers and engines.

Tenant isolation has two layers. In code, every query on a tenant-owned table goes
through `scoped(stmt, actor)`. In PostgreSQL, row-level security policies (created by
`enable_tenant_rls` in migrations) hide every row whose `tenant_id` differs from the
transaction's `trustroom.tenant_id` setting, which `bind_tenant` sets at the start of each
transaction. Rows with no tenant set are invisible: the backstop fails closed.

SQLite runs in WAL mode. Write transactions start with `BEGIN IMMEDIATE` so two writers
queue on the lock instead of failing when one upgrades from reading to writing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from sqlalchemy import (
    JSON,
    DateTime,
    Delete,
    Dialect,
    ForeignKey,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    Update,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, declared_attr, mapped_column
from sqlalchemy.sql import FromClause, Join

from . import sqlite_reads
from .actor import Actor
from .schemas import Paging, Slice

TENANT_SETTING = "trustroom.tenant_id"
BYPASS_SETTING = "trustroom.rls_bypass"
_LIFTED = "rls_lifted_transaction"


def uuid7() -> UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then randomness."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10))
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class IdMixin:
    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantOwned:
    """Mixin for every row that belongs to one tenant."""

    @declared_attr
    def tenant_id(cls) -> Mapped[UUID]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class IdempotencyRecord(IdMixin, TenantOwned, Base):
    """The first answer to a create sent with an Idempotency-Key (see `http.ApiRoute`)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "principal", "key"),)

    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


Stmt = TypeVar("Stmt", Select[*tuple[Any, ...]], Update, Delete)


def _tables(clause: FromClause) -> list[Table]:
    if isinstance(clause, Join):
        return _tables(clause.left) + _tables(clause.right)
    return [clause] if isinstance(clause, Table) else []


def scoped(stmt: Stmt, actor: Actor) -> Stmt:
    """Limit a statement to the actor's tenant on every tenant-owned table it selects from.

    For a SELECT these are the tables of its columns clause (`columns_clause_froms` is
    cheap; `get_final_froms()` compiles the statement and cost ~0.6 ms a call). A joined
    tenant-owned table whose columns are not selected must be scoped in its ON clause.
    """
    if isinstance(stmt, Select):
        froms: Sequence[FromClause] = stmt.columns_clause_froms
    else:
        froms = [stmt.table]
    tables = [table for clause in froms for table in _tables(clause) if "tenant_id" in table.c]
    if not tables:
        raise ValueError("scoped() used on a statement without a tenant-owned table")
    for table in tables:
        stmt = stmt.where(table.c.tenant_id == actor.tenant_id)
    return stmt


def _has_rls(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def bind_tenant(session: AsyncSession, tenant_id: UUID) -> None:
    """Make `tenant_id` the session's tenant for row-level security, now and after each commit."""
    session.info["tenant_id"] = tenant_id
    if _has_rls(session) and session.in_transaction():
        await session.execute(_set_config(TENANT_SETTING, str(tenant_id)))


def _lifted_transaction(session: AsyncSession) -> bool:
    transaction = session.sync_session.get_transaction()
    return transaction is not None and session.info.get(_LIFTED) is transaction


async def lift_tenancy(session: AsyncSession) -> None:
    """Lift row-level security until the current transaction ends (it begins here if none
    is open): one `set_config` instead of a pair for a worker's transaction that reads and
    writes rows of many tenants and then ends, each row matched to its tenant in code.
    `cross_tenant` blocks inside such a transaction cost nothing. The lift is a
    transaction-local setting, so it ends with the transaction, committed or not."""
    if not _has_rls(session) or _lifted_transaction(session):
        return
    await session.execute(_set_config(BYPASS_SETTING, "on"))
    session.info[_LIFTED] = session.sync_session.get_transaction()


@asynccontextmanager
async def cross_tenant(session: AsyncSession) -> AsyncIterator[None]:
    """Lift row-level security for a lookup that must find its tenant first (e.g. by API key)."""
    if not _has_rls(session) or _lifted_transaction(session):
        yield
        return
    await session.execute(_set_config(BYPASS_SETTING, "on"))
    try:
        yield
    except BaseException:
        # Lift the bypass for a caller that goes on in this transaction; if the transaction
        # is broken (say, cancelled mid-statement) it can only be rolled back, and the local
        # setting with it, so the reset may fail but must not hide the original error.
        with contextlib.suppress(Exception):
            await session.execute(_set_config(BYPASS_SETTING, "off"))
        raise
    await session.execute(_set_config(BYPASS_SETTING, "off"))


def _set_config(name: str, value: str) -> Any:
    return text("SELECT set_config(:name, :value, true)").bindparams(name=name, value=value)


async def paginate(session: AsyncSession, stmt: Select[Any], paging: Paging, *order: Any) -> Slice[Any]:
    """One page of `stmt` and the total, in one query unless the page is empty.

    The total is an uncorrelated scalar subquery, evaluated once. A window count
    (`count(*) OVER ()`) made both databases materialise and sort every matching row before
    the LIMIT; this way the page can walk an index and stop after one page (on SQLite the
    10-row members page took 3 to 5 times less database time).
    """
    counting = select(func.count()).select_from(stmt.subquery()).correlate(None).scalar_subquery()
    counted = stmt.add_columns(counting.label("total_count"))
    rows = (await session.execute(counted.order_by(*order).offset(paging.offset).limit(paging.page_size))).all()
    if rows:
        total = int(rows[0][-1])
    else:  # past the end, or nothing at all: no row carried the count
        total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    return paging.page_of([row[0] for row in rows], total)


def rls_rule(column: str = "tenant_id") -> str:
    """The tenant policy's condition. The settings are read in sub-selects, which PostgreSQL
    evaluates once per statement (as init plans); read bare, they were read again for every
    row, and a scan of a million contacts spent three quarters of its time in them."""
    current = f"(SELECT nullif(current_setting('{TENANT_SETTING}', true), '')::uuid)"
    bypass = f"(SELECT current_setting('{BYPASS_SETTING}', true)) = 'on'"
    return f"({column} = {current} OR {bypass})"


def rls_policy_sql(table: str, column: str = "tenant_id") -> list[str]:
    """Statements that put a table under tenant row-level security (PostgreSQL only)."""
    rule = rls_rule(column)
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING {rule} WITH CHECK {rule}",
    ]


def append_only_sql(dialect: str, table: str) -> list[str]:
    """Triggers that refuse UPDATE and DELETE on a table (the audit log)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION trustroom_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION trustroom_refuse_change()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]


class Database:
    """The engine and the two session makers: read transactions and write transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        if not event.contains(TenantSession, "after_begin", _set_tenant_on_begin):
            event.listen(TenantSession, "after_begin", _set_tenant_on_begin)
            event.listen(TenantSession, "after_commit", _wake_job_listeners)
        # Called after a commit that enqueued jobs: in-process workers wake at once.
        self.job_listeners: list[Callable[[], None]] = []
        # SQLite reads run on read-only connections, inline within a budget
        # (`sqlite_reads`); on PostgreSQL reads and writes share one pool.
        self.read_engine = self.engine
        if self.is_sqlite:
            sqlite_reads.register()
            self.read_engine = create_async_engine(sqlite_reads.read_url(url), echo=echo, pool_size=5, max_overflow=10)
            _configure_sqlite(self.read_engine, sqlite_reads.PRAGMAS)
        self.reader = async_sessionmaker(self.read_engine, expire_on_commit=False, sync_session_class=TenantSession)
        self.write_engine = self.engine
        if self.is_sqlite:
            # SQLite has one writer at a time. One write connection per process makes this
            # process's writers queue for it in asyncio; on separate connections they would
            # poll SQLite's lock, sleeping up to 100 ms per try, and throughput collapses.
            self.write_engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **kwargs)
            _configure_sqlite(self.write_engine)
        writer_engine = (
            self.write_engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.write_engine
        )
        self.writer = async_sessionmaker(writer_engine, expire_on_commit=False, sync_session_class=TenantSession)

    def session(self, *, write: bool = True) -> AsyncSession:
        """A read or a write session; on SQLite a task must not open a second write session
        while its first holds a transaction (it would wait for its own connection)."""
        session = (self.writer if write else self.reader)()
        session.info["job_listeners"] = self.job_listeners
        return session

    @property
    def engines(self) -> list[AsyncEngine]:
        """Every engine of this database, each once."""
        return list(dict.fromkeys((self.engine, self.read_engine, self.write_engine)))

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


SQLITE_PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL")


def _configure_sqlite(engine: AsyncEngine, pragmas: Sequence[str] = SQLITE_PRAGMAS) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver so write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class TenantSession(Session):
    """A session that re-applies its tenant binding at the start of every transaction."""


def _wake_job_listeners(session: Session) -> None:
    if session.info.pop("jobs_enqueued", False):
        for listener in session.info.get("job_listeners", ()):
            listener()


def _set_tenant_on_begin(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is not None and connection.dialect.name == "postgresql":
        connection.execute(_set_config(TENANT_SETTING, str(tenant_id)))
