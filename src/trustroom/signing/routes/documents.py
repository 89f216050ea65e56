"""Documents of a dossier: upload URLs, uploads (streamed; with an API key or through an
upload URL), list, read, delete while a draft, the current PDF, page sizes and images, and
the fields of each document."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...downloads import RangeNotSatisfiable
from ...errors import MultipartInvalid, UnsupportedMediaType
from ...exchange.errors import NameInvalid, NoFileGiven
from ...http import API_PREFIX, ApiRoute, KeysDep, NameOrderPagingDep, SessionDep, SettingsDep, error_responses
from ...schemas import Page, Slice
from ...storage.deps import KeyringDep, StoreDep
from ...storage.errors import BlobUnreadable
from ...uploads import FILE_UPLOAD_BODY
from ..deps import (
    PNG,
    TOKEN_PARAMETER,
    PageImagesDep,
    UploaderDep,
    content_response,
    page_image_response,
    receive_upload,
)
from ..errors import (
    BrokenPdf,
    DocumentNotFound,
    DocumentsTooLarge,
    DossierNotDraft,
    DossierNotFound,
    EncryptedPdf,
    FieldInviteeNotFound,
    FieldInviteeNotSigner,
    FieldInviteeViewer,
    FieldNameOnlyForSignatures,
    FieldOutsidePage,
    FieldPageNotFound,
    FieldTargetRequired,
    NotAPdf,
    PageNotFound,
    SignatureFieldRepeated,
    SignatureFieldUnknown,
    SignedPdf,
    TooManyDocuments,
    UploadUrlInvalid,
)
from ..schemas.documents import DocumentRead, FieldsReplace, PageRead, UploadUrlRead, document_read
from ..service import documents, fields, page_images, upload_urls
from .dossiers import SigningRead, SigningWrite

router = APIRouter(
    prefix=f"{API_PREFIX}/dossiers/{{dossier_id}}/documents",
    tags=["e-signatures"],
    route_class=ApiRoute,
    responses=error_responses(),
)

PDF_ERRORS = (NotAPdf, EncryptedPdf, BrokenPdf, SignedPdf)


@router.post(
    "/upload-url",
    status_code=201,
    response_model=UploadUrlRead,
    responses=error_responses(DossierNotFound, DossierNotDraft),
)
async def create_upload_url(
    dossier_id: UUID, session: SessionDep, actor: SigningWrite, keys: KeysDep, settings: SettingsDep
) -> UploadUrlRead:
    """A URL that accepts uploads of documents into this draft for one hour, without an API
    key: the token in it is the credential, so hand it only to whoever should upload."""
    token, row = await upload_urls.create(session, actor, keys, settings.signing, dossier_id)
    url = f"{settings.public_url.rstrip('/')}{API_PREFIX}/dossiers/{dossier_id}/documents?{TOKEN_PARAMETER}={token}"
    return UploadUrlRead(url=url, expires_at=row.expires_at)


@router.post(
    "",
    status_code=201,
    response_model=DocumentRead,
    openapi_extra=FILE_UPLOAD_BODY,
    responses=error_responses(
        DossierNotFound,
        DossierNotDraft,
        UploadUrlInvalid,
        NoFileGiven,
        NameInvalid,
        TooManyDocuments,
        DocumentsTooLarge,
        MultipartInvalid,
        UnsupportedMediaType,
        *PDF_ERRORS,
    ),
)
async def upload_document(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    who: UploaderDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    store: StoreDep,
    response: Response,
) -> DocumentRead:
    """Add a PDF (multipart part `file`) to a draft, after its other documents. With an
    upload URL's `token`, no API key is needed. A file that is not a PDF, is encrypted,
    damaged or signed already is refused naming it; so is one past the dossier's limits
    (20 documents, 50 MB together by default)."""
    document = await receive_upload(request, session, who, settings, keyring, store, dossier_id)
    response.headers["Location"] = f"{API_PREFIX}/dossiers/{dossier_id}/documents/{document.id}"
    return document_read(document, [])


@router.get("", response_model=Page[DocumentRead], responses=error_responses(DossierNotFound))
async def list_documents(
    dossier_id: UUID, session: SessionDep, actor: SigningRead, paging: NameOrderPagingDep
) -> Slice[DocumentRead]:
    """The dossier's documents in their order, each with its fields."""
    found = await documents.list_documents(session, actor, dossier_id, paging)
    return paging.page_of([document_read(d, f) for d, f in found.items], found.total_count)


@router.get(
    "/{document_id:uuid}", response_model=DocumentRead, responses=error_responses(DossierNotFound, DocumentNotFound)
)
async def get_document(dossier_id: UUID, document_id: UUID, session: SessionDep, actor: SigningRead) -> DocumentRead:
    """One document with its fields and the empty signature fields it came with."""
    document, found = await documents.get(session, actor, dossier_id, document_id)
    return document_read(document, found)


@router.delete(
    "/{document_id:uuid}",
    status_code=204,
    response_class=Response,
    responses=error_responses(DossierNotFound, DocumentNotFound, DossierNotDraft),
)
async def delete_document(dossier_id: UUID, document_id: UUID, session: SessionDep, actor: SigningWrite) -> None:
    """Delete a document of a draft, with its fields."""
    await documents.delete(session, actor, dossier_id, document_id)


@router.get(
    "/{document_id:uuid}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        206: {"description": "The range asked for (Range: bytes=…)."},
        **error_responses(DossierNotFound, DocumentNotFound, RangeNotSatisfiable, BlobUnreadable),
    },
)
async def download_document(
    dossier_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    actor: SigningRead,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    """The current PDF (the original until the dossier is sent, then with every signature
    so far); its SHA-256 is the ETag. Every download is audited."""
    return await content_response(
        request, session, actor, keyring, store, dossier_id, document_id, range_header=range_header, if_range=if_range
    )


@router.get(
    "/{document_id:uuid}/pages",
    response_model=list[PageRead],
    responses=error_responses(DossierNotFound, DocumentNotFound),
)
async def list_pages(dossier_id: UUID, document_id: UUID, session: SessionDep, actor: SigningRead) -> list[PageRead]:
    """Every page's visible box in PDF points and its rotation: how a click on a page image
    maps to the points fields are placed in."""
    document, _ = await documents.get(session, actor, dossier_id, document_id)
    return [PageRead(number=index + 1, **page) for index, page in enumerate(document.pages)]


@router.get(
    "/{document_id:uuid}/pages/{page_number}",
    response_class=Response,
    responses={
        200: {"content": {PNG: {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "The image has not changed (If-None-Match)."},
        **error_responses(DossierNotFound, DocumentNotFound, PageNotFound, BlobUnreadable),
    },
)
async def page_image(
    dossier_id: UUID,
    document_id: UUID,
    page_number: Annotated[int, Path(ge=1, le=100000, description="From 1.")],
    session: SessionDep,
    actor: SigningRead,
    keyring: KeyringDep,
    store: StoreDep,
    images: PageImagesDep,
    width: Annotated[
        int,
        Query(ge=page_images.MIN_WIDTH, le=page_images.MAX_WIDTH, description="Of the image, in pixels."),
    ] = page_images.DEFAULT_WIDTH,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A page of the current PDF as a PNG image `width` pixels wide (its height in
    proportion), as a viewer shows it (turned by its rotation)."""
    return await page_image_response(
        session, actor, keyring, store, images, dossier_id, document_id, page_number, width, if_none_match
    )


@router.put(
    "/{document_id:uuid}/fields",
    response_model=DocumentRead,
    responses=error_responses(
        DossierNotFound,
        DocumentNotFound,
        DossierNotDraft,
        FieldTargetRequired,
        FieldNameOnlyForSignatures,
        SignatureFieldUnknown,
        SignatureFieldRepeated,
        FieldPageNotFound,
        FieldOutsidePage,
        FieldInviteeNotFound,
        FieldInviteeNotSigner,
        FieldInviteeViewer,
    ),
)
async def replace_fields(
    dossier_id: UUID, document_id: UUID, body: FieldsReplace, session: SessionDep, actor: SigningWrite
) -> DocumentRead:
    """Set the document's fields, replacing those it had (an empty list removes them): each
    an empty signature field of the PDF by `fieldName`, or a box on a page in PDF points."""
    document, rows = await fields.replace(session, actor, dossier_id, document_id, body.fields)
    return document_read(document, rows)
