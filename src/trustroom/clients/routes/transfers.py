"""JSON API of exports (CSV files of records) and imports (JSON files of records)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from ...actor import Actor, Scope
from ...audit.service import DeferredAudit
from ...errors import N_, JsonInvalid, UnsupportedMediaType
from ...http import API_PREFIX, ApiRoute, SessionDep, SettingsDep, error_responses, parse_json, require
from ...storage.deps import KeyringDep, StoreDep
from ...storage.errors import BlobUnreadable
from ...uploads import MULTIPART, read_multipart
from .. import errors
from ..filters import MAX_TEXT
from ..models import ClientExport, ImportRun, RecordKind, TransferStatus
from ..schemas import (
    ExportAccepted,
    ExportFilter,
    ExportRead,
    ImportFailureRead,
    ImportFileRead,
    ImportFilesRead,
    ImportStatusRead,
    ImportSync,
    ImportSyncAccepted,
)
from ..service import exports, imports

Exporter = Annotated[Actor, require(Scope.CONTACTS_EXPORT)]
Importer = Annotated[Actor, require(Scope.CONTACTS_IMPORT)]

router = APIRouter(prefix=API_PREFIX, tags=["client records: export and import"], route_class=ApiRoute)

KINDS = {"contacts": RecordKind.CONTACT, "legal-entities": RecordKind.LEGAL_ENTITY}
GRAPHQL_TYPES = ("text/plain", "application/graphql")
NOT_UTF8 = N_("the text is not UTF-8")
EXPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": ExportFilter.model_json_schema(by_alias=True)},
            "text/plain": {
                "schema": {"type": "string", "maxLength": MAX_TEXT},
                "example": "query { contacts(where: {and: [{personalInformation: "
                '{displayName: {contains: "Shannon"}}}]}) { items { } } }',
            },
        },
    }
}


async def _export_query(request: Request) -> dict[str, Any]:
    """The filter from the body: JSON {where} or {query}, GraphQL text, or nothing (all)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if content_type == "application/json":
        document = parse_json(raw)
        try:
            given = ExportFilter.model_validate(document)
        except ValidationError as exc:
            located = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(located, body=document) from exc
        if given.where is not None:
            return {"where": given.where}
        return {"graphql": given.query} if given.query is not None else {}
    if content_type in GRAPHQL_TYPES:
        try:
            return {"graphql": raw.decode("utf-8")}
        except UnicodeDecodeError as exc:
            raise errors.FilterInvalid("query", NOT_UTF8) from exc
    raise UnsupportedMediaType(content_type=content_type, accepted="application/json, text/plain")


def _export_read(export: ClientExport, blob_size: int | None, sha256: str | None) -> ExportRead:
    expired = export.status == TransferStatus.SUCCEEDED and exports.is_expired(export)
    ready = export.status == TransferStatus.SUCCEEDED and not expired and export.blob_id is not None
    return ExportRead(
        export_job_id=export.id,
        kind="contacts" if export.kind == RecordKind.CONTACT else "legalEntities",
        status="Expired" if expired else export.status,
        total_count=export.total_count,
        processed_count=export.processed_count,
        created_at=export.created_at,
        completed_at=export.completed_at,
        expires_at=export.expires_at,
        file_url=f"{API_PREFIX}/exports/{export.id}/file" if ready else None,
        byte_size=blob_size if ready else None,
        sha256=sha256 if ready else None,
        error=export.error,
    )


def _start_export(kind: RecordKind) -> Any:
    async def start(request: Request, session: SessionDep, actor: Exporter) -> ExportAccepted:
        export = await exports.start(session, actor, kind, await _export_query(request))
        return ExportAccepted(export_job_id=export.id)

    return start


for _path, _kind in KINDS.items():
    router.add_api_route(
        f"/{_path}/export",
        _start_export(_kind),
        methods=["POST"],
        status_code=202,
        response_model=ExportAccepted,
        summary=f"Export {_path.replace('-', ' ')} as CSV",
        description="Queue a CSV export of the records you see that match the filter (only isExportable fields). "
        "The filter comes as JSON (`where` object or `query` text) or as GraphQL text (text/plain); "
        "an empty body exports every record you see.",
        responses=error_responses(errors.FilterInvalid, JsonInvalid, UnsupportedMediaType),
        openapi_extra=EXPORT_BODY,
        operation_id=f"export_{_path.replace('-', '_')}",
    )


@router.get("/exports/{export_job_id}", response_model=ExportRead, responses=error_responses(errors.ExportNotFound))
async def get_export(export_job_id: UUID, session: SessionDep, actor: Exporter) -> ExportRead:
    """Progress of an export, and where to fetch its file once done."""
    export = await exports.get(session, actor, export_job_id)
    blob = await exports.file_facts(session, export)
    return _export_read(export, *blob)


@router.get(
    "/exports/{export_job_id}/file",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The CSV file (UTF-8)."},
        **error_responses(
            errors.ExportNotFound, errors.ExportNotReady, errors.ExportFailed, errors.ExportExpired, BlobUnreadable
        ),
    },
)
async def get_export_file(
    export_job_id: UUID, request: Request, session: SessionDep, actor: Exporter, keyring: KeyringDep, store: StoreDep
) -> StreamingResponse:
    """The CSV file: a header row of field keys, then one row per record (UTF-8 with BOM, LF).
    Every download is audited (`clients.export.downloaded`)."""
    export, opened = await exports.open_file(session, actor, keyring, store, export_job_id)
    audit_queue: DeferredAudit = request.app.state.audit_queue
    facts = exports.download_facts(export, opened.blob.byte_size)
    audit_queue.note(actor, exports.DOWNLOADED, target_type="export", target_id=export.id, data=facts)
    kind = "contacts" if export.kind == RecordKind.CONTACT else "legal-entities"
    return StreamingResponse(
        opened.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Length": str(opened.blob.byte_size),
            "Content-Disposition": f'attachment; filename="{kind}-{export.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- import -------------------------------------------------------------------------------

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                },
            }
        },
    }
}


def _upload(kind: RecordKind) -> Any:
    async def upload(
        request: Request,
        session: SessionDep,
        actor: Importer,
        settings: SettingsDep,
        keyring: KeyringDep,
        store: StoreDep,
    ) -> ImportFilesRead:
        kek = await keyring.current(session, actor.tenant_id, imports.KEK_PURPOSE)
        receiver = imports.Upload(
            session, actor, kind, store, kek, timedelta(seconds=settings.clients.import_ttl_seconds)
        )
        try:
            await read_multipart(request, receiver)
            files = await receiver.finish()
        except BaseException:
            await receiver.abort()
            raise
        return ImportFilesRead(
            files=[
                ImportFileRead(
                    id=f.id,
                    name=f.name,
                    byte_size=f.byte_size,
                    sha256=f.sha256,
                    record_count=f.record_count,
                    created_at=f.created_at,
                )
                for f in files
            ]
        )

    return upload


def _sync(kind: RecordKind) -> Any:
    async def sync(session: SessionDep, actor: Importer, body: ImportSync | None = None) -> ImportSyncAccepted:
        run = await imports.start_sync(session, actor, kind, body.file_ids if body else None)
        return ImportSyncAccepted(status_id=run.id)

    return sync


for _path, _kind in KINDS.items():
    _name = _path.replace("-", "_")
    router.add_api_route(
        f"/imports/{_path}",
        _upload(_kind),
        methods=["POST"],
        status_code=201,
        response_model=ImportFilesRead,
        summary=f"Upload {_path.replace('-', ' ')} files",
        description="JSON files (multipart, field `files`), each an array of records "
        '`{"externalId", "details", "contactTypeId", "username"}`; kept encrypted until synced.',
        responses=error_responses(errors.ImportFileInvalid, UnsupportedMediaType),
        openapi_extra=UPLOAD_BODY,
        operation_id=f"upload_{_name}_import",
    )
    router.add_api_route(
        f"/imports/{_path}/sync",
        _sync(_kind),
        methods=["POST"],
        status_code=202,
        response_model=ImportSyncAccepted,
        summary=f"Sync uploaded {_path.replace('-', ' ')}",
        description="Create or update a record per externalId (system Default) from the waiting files, "
        "asynchronously; follow it at /imports/status/{statusId}.",
        responses=error_responses(errors.NothingToImport),
        operation_id=f"sync_{_name}_import",
    )


@router.get(
    "/imports/status/{status_id}", response_model=ImportStatusRead, responses=error_responses(errors.ImportRunNotFound)
)
async def get_import_status(status_id: UUID, session: SessionDep, actor: Importer) -> ImportStatusRead:
    """Progress of a sync, its counts, and the records that failed with the reason."""
    run, failures = await imports.status(session, actor, status_id)
    return _status(run, failures, await imports.failed_external_ids(session, actor, run.id))


def _status(run: ImportRun, failures: list[Any], failed_ids: list[str]) -> ImportStatusRead:
    return ImportStatusRead(
        status_id=run.id,
        kind="contacts" if run.kind == RecordKind.CONTACT else "legalEntities",
        status=run.status,
        error_message=run.error,
        total_count=run.total_count,
        processed_count=run.processed_count,
        created_count=run.created_count,
        updated_count=run.updated_count,
        unchanged_count=run.unchanged_count,
        failed_count=run.failed_count,
        failed_external_ids=failed_ids,
        failures=[
            ImportFailureRead(
                external_id=f.external_id, file_id=f.file_id, position=f.position, code=f.code, message=f.message
            )
            for f in failures
        ],
        created_at=run.created_at,
        completed_at=run.completed_at,
    )
