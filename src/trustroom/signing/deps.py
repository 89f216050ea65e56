"""Request plumbing of e-signatures: who uploads a document (an API key, or the token of
an upload URL), the streamed upload itself, downloads and the page renderer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.concurrency import iterate_in_threadpool
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from .. import i18n
from ..actor import Actor, Scope
from ..audit.service import DeferredAudit
from ..db import utcnow
from ..downloads import content_disposition, file_response
from ..errors import MissingScope, Unauthorized
from ..http import SessionDep, WriteSessionDep, bearer_scheme, client_ip, current_actor, get_keys, get_settings
from ..logs import correlation_id
from ..settings import Settings
from ..storage.blobs import BlobStore
from ..storage.keyring import Keyring
from ..uploads import read_multipart
from .evidence import archive
from .models import DossierDocument
from .service import (
    archives,
    authority,
    documents,
    page_images,
    signer_access,
    signer_sessions,
    signer_side,
    upload_urls,
)
from .service.page_images import PageImages
from .service.signer_access import SignerAccess

# The query parameter that carries an upload URL's token.
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name, not a secret


class Uploader:
    """Who uploads: the caller's API key (needing signing:write), or, on a request without
    one, the upload URL's token, which stands in for a key; then the URL's id is known too."""

    def __init__(self, actor: Actor, upload_url_id: UUID | None) -> None:
        self.actor = actor
        self.upload_url_id = upload_url_id


async def uploader(
    request: Request,
    session: SessionDep,
    dossier_id: UUID,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    token: Annotated[
        str | None,
        Query(
            alias=TOKEN_PARAMETER,
            min_length=1,
            max_length=200,
            description="The token of an upload URL (POST …/documents/upload-url), in place of an API key.",
        ),
    ] = None,
) -> Uploader:
    # A request that carries an API key is the key's, token or not.
    if token is None or "authorization" in request.headers:
        actor = await current_actor(request, session, credentials)
        if not actor.can(Scope.SIGNING_WRITE):
            raise MissingScope(permission=Scope.SIGNING_WRITE)
        return Uploader(actor, None)
    settings = get_settings(request)
    actor, upload_url_id = await upload_urls.redeem(
        session, get_keys(request), settings.signing, dossier_id, token, client_ip(request)
    )
    request.state.actor = actor
    return Uploader(actor, upload_url_id)


UploaderDep = Annotated[Uploader, Depends(uploader)]


async def receive_upload(
    request: Request,
    session: AsyncSession,
    who: Uploader,
    settings: Settings,
    keyring: Keyring,
    store: BlobStore,
    dossier_id: UUID,
) -> DossierDocument:
    """An upload's three steps (service.documents), around the streamed request body."""
    actor = who.actor
    target = await documents.prepare_upload(
        session, actor, keyring, settings.signing, dossier_id, upload_url_id=who.upload_url_id
    )
    # Nothing is held while the bytes arrive (ADR 0011), as for exchange documents.
    await session.commit()
    receiver = documents.Receiver(target)
    await read_multipart(request, receiver, max_parts=1)
    return await documents.finish_upload(session, actor, store, target, receiver)


async def content_response(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    dossier_id: UUID,
    document_id: UUID,
    *,
    range_header: str | None,
    if_range: str | None,
) -> StreamingResponse:
    """The current PDF as a download, its SHA-256 as ETag; audited without a write."""
    document, opened = await documents.open_content(session, actor, keyring, store, dossier_id, document_id)
    audit_queue: DeferredAudit = request.app.state.audit_queue
    size = opened.blob.byte_size

    def served(start: int, stop: int) -> None:
        data = documents.download_facts(document, size, start, stop)
        audit_queue.note(actor, documents.DOWNLOADED, target_type="dossierDocument", target_id=document.id, data=data)

    return await file_response(
        opened.chunks,
        size=size,
        media_type=documents.PDF,
        name=document.file_name,
        etag=f'"{document.sha256}"',
        range_header=range_header,
        if_range=if_range,
        served=served,
    )


async def get_page_images(request: Request) -> PageImages:
    # One per app, made on the first request (inside the event loop, as anyio wants).
    images: PageImages | None = getattr(request.app.state, "page_images", None)
    if images is None:
        settings = get_settings(request)
        images = request.app.state.page_images = PageImages.create(settings.signing.page_image_cache_bytes)
    return images


PageImagesDep = Annotated[PageImages, Depends(get_page_images)]


# --- the signer's side ------------------------------------------------------------------------

# The signer's JSON API takes the invite token as its bearer: a scheme of its own in the
# OpenAPI document, apart from API keys.
invite_bearer = HTTPBearer(
    scheme_name="InviteToken",
    auto_error=False,
    description="The token of an invitation (the last part of its link `…/s/<token>`).",
)


class Signer:
    """The invitee acting through their invite, with their rows."""

    def __init__(self, found: SignerAccess, actor: Actor, user_agent: str | None) -> None:
        self.found = found
        self.actor = actor
        self.user_agent = user_agent


async def _signer(
    request: Request, session: AsyncSession, credentials: HTTPAuthorizationCredentials | None, *, completed_ok: bool
) -> Signer:
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    ip = client_ip(request)
    found = await signer_access.resolve(
        session, get_keys(request), get_settings(request), credentials.credentials, ip=ip, completed_ok=completed_ok
    )
    actor = signer_sessions.signer_actor(found, ip=ip, correlation_id=correlation_id.get())
    request.state.actor = actor
    if not i18n.language_asked.get():
        i18n.current_language.set(signer_side.language(found))
    return Signer(found, actor, request.headers.get("user-agent"))


async def acting_signer(
    request: Request,
    session: WriteSessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(invite_bearer)],
) -> Signer:
    """The signer of a pending dossier, by the invite token."""
    return await _signer(request, session, credentials, completed_ok=False)


async def reading_signer(
    request: Request,
    session: WriteSessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(invite_bearer)],
) -> Signer:
    """The signer, also once the dossier is completed (status, signed documents)."""
    return await _signer(request, session, credentials, completed_ok=True)


ActingSigner = Annotated[Signer, Depends(acting_signer)]
ReadingSigner = Annotated[Signer, Depends(reading_signer)]


PNG = "image/png"


async def page_image_response(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    images: PageImages,
    dossier_id: UUID,
    document_id: UUID,
    page_number: int,
    width: int,
    if_none_match: str | None,
) -> Response:
    """A page of the current PDF as a PNG, for a member (the API and the portal)."""
    document = await page_images.locate(session, actor, dossier_id, document_id, page_number)

    async def render() -> bytes:
        return await page_images.render(session, actor, keyring, store, images, document, page_number, width)

    return await _png_response(document, page_number, width, if_none_match, render)


async def signer_page_response(
    session: AsyncSession,
    signer: Signer,
    keyring: Keyring,
    store: BlobStore,
    images: PageImages,
    document_id: UUID,
    page_number: int,
    width: int,
    if_none_match: str | None,
) -> Response:
    """A page of the signer's dossier as a PNG, for the signer (the API and the pages alike)."""
    document = await documents.load_document(session, signer.actor, signer.found.dossier, document_id)

    async def render() -> bytes:
        _document, image = await signer_side.page_image(
            session, signer.actor, keyring, store, images, signer.found, document_id, page_number, width
        )
        return image

    return await _png_response(document, page_number, width, if_none_match, render)


async def _png_response(
    document: DossierDocument,
    page_number: int,
    width: int,
    if_none_match: str | None,
    render: Callable[[], Awaitable[bytes]],
) -> Response:
    """The rendered page, or 304 when the client has it: the ETag follows the PDF's hash, so
    it changes with each signing step. A page the document lacks is never 304 (`render` refuses it)."""
    tag = page_images.etag(document, page_number, width)
    headers = {"ETag": tag, "Cache-Control": "private, max-age=3600"}
    if page_number <= document.page_count and if_none_match and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(await render(), media_type=PNG, headers=headers)


# --- a completed dossier's files (the API and the advisor portal) ------------------------------

ZIP = "application/zip"


def _zip_response(chunks: Iterator[bytes], name: str) -> StreamingResponse:
    headers = {
        "Content-Disposition": content_disposition(name),
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=ZIP, headers=headers)


def _note(request: Request, actor: Actor, action: str, dossier_id: UUID, **data: object) -> None:
    audit_queue: DeferredAudit = request.app.state.audit_queue
    audit_queue.note(actor, action, target_type="dossier", target_id=dossier_id, data=data)


async def download_response(
    request: Request, session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, dossier_id: UUID
) -> StreamingResponse:
    """The signed PDFs and the sealed audit report as one ZIP (`archive.download_zip`)."""
    done = await archives.read_completed(session, actor, keyring, store, dossier_id)
    chunks = archive.download_zip(done.facts.dossier, done.documents, done.report, modified=done.completed_at)
    _note(request, actor, archives.DOWNLOADED, dossier_id, documents=len(done.documents))
    return _zip_response(chunks, archive.safe_name(done.dossier.name, extension=".zip"))


async def evidence_response(
    request: Request, session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, dossier_id: UUID
) -> StreamingResponse:
    """The evidence bundle (`archive.evidence_zip`): each document judged on the validation threads."""
    done = await archives.read_completed(session, actor, keyring, store, dossier_id)
    trust = await authority.validation_trust(session, get_settings(request), actor.tenant_id)
    now = utcnow()
    judged = await archives.validated(done.documents, trust, request.app.state.validation_executor, now=now)
    chunks = archive.evidence_zip(done.facts.dossier, judged, done.report, done.facts.events, trust, made_at=now)
    _note(request, actor, archives.EVIDENCE_DOWNLOADED, dossier_id, documents=len(judged))
    return _zip_response(chunks, f"evidence-{dossier_id}.zip")


async def report_response(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    dossier_id: UUID,
    *,
    range_header: str | None,
    if_range: str | None,
) -> StreamingResponse:
    """The sealed audit report, its SHA-256 as ETag."""
    dossier, report, opened = await archives.open_report(session, actor, keyring, store, dossier_id)

    def served(start: int, stop: int) -> None:
        _note(request, actor, archives.REPORT_DOWNLOADED, dossier_id, sha256=report.sha256, bytes=stop - start)

    return await file_response(
        opened.chunks,
        size=opened.blob.byte_size,
        media_type=documents.PDF,
        name=archive.safe_name(archive.report_name(dossier.name, dossier.locale)),
        etag=f'"{report.sha256}"',
        range_header=range_header,
        if_range=if_range,
        served=served,
    )
