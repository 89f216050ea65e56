"""Client portal: the room (folder tree, documents, upload, the advisor's card), download,
share and delete. Every action goes through the same services as the API, as the client."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from ... import i18n
from ...db import utcnow
from ...errors import N_
from ...http import SessionDep, SettingsDep
from ...storage.deps import KeyringDep, StoreDep
from ...web import Pages, get_pages
from ..deps import CLIENT_LANGUAGE_COOKIE, ClientActor, SignedInClient, content_response, receive_upload
from ..schemas import document_read
from ..service import documents, exchanges
from .room_view import back_to, room_context

router = APIRouter(prefix="/x", include_in_schema=False)
NO_FOLDERS = N_("Your advisor has not created any folders yet.")
PagesDep = Annotated[Pages, Depends(get_pages)]
CsrfField = Annotated[str | None, Form(max_length=200)]


@router.get("/", response_class=HTMLResponse)
async def room(
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: ClientActor,
    signed_in: SignedInClient,
    folder: Annotated[UUID | None, Query()] = None,
) -> Response:
    exchange = await exchanges.of_client(session, actor)
    context = await room_context(session, actor, exchange, folder)
    response = pages.render(
        request,
        "exchange/room.html",
        account=signed_in[1],
        base="/x",
        page_url="/x/",
        no_folders=i18n.gettext(NO_FOLDERS),
        **context,
    )
    if i18n.language_asked.get():  # the language switcher: kept for the rest of the session
        client_session = signed_in[0]
        value = f"{i18n.current_language.get()}.{client_session.id}"
        ttl = max(1, int((client_session.expires_at - utcnow()).total_seconds()))
        pages.set_cookie(response, CLIENT_LANGUAGE_COOKIE, value, max_age=ttl)
    return response


@router.post("/folders/{folder_id}/documents")
async def upload(
    folder_id: UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    pages: PagesDep,
    actor: ClientActor,
    keyring: KeyringDep,
    store: StoreDep,
    csrf_token: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> JSONResponse:
    """Called by the page's script (the body is the file, streamed); answers JSON."""
    pages.check_csrf(request, csrf_token)
    exchange = await exchanges.of_client(session, actor)
    document, version = await receive_upload(request, session, actor, settings, keyring, store, exchange.id, folder_id)
    read = document_read(document, version)
    return JSONResponse(read.model_dump(mode="json", by_alias=True), status_code=201)


@router.get("/documents/{document_id}/content")
async def download(
    document_id: UUID,
    request: Request,
    session: SessionDep,
    actor: ClientActor,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    exchange = await exchanges.of_client(session, actor)
    return await content_response(
        request, session, actor, keyring, store, exchange.id, document_id, range_header=range_header, if_range=if_range
    )


@router.post("/documents/{document_id}/share")
async def share(
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: ClientActor,
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    exchange = await exchanges.of_client(session, actor)
    document = await documents.share(session, actor, exchange.id, document_id)
    return back_to("/x/", document.folder_id)


@router.post("/documents/{document_id}/delete")
async def delete(
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: ClientActor,
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    exchange = await exchanges.of_client(session, actor)
    document, _latest, _versions = await documents.get(session, actor, exchange.id, document_id)
    await documents.delete(session, actor, exchange.id, document_id)
    return back_to("/x/", document.folder_id)
