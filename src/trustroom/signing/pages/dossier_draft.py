"""Preparing a draft in the portal: invitees (by hand, or from the member's contacts),
documents (uploaded by the page's script), fields placed on the rendered pages, and
sending. Each step calls the same services as the API, so the same rules refuse the same
input, here as messages beside the form's fields."""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from ...actor import Scope
from ...auth.deps import PortalActor
from ...errors import AppError
from ...http import KeysDep, SessionDep, SettingsDep
from ...storage.deps import KeyringDep, StoreDep
from ...web import language_query
from ..deps import PageImagesDep, Uploader, page_image_response, receive_upload
from ..models import DossierState, Invitee
from ..schemas.documents import FieldsReplace, document_read
from ..schemas.dossiers import DossierUpdate
from ..schemas.invites import InviteCreate
from ..service import documents as document_service
from ..service import dossiers, fields, invites, page_images
from ..service.stored_pdfs import Workshop
from .common import BASE, CsrfField, PagesDep, json_problem, problem_messages, require, validation_messages
from .dossier_page import render_dossier

router = APIRouter(prefix=BASE, include_in_schema=False)
CsrfHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]
# The invitee form's fields, by the name the API body gives them.
INVITEE_FIELDS = {
    "name": "first_name",
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phoneNumber": "phone_number",
    "role": "role",
    "position": "position",
    "authenticationMethods": "authentication",
    "contactId": "contact_id",
}
FORM_KEYS = ("first_name", "last_name", "email", "phone_number", "role", "position", "contact_id")


def kept(invitee: Invitee) -> dict[str, Any]:
    """An invitee as the update body gives it back unchanged (kept by its id)."""
    body: dict[str, Any] = {
        "id": str(invitee.id),
        "email": invitee.email,
        "phoneNumber": invitee.phone_number,
        "locale": invitee.locale,
        "role": invitee.role,
        "position": invitee.position,
        "authenticationMethods": list(invitee.authentication_methods),
        "reference": invitee.reference,
        "contactId": str(invitee.contact_id) if invitee.contact_id else None,
    }
    if invitee.first_name and invitee.last_name:
        body.update(firstName=invitee.first_name, lastName=invitee.last_name)
    else:
        body["name"] = invitee.name
    return body


def added(values: dict[str, str], methods: list[str]) -> dict[str, Any]:
    """The new invitee from the form; what is left out comes from the contact, if one is named."""
    body: dict[str, Any] = {
        "role": values["role"] or "signer",
        "position": values["position"].strip() or "1",
        "authenticationMethods": methods,
    }
    for key, field in (("firstName", "first_name"), ("lastName", "last_name"), ("email", "email")):
        if values[field].strip():
            body[key] = values[field].strip()
    if values["phone_number"].strip():
        body["phoneNumber"] = values["phone_number"].strip()
    if values["contact_id"]:
        body["contactId"] = values["contact_id"]
    if "firstName" in body and "lastName" not in body:
        body["name"] = body.pop("firstName")
    return body


def _field_errors(messages: dict[str, str], index: int) -> dict[str, str]:
    """The refusals about the new invitee (the last of the list), by form field; others go on top."""
    errors: dict[str, str] = {}
    prefix = f"/invitees/{index}/"
    for pointer, text in messages.items():
        key = INVITEE_FIELDS.get(pointer.removeprefix(prefix).split("/")[0]) if pointer.startswith(prefix) else None
        errors.setdefault(key or "", text)
    return errors


@router.post("/{dossier_id}/invitees", response_class=HTMLResponse)
async def add_invitee(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    keys: KeysDep,
    settings: SettingsDep,
    csrf_token: CsrfField = None,
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    form = await request.form()
    values = {key: str(form.get(key, ""))[:320] for key in FORM_KEYS}
    methods = [str(m) for m in form.getlist("authentication")][:2]
    dossier, people = await dossiers.get(session, actor, dossier_id)
    body = {"invitees": [*(kept(person) for person in people), added(values, methods)]}
    try:
        update = DossierUpdate.model_validate(body)
        await dossiers.update(session, actor, dossier_id, update, concurrency_token=dossier.concurrency_token)
    except ValidationError as exc:
        errors = _field_errors(validation_messages(exc), len(people))
    except AppError as error:
        errors = _field_errors(problem_messages(error), len(people))
    else:
        return RedirectResponse(f"{BASE}/{dossier_id}{language_query()}#invitees", status_code=303)
    context: dict[str, Any] = {"invitee_values": {**values, "authentication": methods}, "invitee_errors": errors}
    return await render_dossier(request, session, pages, actor, keys, settings, dossier_id, status=400, **context)


@router.post("/{dossier_id}/invitees/{invitee_id}/remove")
async def remove_invitee(
    dossier_id: UUID,
    invitee_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    dossier, people = await dossiers.get(session, actor, dossier_id)
    remaining = [kept(person) for person in people if person.id != invitee_id]
    update = DossierUpdate.model_validate({"invitees": remaining})
    await dossiers.update(session, actor, dossier_id, update, concurrency_token=dossier.concurrency_token)
    return RedirectResponse(f"{BASE}/{dossier_id}{language_query()}#invitees", status_code=303)


@router.post("/{dossier_id}/documents")
async def upload_document(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    pages: PagesDep,
    actor: PortalActor,
    keyring: KeyringDep,
    store: StoreDep,
    csrf_token: CsrfHeader = None,
) -> JSONResponse:
    """The page's script sends each PDF here (the token in a header: the body is the file)."""
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    document = await receive_upload(request, session, Uploader(actor, None), settings, keyring, store, dossier_id)
    return JSONResponse(document_read(document, []).model_dump(mode="json", by_alias=True), status_code=201)


@router.post("/{dossier_id}/documents/{document_id}/delete")
async def delete_document(
    dossier_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    await document_service.delete(session, actor, dossier_id, document_id)
    return RedirectResponse(f"{BASE}/{dossier_id}{language_query()}#documents", status_code=303)


@router.get("/{dossier_id}/documents/{document_id}/pages/{page_number}")
async def page_image(
    dossier_id: UUID,
    document_id: UUID,
    page_number: Annotated[int, Path(ge=1, le=100000)],
    session: SessionDep,
    actor: PortalActor,
    keyring: KeyringDep,
    store: StoreDep,
    images: PageImagesDep,
    width: Annotated[int, Query(ge=page_images.MIN_WIDTH, le=page_images.MAX_WIDTH)] = page_images.DEFAULT_WIDTH,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    require(actor, Scope.SIGNING_READ)
    return await page_image_response(
        session, actor, keyring, store, images, dossier_id, document_id, page_number, width, if_none_match
    )


@router.put("/{dossier_id}/documents/{document_id}/fields")
async def replace_fields(
    dossier_id: UUID,
    document_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfHeader = None,
) -> JSONResponse:
    """The editor saves a document's fields as the API takes them; a refusal answers each
    field's message, in the page's language, for the script to show beside it."""
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    try:
        body = FieldsReplace.model_validate(json.loads(await request.body()))
        document, rows = await fields.replace(session, actor, dossier_id, document_id, body.fields)
    except ValueError as exc:  # not JSON, or not the shape (ValidationError is a ValueError)
        messages = validation_messages(exc) if isinstance(exc, ValidationError) else {}
        return JSONResponse(json_problem(422, messages), status_code=422)
    except AppError as error:
        return JSONResponse(json_problem(error.status, problem_messages(error)), status_code=error.status)
    return JSONResponse(document_read(document, rows).model_dump(mode="json", by_alias=True))


@router.post("/{dossier_id}/send", response_class=HTMLResponse)
async def send(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    keys: KeysDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    store: StoreDep,
    csrf_token: CsrfField = None,
) -> Response:
    """Invite every invitee by the channel chosen for them; the first invites send the dossier
    (its documents are prepared and certified in the same request, as through the API)."""
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    form = await request.form()
    dossier, people = await dossiers.get(session, actor, dossier_id)
    try:
        if dossier.state == DossierState.DRAFT:
            await fields.check_ready(session, actor, dossier)  # documents, and a signature field per signer
        batch = [
            InviteCreate.model_validate({"inviteeId": str(p.id), "channel": str(form.get(f"channel-{p.id}", "email"))})
            for p in people
        ]
        outbound = invites.Outbound(keys, settings.public_url)
        workshop = Workshop(keys, settings, keyring, store)
        await invites.create(session, actor, outbound, workshop, dossier_id, batch)
    except ValidationError as exc:
        messages = validation_messages(exc)
    except AppError as error:
        messages = problem_messages(error)
    else:
        return RedirectResponse(f"{BASE}/{dossier_id}{language_query()}#invites", status_code=303)
    send_error = " ".join(dict.fromkeys(messages.values())) or None
    return await render_dossier(
        request, session, pages, actor, keys, settings, dossier_id, status=400, send_error=send_error
    )
