"""Advisor portal: the tenant's exchanges, creating one, and a room seen from the provider's
side (folders, documents, upload, sharing, the client's access link)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError

from ... import i18n
from ...actor import Actor, Scope
from ...auth.deps import PortalActor
from ...errors import N_, AppError, MissingScope
from ...http import VALIDATION_MESSAGES, KeysDep, PagingDep, SessionDep, SettingsDep
from ...storage.deps import KeyringDep, StoreDep
from ...web import Pages, get_pages, language_query
from ..deps import content_response, receive_upload
from ..schemas import ExchangeCreate, document_read
from ..service import documents, exchanges, folders, links
from .room_view import back_to, room_context

router = APIRouter(prefix="/portal/exchanges", include_in_schema=False)
PagesDep = Annotated[Pages, Depends(get_pages)]
FormText = Annotated[str, Form(max_length=2000)]
CsrfField = Annotated[str | None, Form(max_length=200)]
NO_FOLDERS = N_("This exchange has no folders yet; create one to upload documents.")
INVALID = N_("This value is not valid.")

# Form field → where it goes in the API's create body.
CREATE_FIELDS = {
    "username": ("username",),
    "external_user_id": ("externalUserId",),
    "language_code": ("languageCode",),
    "password": ("password",),
    "client_first_name": ("client", "firstName"),
    "client_last_name": ("client", "lastName"),
    "client_email": ("client", "email"),
    "client_mobile_number": ("client", "mobileNumber"),
    "external_exchange_id": ("externalExchangeId",),
    "name": ("name",),
    "description": ("description",),
    "advisor_first_name": ("advisor", "firstName"),
    "advisor_last_name": ("advisor", "lastName"),
    "advisor_email": ("advisor", "email"),
    "advisor_mobile_number": ("advisor", "mobileNumber"),
}


def _require(actor: Actor, scope: Scope) -> None:
    if not actor.can(scope):
        raise MissingScope(permission=scope)


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request, session: SessionDep, pages: PagesDep, actor: PortalActor, paging: PagingDep
) -> Response:
    _require(actor, Scope.EXCHANGES_READ)
    found = await exchanges.list_exchanges(session, actor, paging)
    return pages.render(
        request,
        "exchange/list.html",
        rows=found.items,
        page=found.page,
        page_count=found.page_count,
        can_write=actor.can(Scope.EXCHANGES_WRITE),
    )


@router.get("/new", response_class=HTMLResponse)
async def new_page(request: Request, pages: PagesDep, actor: PortalActor) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    fresh = {key: str(uuid.uuid4()) for key in ("username", "external_user_id", "external_exchange_id")}
    return pages.render(request, "exchange/new.html", values={"language_code": "DE", **fresh}, errors={})


def _body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field, path in CREATE_FIELDS.items():
        value = values.get(field, "").strip() if field != "password" else values.get(field, "")
        if not value:
            continue
        target = body
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return body


def _form_errors(exc: ValidationError) -> dict[str, str]:
    by_path = {path: field for field, path in CREATE_FIELDS.items()}
    errors: dict[str, str] = {}
    for problem in exc.errors():
        path = tuple(str(part) for part in problem["loc"])
        field = by_path.get(path) or by_path.get(path[:1]) or "name"
        errors.setdefault(field, i18n.gettext(VALIDATION_MESSAGES.get(problem["type"], INVALID)))
    return errors


@router.post("/new", response_class=HTMLResponse)
async def create(
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    keyring: KeyringDep,
    csrf_token: CsrfField = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    form = await request.form()
    values = {field: str(form.get(field, ""))[:2000] for field in CREATE_FIELDS}
    try:
        body = ExchangeCreate.model_validate(_body(values))
        exchange = await exchanges.create(session, actor, keyring, body)
    except ValidationError as exc:
        return pages.render(request, "exchange/new.html", status_code=400, values=values, errors=_form_errors(exc))
    except AppError as error:
        message = i18n.gettext(error.text, **error.params)
        return pages.render(
            request, "exchange/new.html", status_code=error.status, values=values, errors={}, error=message
        )
    return RedirectResponse(f"/portal/exchanges/{exchange.id}{language_query()}", status_code=303)


@router.get("/{exchange_id}", response_class=HTMLResponse)
async def room(
    exchange_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    folder: Annotated[UUID | None, Query()] = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_READ)
    exchange, account = await exchanges.get(session, actor, exchange_id)
    context = await room_context(session, actor, exchange, folder)
    return pages.render(
        request,
        "exchange/advisor_room.html",
        account=account,
        base=f"/portal/exchanges/{exchange.id}",
        page_url=f"/portal/exchanges/{exchange.id}",
        no_folders=i18n.gettext(NO_FOLDERS),
        can_write=actor.can(Scope.EXCHANGES_WRITE),
        **context,
    )


@router.post("/{exchange_id}/folders")
async def create_folder(
    exchange_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    name: FormText = "",
    parent_id: Annotated[UUID | None, Form()] = None,
    csrf_token: CsrfField = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    folder = await folders.create(session, actor, exchange_id, name, parent_id)
    return back_to(f"/portal/exchanges/{exchange_id}", folder.id)


@router.post("/{exchange_id}/link", response_class=HTMLResponse)
async def create_link(
    exchange_id: UUID,
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    url, link = await links.create(
        session,
        actor,
        keys,
        exchange_id,
        public_url=settings.public_url,
        ttl_seconds=settings.exchange.link_ttl_seconds,
    )
    exchange, _account = await exchanges.get(session, actor, exchange_id)
    return pages.render(request, "exchange/link_created.html", exchange=exchange, url=url, expires_at=link.expires_at)


@router.post("/{exchange_id}/folders/{folder_id}/documents")
async def upload(
    exchange_id: UUID,
    folder_id: UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    pages: PagesDep,
    actor: PortalActor,
    keyring: KeyringDep,
    store: StoreDep,
    csrf_token: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> JSONResponse:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    document, version = await receive_upload(request, session, actor, settings, keyring, store, exchange_id, folder_id)
    return JSONResponse(document_read(document, version).model_dump(mode="json", by_alias=True), status_code=201)


@router.get("/{exchange_id}/documents/{document_id}/content")
async def download(
    exchange_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    actor: PortalActor,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    _require(actor, Scope.EXCHANGES_READ)
    return await content_response(
        request, session, actor, keyring, store, exchange_id, document_id, range_header=range_header, if_range=if_range
    )


@router.post("/{exchange_id}/documents/{document_id}/share")
async def share(
    exchange_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    document = await documents.share(session, actor, exchange_id, document_id)
    return back_to(f"/portal/exchanges/{exchange_id}", document.folder_id)


@router.post("/{exchange_id}/documents/{document_id}/delete")
async def delete(
    exchange_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    _require(actor, Scope.EXCHANGES_WRITE)
    pages.check_csrf(request, csrf_token)
    document, _latest, _versions = await documents.get(session, actor, exchange_id, document_id)
    await documents.delete(session, actor, exchange_id, document_id)
    return back_to(f"/portal/exchanges/{exchange_id}", document.folder_id)
