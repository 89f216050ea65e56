"""Request plumbing of secure exchange shared by the API and the client portal."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from .. import i18n
from ..actor import Actor
from ..audit.service import DeferredAudit
from ..auth.service.portal import TOUCH_INTERVAL
from ..db import utcnow
from ..downloads import file_response
from ..http import SessionDep, client_ip, get_keys, get_settings
from ..settings import Settings
from ..storage.blobs import BlobStore
from ..storage.keyring import Keyring
from ..uploads import read_multipart
from ..web import get_pages
from .clamd import Clamd
from .models import ClientAccount, ClientSession, Document, DocumentVersion
from .service import documents, sign_in
from .service.documents import DOWNLOADED


async def receive_upload(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    keyring: Keyring,
    store: BlobStore,
    exchange_id: UUID,
    folder_id: UUID,
) -> tuple[Document, DocumentVersion]:
    """An upload's three steps (service.documents), around the streamed request body."""
    clamd_url = settings.exchange.clamd_url
    scanner = Clamd(clamd_url, settings.exchange.scan_timeout_seconds) if clamd_url else None
    target = await documents.prepare_upload(session, actor, keyring, exchange_id, folder_id, scanner=scanner)
    # Nothing is held while the bytes arrive: on SQLite the write lock, on PostgreSQL a
    # connection would otherwise be taken for the whole upload (ADR 0011).
    await session.commit()
    receiver = documents.Receiver(store, actor.tenant_id, target, settings.exchange.upload_max_bytes)
    try:
        await read_multipart(request, receiver, max_parts=1)
        return await documents.finish_upload(session, actor, target, receiver)
    except BaseException:
        await receiver.abort()
        raise


async def content_response(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    exchange_id: UUID,
    document_id: UUID,
    *,
    number: int | None = None,
    range_header: str | None,
    if_range: str | None,
) -> StreamingResponse:
    """A document's content as a download (the latest available version unless `number`
    says which), for the API and the pages alike; audited without a write (DeferredAudit)."""
    document, version, opened = await documents.open_content(
        session, actor, keyring, store, exchange_id, document_id, number=number
    )
    audit_queue: DeferredAudit = request.app.state.audit_queue

    def served(start: int, stop: int) -> None:
        data = documents.download_facts(document, version, start, stop)
        audit_queue.note(actor, DOWNLOADED, target_type="exchangeDocument", target_id=document.id, data=data)

    return await file_response(
        opened.chunks,
        size=version.byte_size,
        media_type=version.content_type,
        name=document.name,
        etag=f'"{version.sha256}"',
        range_header=range_header,
        if_range=if_range,
        served=served,
    )


CLIENT_SESSION_COOKIE = "trustroom_x_session"
CLIENT_PENDING_COOKIE = "trustroom_x_pending"
# The language a signed-in client picked, as `<language>.<client session id>`: it applies to
# that session only, so the next client on a shared browser gets their own room's language.
CLIENT_LANGUAGE_COOKIE = "trustroom_x_language"


def remembered_language(request: Request, client_session: ClientSession) -> str | None:
    value = get_pages(request).cookie(request, CLIENT_LANGUAGE_COOKIE) or ""
    language, _, session_id = value.partition(".")
    return i18n.normalize(language) if session_id == str(client_session.id) else None


class ClientSignInRequired(Exception):
    """No live client session: the page handler answers with a redirect to the sign-in."""


async def signed_in_client(request: Request, session: SessionDep) -> tuple[ClientSession, ClientAccount]:
    token = get_pages(request).cookie(request, CLIENT_SESSION_COOKIE)
    found = None
    if token:
        found = await sign_in.find_session(
            session, get_keys(request), get_settings(request), token, stage=sign_in.STAGE_ACTIVE
        )
    if found is None:
        raise ClientSignInRequired()
    client_session, account = found
    if not i18n.language_chosen.get():
        # The room's language, unless the client picked another earlier in this session.
        i18n.current_language.set(remembered_language(request, client_session) or account.language)
    if utcnow() - client_session.last_seen_at >= TOUCH_INTERVAL:
        request.app.state.usage.session_seen(client_session)
    return found


SignedInClient = Annotated[tuple[ClientSession, ClientAccount], Depends(signed_in_client)]


async def current_client(request: Request, signed_in: SignedInClient) -> Actor:
    """The signed-in client as the actor of a page; the session is bound to their tenant."""
    return sign_in.client_actor(signed_in[1], client_ip(request))


ClientActor = Annotated[Actor, Depends(current_client)]
