"""The dossier page, and what is done to a dossier as a whole: cancel with a reason while
pending, delete while a draft, and judge its current PDFs' signatures when asked (never on
a page view: pyHanko's validation costs about a second of CPU per document); once it is
completed, its download ZIP, evidence bundle and audit report (as the API gives them)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ...actor import Scope
from ...auth.deps import PortalActor
from ...errors import AppError
from ...http import KeysDep, SessionDep, SettingsDep
from ...storage import service as storage
from ...storage.deps import KeyringDep, StoreDep
from ...web import language_query
from ..deps import download_response, evidence_response, report_response
from ..schemas.dossiers import CancelRequest
from ..schemas.validation import ValidationRead
from ..service import documents as document_service
from ..service import dossiers, validating
from .common import BASE, CsrfField, PagesDep, problem_messages, require, validation_messages
from .dossier_page import render_dossier

router = APIRouter(prefix=BASE, include_in_schema=False)


@router.get("/{dossier_id}", response_class=HTMLResponse)
async def dossier_page(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    keys: KeysDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    require(actor, Scope.SIGNING_READ)
    return await render_dossier(request, session, pages, actor, keys, settings, dossier_id, q=q)


@router.post("/{dossier_id}/cancel", response_class=HTMLResponse)
async def cancel(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    keys: KeysDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    dossier, _people = await dossiers.get(session, actor, dossier_id)
    try:
        body = CancelRequest.model_validate({"reason": reason.strip()})
        await dossiers.cancel(session, actor, dossier_id, body.reason, concurrency_token=dossier.concurrency_token)
    except ValidationError as exc:
        messages = validation_messages(exc)
    except AppError as error:
        messages = problem_messages(error)
    else:
        return RedirectResponse(f"{BASE}/{dossier_id}{language_query()}", status_code=303)
    cancel_error = " ".join(dict.fromkeys(messages.values()))
    return await render_dossier(
        request, session, pages, actor, keys, settings, dossier_id, status=400, cancel_error=cancel_error
    )


@router.post("/{dossier_id}/delete")
async def delete(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    csrf_token: CsrfField = None,
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    dossier, _people = await dossiers.get(session, actor, dossier_id)
    await dossiers.delete(session, actor, dossier_id, concurrency_token=dossier.concurrency_token)
    return RedirectResponse(f"{BASE}{language_query()}", status_code=303)


@router.post("/{dossier_id}/validate", response_class=HTMLResponse)
async def validate(
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
    """Judge each document's current PDF as POST /signing/validate does (same limit per tenant)."""
    require(actor, Scope.SIGNING_READ)
    pages.check_csrf(request, csrf_token)
    dossier, _people = await dossiers.get(session, actor, dossier_id)
    trust = await validating.admit(session, actor, settings)
    contents = []
    for document, _fields in await document_service.documents_with_fields(session, actor, dossier):
        opened = await storage.open_blob(session, keyring, store, actor.tenant_id, document.blob_id)
        contents.append((document, await document_service.read_pdf(opened)))
    # The count is written and nothing is held while pyHanko works (as the API does).
    await session.commit()
    results: list[tuple[str, ValidationRead]] = []
    for document, data in contents:
        verdict = await validating.validate(data, trust, request.app.state.validation_executor, file=document.file_name)
        results.append((document.file_name, verdict))
    return await render_dossier(request, session, pages, actor, keys, settings, dossier_id, validation=results)


# --- a completed dossier's files: as the API's, with the portal's session ----------------------


@router.get("/{dossier_id}/download")
async def download(
    dossier_id: UUID, request: Request, session: SessionDep, actor: PortalActor, keyring: KeyringDep, store: StoreDep
) -> Response:
    require(actor, Scope.SIGNING_READ)
    return await download_response(request, session, actor, keyring, store, dossier_id)


@router.get("/{dossier_id}/evidence")
async def evidence(
    dossier_id: UUID, request: Request, session: SessionDep, actor: PortalActor, keyring: KeyringDep, store: StoreDep
) -> Response:
    require(actor, Scope.SIGNING_READ)
    return await evidence_response(request, session, actor, keyring, store, dossier_id)


@router.get("/{dossier_id}/audit-report")
async def audit_report(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    actor: PortalActor,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    require(actor, Scope.SIGNING_READ)
    return await report_response(
        request, session, actor, keyring, store, dossier_id, range_header=range_header, if_range=if_range
    )
