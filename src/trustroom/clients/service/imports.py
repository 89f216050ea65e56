"""Importing contacts and legal entities from JSON files.

Upload: each file is streamed through a JSON check (an array of objects, element by
element) into sealed blob storage; the request fails whole when one file is not such an
array, and nothing of it is kept. Sync: the waiting files are handed to a run and a job.
The job reads them back element by element and applies each record as the requester
would through the API (same rights, rules, history, change requests and events):

- a record whose `externalId` (system `Default`) is known updates that record's details
  (a full replacement); one that is not creates a record and connects the id;
- a record that fails (bad shape, invalid details, no right) becomes a failure row with the
  reason, and the run goes on;
- records are applied in batches, each batch one transaction together with the run's
  counters, so a killed job resumes after the last committed batch; re-applying a record
  that already holds the file's values changes nothing (no history, no event), so
  syncing the same file twice leaves the second run without a change.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import Database, bind_tenant, utcnow
from ...errors import N_, AppError
from ...i18n import current_language, gettext
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from ...schemas import InputSchema
from ...settings import Settings
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from .. import events, fields
from ..errors import ImportFileInvalid, ImportRunNotFound, NothingToImport
from ..jsonstream import ArrayReader, JsonStreamError
from ..models import (
    ChangeRequest,
    ChangeRequestItem,
    ChangeRequestStatus,
    ChannelVerification,
    ClientRecord,
    ImportFailure,
    ImportFile,
    ImportRun,
    RecordKind,
    TransferStatus,
)
from . import records
from .channels import Verifier

IMPORT = TaskRef("clients.import", max_attempts=5)
KEK_PURPOSE = "clients.imports"
IMPORT_SYSTEM = "Default"
BATCH_SIZE = 200
SHOWN_FAILURES = 1000
NO_FILE = N_("no file was sent")


class ImportRecord(InputSchema):
    """One element of an import file."""

    external_id: str = Field(min_length=1, max_length=200)
    details: dict[str, Any]
    contact_type_id: int | None = None
    username: str | None = Field(None, min_length=1, max_length=320)


# --- upload --------------------------------------------------------------------------------


@dataclass
class Upload:
    """Receives the files of one upload request, part by part (see http.read_multipart)."""

    session: AsyncSession
    actor: Actor
    kind: RecordKind
    store: BlobStore
    kek: tuple[UUID, Any]
    expires_in: timedelta
    files: list[ImportFile] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack | None = None
    _writer: storage.BlobWriter | None = None
    _reader: ArrayReader | None = None
    _name: str = ""
    _written: list[UUID] = field(default_factory=list)

    async def begin(self, name: str, filename: str | None, content_type: str | None) -> None:
        self._name = (filename or name or "import.json")[:255]
        self._reader = ArrayReader()
        self._stack = contextlib.AsyncExitStack()
        self._writer = await self._stack.enter_async_context(
            storage.write_blob(
                self.store,
                self.actor.tenant_id,
                self.kek,
                content_type="application/json",
                expires_at=utcnow() + self.expires_in,
            )
        )

    async def data(self, chunk: bytes) -> None:
        assert self._reader is not None and self._writer is not None
        self._check(lambda: self._reader.feed(chunk) if self._reader else [])
        await self._writer.write(chunk)

    def _check(self, take: Any) -> None:
        try:
            take()
        except JsonStreamError as exc:
            raise ImportFileInvalid(name=self._name, reason=str(exc)) from exc

    async def end(self) -> None:
        assert self._reader is not None and self._writer is not None and self._stack is not None
        reader = self._reader
        self._check(reader.close)
        await self._stack.aclose()
        blob = self._writer.blob
        assert blob is not None
        self._written.append(blob.id)
        self.session.add(blob)
        await self.session.flush()
        imported = ImportFile(
            tenant_id=self.actor.tenant_id,
            kind=self.kind,
            name=self._name,
            blob_id=blob.id,
            byte_size=blob.byte_size,
            sha256=blob.sha256,
            record_count=reader.count,
            uploaded_by=self.actor.principal,
        )
        self.session.add(imported)
        self.files.append(imported)
        self._stack = self._writer = self._reader = None

    async def abort(self) -> None:
        """Drop what this upload stored: the request failed and its rows roll back."""
        if self._stack is not None:
            # Closed with an error, the writer removes its half-written file; closed
            # normally, it would store it as a whole blob.
            aborted = RuntimeError("upload aborted")
            with contextlib.suppress(RuntimeError):
                await self._stack.__aexit__(RuntimeError, aborted, None)
        for blob_id in self._written:
            with contextlib.suppress(OSError):
                self.store.delete(str(blob_id))

    async def finish(self) -> list[ImportFile]:
        if not self.files:
            raise ImportFileInvalid(name="-", reason=gettext(NO_FILE))
        await self.session.flush()
        await audit.record(
            self.session,
            self.actor,
            "clients.import.uploaded",
            target_type="import",
            data={"kind": self.kind, "files": len(self.files), "records": sum(f.record_count for f in self.files)},
        )
        return self.files


# --- sync ----------------------------------------------------------------------------------


async def start_sync(session: AsyncSession, actor: Actor, kind: RecordKind, file_ids: list[UUID] | None) -> ImportRun:
    """Hand the waiting files (all, or those named) to a new run and queue its job."""
    wanted = select(ImportFile).where(
        ImportFile.tenant_id == actor.tenant_id,
        ImportFile.kind == kind,
        ImportFile.run_id.is_(None),
        ImportFile.blob_id.is_not(None),
    )
    if file_ids is not None:
        wanted = wanted.where(ImportFile.id.in_(file_ids))
    files = list(await session.scalars(wanted.order_by(ImportFile.created_at, ImportFile.id).with_for_update()))
    if not files:
        raise NothingToImport()
    run = ImportRun(
        tenant_id=actor.tenant_id,
        kind=kind,
        requested_by=actor.snapshot(),
        language=actor.language or "en",
        total_count=sum(f.record_count for f in files),
    )
    session.add(run)
    await session.flush()
    for imported in files:
        imported.run_id = run.id
    await jobs.enqueue(session, IMPORT, tenant_id=actor.tenant_id, run_id=str(run.id))
    await audit.record(
        session, actor, "clients.import.started", target_type="import", target_id=run.id, data={"files": len(files)}
    )
    return run


async def status(session: AsyncSession, actor: Actor, run_id: UUID) -> tuple[ImportRun, list[ImportFailure]]:
    run = await session.scalar(select(ImportRun).where(ImportRun.tenant_id == actor.tenant_id, ImportRun.id == run_id))
    if run is None:
        raise ImportRunNotFound()
    failures = list(
        await session.scalars(
            select(ImportFailure)
            .where(ImportFailure.tenant_id == actor.tenant_id, ImportFailure.run_id == run.id)
            .order_by(ImportFailure.id)
            .limit(SHOWN_FAILURES)
        )
    )
    return run, failures


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged + self.failed


@dataclass
class Sync:
    """One import run's work, batch by batch, each batch in a transaction of its own."""

    database: Database
    settings: Settings
    keyring: Keyring
    store: BlobStore
    verifier: Verifier
    tenant_id: UUID
    run_id: UUID
    on_progress: Any = None  # called with the run after each batch (the CLI's progress bar)

    async def execute(self) -> ImportRun | None:
        """Apply every record; None when the run was finished before."""
        async with self.database.session(write=True) as session:
            await bind_tenant(session, self.tenant_id)
            run = await session.get(ImportRun, self.run_id)
            if run is None or run.status not in (TransferStatus.QUEUED, TransferStatus.RUNNING):
                return None
            run.status = TransferStatus.RUNNING
            files = list(
                await session.scalars(
                    select(ImportFile)
                    .where(ImportFile.tenant_id == self.tenant_id, ImportFile.run_id == run.id)
                    .order_by(ImportFile.created_at, ImportFile.id)
                )
            )
            await session.commit()
        actor = Actor.from_snapshot(self.tenant_id, run.requested_by, language=run.language)
        skip = run.processed_count  # records applied by an earlier, interrupted attempt
        position = 0
        for imported in files:
            batch: list[tuple[ImportFile, int, dict[str, Any]]] = []
            index = 0
            async for element in self._elements(imported):
                if position >= skip:
                    batch.append((imported, index, element))
                position += 1
                index += 1
                if len(batch) >= BATCH_SIZE:
                    run = await self._apply(actor, batch)
                    batch = []
            if batch:
                run = await self._apply(actor, batch)
        return run

    async def _elements(self, imported: ImportFile) -> Any:
        if imported.blob_id is None:  # expired before the run got to it
            return
        async with self.database.session(write=False) as read:
            await bind_tenant(read, self.tenant_id)
            opened = await storage.open_blob(read, self.keyring, self.store, self.tenant_id, imported.blob_id)
        reader = ArrayReader()
        async for chunk in opened.chunks():
            for element in reader.feed(chunk):
                yield element
        for element in reader.close():
            yield element

    async def _apply(self, actor: Actor, batch: list[tuple[ImportFile, int, dict[str, Any]]]) -> ImportRun:
        counts = Counts()
        async with self.database.session(write=True) as session:
            await bind_tenant(session, self.tenant_id)
            current_language.set(actor.language or "en")
            known = await _known(session, actor, batch)
            for imported, index, element in batch:
                try:
                    async with session.begin_nested():
                        outcome = await self._one(session, actor, imported.kind, element, known)
                except AppError as error:
                    counts.failed += 1
                    session.add(_failure(self, actor, imported, index, element, error.sub_code, _text(error)))
                    continue
                except ValidationError as error:
                    counts.failed += 1
                    reason = "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
                    session.add(_failure(self, actor, imported, index, element, "RecordInvalid", reason))
                    continue
                setattr(counts, outcome, getattr(counts, outcome) + 1)
            await session.execute(
                update(ImportRun)
                .where(ImportRun.tenant_id == self.tenant_id, ImportRun.id == self.run_id)
                .values(
                    processed_count=ImportRun.processed_count + counts.processed,
                    created_count=ImportRun.created_count + counts.created,
                    updated_count=ImportRun.updated_count + counts.updated,
                    unchanged_count=ImportRun.unchanged_count + counts.unchanged,
                    failed_count=ImportRun.failed_count + counts.failed,
                )
            )
            run = await session.get_one(ImportRun, self.run_id, populate_existing=True)
            await session.commit()
        if self.on_progress is not None:
            self.on_progress(run)
        return run

    async def _one(
        self,
        session: AsyncSession,
        actor: Actor,
        kind: RecordKind,
        element: dict[str, Any],
        known: dict[str, ClientRecord],
    ) -> str:
        item = ImportRecord.model_validate(element)
        record = known.get(item.external_id)
        if record is None:
            created = await records.create(
                session, actor, kind, item.details, contact_type_id=item.contact_type_id, username=item.username
            )
            await records.connect(session, actor, created, IMPORT_SYSTEM, item.external_id)
            known[item.external_id] = created  # the same id later in the file updates it
            return "created"
        changes = fields.diff(record.details, item.details)
        if not changes or await _all_pending(session, actor, record, changes):
            return "unchanged"
        await records.update_details(
            session,
            actor,
            self.verifier,
            kind,
            record.id,
            item.details,
            partial=False,
            comment=None,
            concurrency_token=None,
        )
        return "updated"


async def _known(
    session: AsyncSession, actor: Actor, batch: list[tuple[ImportFile, int, dict[str, Any]]]
) -> dict[str, ClientRecord]:
    """The records the batch's external ids already name, found in one query."""
    ids = [str(element["externalId"]) for _, _, element in batch if isinstance(element.get("externalId"), str)]
    if not ids:
        return {}
    kind = batch[0][0].kind
    return await records.find_by_external_ids(session, actor, kind, IMPORT_SYSTEM, ids)


async def _all_pending(session: AsyncSession, actor: Actor, record: ClientRecord, changes: list[fields.Change]) -> bool:
    """Whether every change already waits (for a key or a review) with the same value, as
    after an earlier sync of the same file: then there is nothing new to ask for."""
    verifications = await session.execute(
        select(ChannelVerification.path, ChannelVerification.pending_value).where(
            ChannelVerification.tenant_id == actor.tenant_id, ChannelVerification.record_id == record.id
        )
    )
    waiting: dict[str, Any] = dict(verifications.all())
    waiting.update(
        (
            await session.execute(
                select(ChangeRequestItem.path, ChangeRequestItem.new_value)
                .join(ChangeRequest, ChangeRequest.id == ChangeRequestItem.change_request_id)
                .where(
                    ChangeRequest.tenant_id == actor.tenant_id,
                    ChangeRequestItem.tenant_id == actor.tenant_id,
                    ChangeRequest.record_id == record.id,
                    ChangeRequest.status == ChangeRequestStatus.PENDING,
                )
            )
        ).all()
    )
    return all(change.pointer in waiting and fields.same(waiting[change.pointer], change.new) for change in changes)


def _text(error: AppError) -> str:
    """The refusal as the API would word it, with the fields at fault."""
    text = gettext(error.text, **error.params)
    details = "; ".join(f"{problem.pointer}: {problem.message}" for problem in error.problems)
    return f"{text} {details}" if details else text


def _failure(
    sync: Sync, actor: Actor, imported: ImportFile, index: int, element: dict[str, Any], code: str, message: str
) -> ImportFailure:
    external_id = element.get("externalId")
    return ImportFailure(
        tenant_id=sync.tenant_id,
        run_id=sync.run_id,
        file_id=imported.id,
        position=index,
        external_id=str(external_id)[:200] if external_id is not None else None,
        code=code,
        message=message[:2000],
    )


async def finish(session: AsyncSession, run_id: UUID, tenant_id: UUID) -> dict[str, Any]:
    """Close the run and announce it, in the job's transaction."""
    run = await session.get_one(ImportRun, run_id, populate_existing=True)
    if run.status in (TransferStatus.QUEUED, TransferStatus.RUNNING):
        run.status = _final_status(run)
        run.completed_at = utcnow()
        await jobs.emit(
            session,
            events.IMPORT_COMPLETED,
            events.JobCompleted(
                job_id=run.id,
                kind="contacts" if run.kind == RecordKind.CONTACT else "legalEntities",
                status=run.status,
                count=run.created_count + run.updated_count + run.unchanged_count,
                failed=run.failed_count,
            ),
            tenant_id=tenant_id,
        )
    return {"processed": run.processed_count, "failed": run.failed_count}


def _final_status(run: ImportRun) -> TransferStatus:
    if run.failed_count == 0:
        return TransferStatus.SUCCEEDED
    if run.failed_count < run.processed_count:
        return TransferStatus.PARTIALLY_SUCCEEDED
    return TransferStatus.FAILED


async def fail(session: AsyncSession, run_id: UUID, tenant_id: UUID, error: str) -> None:
    await session.execute(
        update(ImportRun)
        .where(ImportRun.tenant_id == tenant_id, ImportRun.id == run_id)
        .values(status=TransferStatus.FAILED, error=error[:500], completed_at=utcnow())
    )


async def failed_external_ids(session: AsyncSession, actor: Actor, run_id: UUID) -> list[str]:
    rows = await session.scalars(
        select(func.distinct(ImportFailure.external_id))
        .where(ImportFailure.tenant_id == actor.tenant_id, ImportFailure.run_id == run_id)
        .where(ImportFailure.external_id.is_not(None))
        .limit(SHOWN_FAILURES)
    )
    return [value for value in rows if value is not None]
