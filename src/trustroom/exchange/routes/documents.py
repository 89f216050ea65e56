"""Documents of an exchange: upload (streamed), list, metadata, content (with Range),
share, delete."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...downloads import RangeNotSatisfiable
from ...errors import MultipartInvalid, UnsupportedMediaType
from ...http import API_PREFIX, ApiRoute, PagingDep, SessionDep, SettingsDep, error_responses
from ...schemas import Page, Slice
from ...storage.deps import KeyringDep, StoreDep
from ...storage.errors import BlobUnreadable
from ...uploads import FILE_UPLOAD_BODY
from ..deps import content_response, receive_upload
from ..errors import (
    DocumentNotAvailable,
    DocumentNotFound,
    DocumentNotYours,
    DocumentShared,
    DocumentTooLarge,
    ExchangeNotFound,
    FolderNotFound,
    NameInvalid,
    NoFileGiven,
    ScannerUnavailable,
    VersionNotFound,
)
from ..schemas import DocumentRead, document_read
from ..service import documents
from .exchanges import ExchangesRead, ExchangesWrite

router = APIRouter(
    prefix=f"{API_PREFIX}/exchanges/{{exchange_id}}",
    tags=["secure exchange"],
    route_class=ApiRoute,
    responses=error_responses(),
)


@router.post(
    "/folders/{folder_id}/documents",
    status_code=201,
    response_model=DocumentRead,
    openapi_extra=FILE_UPLOAD_BODY,
    responses=error_responses(
        ExchangeNotFound,
        FolderNotFound,
        NoFileGiven,
        NameInvalid,
        DocumentTooLarge,
        ScannerUnavailable,
        MultipartInvalid,
        UnsupportedMediaType,
    ),
)
async def upload_document(
    exchange_id: UUID,
    folder_id: UUID,
    request: Request,
    session: SessionDep,
    actor: ExchangesWrite,
    settings: SettingsDep,
    keyring: KeyringDep,
    store: StoreDep,
) -> DocumentRead:
    """Upload a file (multipart part `file`) into a folder, streamed and sealed as it
    arrives. A file with the name of one of your documents there becomes its next version.
    The content type is found from the content."""
    document, version = await receive_upload(request, session, actor, settings, keyring, store, exchange_id, folder_id)
    return document_read(document, version)


@router.get(
    "/folders/{folder_id}/documents",
    response_model=Page[DocumentRead],
    responses=error_responses(ExchangeNotFound, FolderNotFound),
)
async def list_documents(
    exchange_id: UUID, folder_id: UUID, session: SessionDep, actor: ExchangesRead, paging: PagingDep
) -> Slice[DocumentRead]:
    """The folder's documents you see (yours and the client's shared ones), by name
    (ascending unless asked otherwise)."""
    found = await documents.list_documents(session, actor, exchange_id, folder_id, paging)
    return paging.page_of([document_read(d, v) for d, v in found.items], found.total_count)


@router.get(
    "/documents/{document_id}",
    response_model=DocumentRead,
    responses=error_responses(ExchangeNotFound, DocumentNotFound),
)
async def get_document(exchange_id: UUID, document_id: UUID, session: SessionDep, actor: ExchangesRead) -> DocumentRead:
    """A document's metadata with all its versions."""
    document, latest, versions = await documents.get(session, actor, exchange_id, document_id)
    return document_read(document, latest, versions)


@router.get(
    "/documents/{document_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        206: {"description": "The range asked for (Range: bytes=…)."},
        **error_responses(
            ExchangeNotFound,
            DocumentNotFound,
            VersionNotFound,
            DocumentNotAvailable,
            RangeNotSatisfiable,
            BlobUnreadable,
        ),
    },
)
async def download_document(
    exchange_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    actor: ExchangesRead,
    keyring: KeyringDep,
    store: StoreDep,
    version: Annotated[int | None, Query(ge=1, description="A version number; default: the latest available.")] = None,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    """The content, decrypted as it streams; one byte range may be asked for. Every
    download is audited (`exchange.document.downloaded`, with the bytes sent)."""
    return await content_response(
        request,
        session,
        actor,
        keyring,
        store,
        exchange_id,
        document_id,
        number=version,
        range_header=range_header,
        if_range=if_range,
    )


@router.post(
    "/documents/{document_id}/share",
    response_model=DocumentRead,
    responses=error_responses(ExchangeNotFound, DocumentNotFound, DocumentNotYours),
)
async def share_document(
    exchange_id: UUID, document_id: UUID, session: SessionDep, actor: ExchangesWrite
) -> DocumentRead:
    """Make one of your side's documents visible to the client (it cannot be taken back)."""
    await documents.share(session, actor, exchange_id, document_id)
    document, latest, _versions = await documents.get(session, actor, exchange_id, document_id)
    return document_read(document, latest)


@router.delete(
    "/documents/{document_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(ExchangeNotFound, DocumentNotFound, DocumentNotYours, DocumentShared),
)
async def delete_document(exchange_id: UUID, document_id: UUID, session: SessionDep, actor: ExchangesWrite) -> None:
    """Delete a document with all its versions."""
    await documents.delete(session, actor, exchange_id, document_id)
