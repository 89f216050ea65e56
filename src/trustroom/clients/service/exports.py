"""CSV exports of contacts and legal entities.

Asking for an export stores the filter and the requester and queues a job; the answer is
the export's id. The job sees exactly what the requester sees (their visibility is
rebuilt from a snapshot), writes only isExportable fields, and streams: records are read
in keyset batches by id in a read transaction, turned into CSV and sealed into blob
storage segment by segment, so memory stays flat however many records match. The job's
own write transaction starts only at the end (on SQLite it holds the single write lock),
when the file's row, the status and `export.completed` are written together.

The file can be fetched by whoever asked for it (or a tenant-wide reader) until it
expires (`TRUSTROOM_CLIENTS__EXPORT_TTL_SECONDS`); the sweep then deletes it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ...actor import Actor, Scope
from ...audit import service as audit
from ...db import Database, bind_tenant, utcnow
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from ...settings import Settings
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from ...storage.models import Blob
from ...storage.service import OpenedBlob
from .. import csvfile, events
from ..errors import ExportExpired, ExportFailed, ExportNotFound, ExportNotReady
from ..models import ClientExport, RecordKind, TransferStatus
from . import definitions, export_cells, search
from .search import RecordQuery

EXPORT = TaskRef("clients.export", max_attempts=3)
KEK_PURPOSE = "clients.exports"
BATCH_SIZE = 5000
PROGRESS_EVERY_SECONDS = 1.0


def _record_query(kind: RecordKind, query: dict[str, Any]) -> RecordQuery:
    return RecordQuery(kind, where=query.get("where"), graphql=query.get("graphql"))


async def start(session: AsyncSession, actor: Actor, kind: RecordKind, query: dict[str, Any]) -> ClientExport:
    """Queue an export of the records the actor sees that match `query` ({"where"} or {"graphql"})."""
    schema = await definitions.for_kind(session, actor, kind)
    # Compiled now so a bad filter is refused at once, not found later by the job.
    search.statement(actor, schema, _record_query(kind, query))
    export = ClientExport(
        tenant_id=actor.tenant_id,
        kind=kind,
        query=query,
        requested_by=actor.snapshot(),
        principal=actor.principal,
        language=actor.language or "en",
    )
    session.add(export)
    await session.flush()
    await jobs.enqueue(session, EXPORT, tenant_id=actor.tenant_id, export_id=str(export.id))
    await audit.record(
        session, actor, "clients.export.requested", target_type="export", target_id=export.id, data={"kind": kind}
    )
    return export


async def get(session: AsyncSession, actor: Actor, export_id: UUID) -> ClientExport:
    export = await session.scalar(
        select(ClientExport).where(ClientExport.tenant_id == actor.tenant_id, ClientExport.id == export_id)
    )
    # Someone else's export is as absent as a missing one: its file holds what they may see.
    if export is None or not (export.principal == actor.principal or actor.can(Scope.CONTACTS_READ_ALL)):
        raise ExportNotFound()
    return export


async def file_facts(session: AsyncSession, export: ClientExport) -> tuple[int | None, str | None]:
    """Size and SHA-256 of the export's file, while there is one."""
    if export.blob_id is None:
        return None, None
    row = (await session.execute(select(Blob.byte_size, Blob.sha256).where(Blob.id == export.blob_id))).first()
    return (row[0], row[1]) if row else (None, None)


def is_expired(export: ClientExport) -> bool:
    return export.expires_at is not None and export.expires_at <= utcnow()


DOWNLOADED = "clients.export.downloaded"


def download_facts(export: ClientExport, blob_size: int) -> dict[str, Any]:
    """What a download's audit entry says about what went out (always the whole file)."""
    return {"kind": str(export.kind), "bytes": blob_size, "size": blob_size, "range": None}


async def open_file(
    session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, export_id: UUID
) -> tuple[ClientExport, OpenedBlob]:
    export = await get(session, actor, export_id)
    if export.status == TransferStatus.FAILED:
        raise ExportFailed()
    if export.status != TransferStatus.SUCCEEDED:
        raise ExportNotReady()
    if is_expired(export) or export.blob_id is None:
        raise ExportExpired()
    # Audited by the caller without a write (audit.DeferredAudit): this is a GET.
    opened = await storage.open_blob(session, keyring, store, actor.tenant_id, export.blob_id)
    return export, opened


@dataclass
class Run:
    """One export job's work, in the short transactions it needs."""

    database: Database
    settings: Settings
    keyring: Keyring
    store: BlobStore
    tenant_id: UUID
    export_id: UUID

    async def _write(self, **values: Any) -> None:
        async with self.database.session(write=True) as session:
            await bind_tenant(session, self.tenant_id)
            await session.execute(
                update(ClientExport)
                .where(ClientExport.tenant_id == self.tenant_id, ClientExport.id == self.export_id)
                .values(**values)
            )
            await session.commit()

    async def _prepare(self) -> tuple[ClientExport, tuple[UUID, Any]] | None:
        async with self.database.session(write=True) as session:
            await bind_tenant(session, self.tenant_id)
            export = await session.scalar(
                select(ClientExport).where(ClientExport.tenant_id == self.tenant_id, ClientExport.id == self.export_id)
            )
            if export is None or export.status in (TransferStatus.SUCCEEDED, TransferStatus.FAILED):
                return None
            kek = await self.keyring.current(session, self.tenant_id, KEK_PURPOSE)
            export.status = TransferStatus.RUNNING
            export.processed_count = 0
            await session.commit()
        return export, kek

    async def execute(self) -> tuple[Blob, int] | None:
        """Write the file: its blob row and record count, for `finish` to record in the job's
        transaction; None when there is nothing (left) to do."""
        prepared = await self._prepare()
        if prepared is None:
            return None
        export, kek = prepared
        actor = Actor.from_snapshot(self.tenant_id, export.requested_by, language=export.language)
        async with self.database.session(write=False) as read:
            await bind_tenant(read, self.tenant_id)
            schema = await definitions.for_kind(read, actor, export.kind)
            matching = search.statement(actor, schema, _record_query(export.kind, export.query))
            total = await read.scalar(select(func.count()).select_from(matching.subquery()))
            await self._write(total_count=total)
            columns = csvfile.columns(export.kind, schema.map)
            dialect = read.get_bind().dialect.name
            wanted = export_cells.cells(export.kind, columns, dialect)
            expires_at = utcnow() + timedelta(seconds=self.settings.clients.export_ttl_seconds)
            async with storage.write_blob(
                self.store, self.tenant_id, kek, content_type="text/csv; charset=utf-8", expires_at=expires_at
            ) as writer:
                await writer.write(csvfile.BOM.encode() + csvfile.encode([columns.header]))
                connection = await read.connection()
                if dialect == "postgresql":
                    written = await self._copied(connection, export_cells.whole(matching, wanted, dialect), writer)
                else:
                    written = await self._batched(connection, matching, wanted, writer)
        assert writer.blob is not None
        return writer.blob, written

    async def _batched(
        self,
        connection: AsyncConnection,
        matching: Select[Any],
        wanted: list[export_cells.Cell],
        writer: storage.BlobWriter,
    ) -> int:
        """Keyset batches by id; the next batch is fetched while this one is written."""
        written = 0
        reported = time.monotonic()

        async def batch_after(last: UUID | None) -> list[Any]:
            batch = export_cells.batch(matching, wanted, after=last, size=BATCH_SIZE)
            # Core, not ORM execution: plain rows, half the cost per row.
            return list((await connection.execute(batch)).all())

        upcoming = asyncio.create_task(batch_after(None))
        while rows := await upcoming:
            upcoming = asyncio.create_task(batch_after(UUID(rows[-1][0])))  # the first cell is the id
            await writer.write(csvfile.encode(rows))
            written += len(rows)
            if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                await self._write(processed_count=written)
                reported = time.monotonic()
        return written

    async def _copied(self, connection: AsyncConnection, selected: Select[Any], writer: storage.BlobWriter) -> int:
        """PostgreSQL writes the CSV itself (`COPY (SELECT …) TO STDOUT`), streamed as it comes,
        in the read transaction (row-level security applies); Python only seals the bytes."""
        compiled = selected.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        # The statement's parameters as the driver takes them (JSON paths become text arrays).
        processors: dict[str, Any] = dict(compiled._bind_processors)  # private: no public form of this
        params = {
            name: processors[name](value) if name in processors else value
            for name, value in compiled.construct_params().items()
        }
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        lines = 0
        reported = time.monotonic()
        async with raw.cursor() as cursor:
            async with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                async for chunk in copy:
                    data = bytes(chunk)
                    await writer.write(data)
                    lines += data.count(b"\n")  # a line break inside a quoted value counts too: progress only
                    if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                        await self._write(processed_count=lines)
                        reported = time.monotonic()
            return int(cursor.rowcount)  # from COPY's command tag: the exact number of records


async def finish(session: AsyncSession, run: Run, blob: Blob, rows: int) -> dict[str, Any]:
    """Record the file and the outcome, in the job's transaction."""
    session.add(blob)
    await session.flush()
    export = await session.get_one(ClientExport, run.export_id)
    export.status = TransferStatus.SUCCEEDED
    export.blob_id = blob.id
    export.processed_count = rows
    export.total_count = rows
    export.completed_at = utcnow()
    export.expires_at = blob.expires_at
    await jobs.emit(
        session,
        events.EXPORT_COMPLETED,
        events.JobCompleted(job_id=export.id, kind=_wire_kind(export.kind), status=export.status, count=rows),
        tenant_id=run.tenant_id,
    )
    return {"rows": rows, "bytes": blob.byte_size}


async def fail(session: AsyncSession, run: Run, error: str) -> None:
    await session.execute(
        update(ClientExport)
        .where(ClientExport.tenant_id == run.tenant_id, ClientExport.id == run.export_id)
        .values(status=TransferStatus.FAILED, error=error[:500], completed_at=utcnow())
    )


def _wire_kind(kind: RecordKind) -> str:
    return "contacts" if kind == RecordKind.CONTACT else "legalEntities"
