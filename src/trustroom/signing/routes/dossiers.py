"""Dossiers: create (with invitees), read, list, change and delete while a draft, cancel
while pending."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...actor import Actor, Scope
from ...clients.errors import AdvisorDisabled, AdvisorNotFound, ContactNotFound
from ...downloads import RangeNotSatisfiable
from ...errors import ConcurrencyTokenMismatch, MissingScope
from ...exchange.errors import ExchangeNotFound
from ...http import (
    API_PREFIX,
    IDEMPOTENCY_ERRORS,
    IDEMPOTENT,
    ApiRoute,
    PagingDep,
    SessionDep,
    error_responses,
    require,
)
from ...schemas import Page, Slice, Timestamp
from ...storage.deps import KeyringDep, StoreDep
from ...storage.errors import BlobUnreadable
from ..deps import ZIP, download_response, evidence_response, report_response
from ..errors import (
    AuthenticationMethodRequired,
    DossierNotCompleted,
    DossierNotDraft,
    DossierNotFound,
    DossierNotPending,
    EmailRequired,
    ExchangeContactMismatch,
    InviteeNameRequired,
    InviteeNotFound,
    InviteeRepeated,
    LocaleNotSupported,
    MethodNotAvailable,
    OwnerMemberRequired,
    PhoneNumberRequired,
)
from ..models import Dossier, DossierState, Invitee
from ..schemas.dossiers import CancelRequest, DossierCreate, DossierRead, DossierUpdate, dossier_read
from ..service import dossiers

SigningRead = Annotated[Actor, require(Scope.SIGNING_READ)]
SigningWrite = Annotated[Actor, require(Scope.SIGNING_WRITE)]
IfMatch = Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")]

router = APIRouter(
    prefix=f"{API_PREFIX}/dossiers", tags=["e-signatures"], route_class=ApiRoute, responses=error_responses()
)

# What a body may be refused for, besides its shape (each names its place in `errors`).
WRITE_ERRORS = (
    MethodNotAvailable,
    LocaleNotSupported,
    OwnerMemberRequired,
    InviteeNameRequired,
    AuthenticationMethodRequired,
    EmailRequired,
    PhoneNumberRequired,
    ExchangeContactMismatch,
    ContactNotFound,
    ExchangeNotFound,
    AdvisorNotFound,
    AdvisorDisabled,
    MissingScope,
)


def token_from(body_token: str | None, if_match: str | None) -> str | None:
    return body_token or (if_match.strip('"') if if_match else None)


def _answer(response: Response, dossier: Dossier, invitees: list[Invitee]) -> DossierRead:
    response.headers["ETag"] = f'"{dossier.concurrency_token}"'
    return dossier_read(dossier, invitees)


@router.post(
    "",
    status_code=201,
    response_model=DossierRead,
    dependencies=[IDEMPOTENT],
    responses=error_responses(*WRITE_ERRORS, InviteeNotFound, *IDEMPOTENCY_ERRORS),
)
async def create_dossier(
    body: DossierCreate, session: SessionDep, actor: SigningWrite, response: Response
) -> DossierRead:
    """Create a dossier as a draft with its invitees. Its owner is the acting member, or
    `ownerMemberId` (which an app acting for nobody must give). An invitee with `contactId`
    takes the names, email and mobile the body leaves out from the contact's verified details."""
    dossier, invitees = await dossiers.create(session, actor, body)
    response.headers["Location"] = f"{API_PREFIX}/dossiers/{dossier.id}"
    return _answer(response, dossier, invitees)


@router.get("", response_model=Page[DossierRead])
async def list_dossiers(
    session: SessionDep,
    actor: SigningRead,
    paging: PagingDep,
    state: Annotated[DossierState | None, Query(description="Only dossiers in this state.")] = None,
    contact_id: Annotated[UUID | None, Query(alias="contactId")] = None,
    owner_member_id: Annotated[UUID | None, Query(alias="ownerMemberId")] = None,
    created_from: Annotated[Timestamp | None, Query(alias="from", description="Created at or after; RFC 3339.")] = None,
    created_to: Annotated[Timestamp | None, Query(alias="to", description="Created before; RFC 3339.")] = None,
) -> Slice[DossierRead]:
    """The dossiers you may see (apps and admins: all of the tenant's; a member: their own and
    their team's, and those of the contacts they see), newest first by default."""
    criteria = dossiers.DossierFilter(
        state=state,
        contact_id=contact_id,
        owner_member_id=owner_member_id,
        created_from=created_from,
        created_to=created_to,
    )
    found = await dossiers.list_dossiers(session, actor, paging, criteria)
    return paging.page_of([dossier_read(d, i) for d, i in found.items], found.total_count)


@router.get("/{dossier_id}", response_model=DossierRead, responses=error_responses(DossierNotFound))
async def get_dossier(dossier_id: UUID, session: SessionDep, actor: SigningRead, response: Response) -> DossierRead:
    """One dossier with its invitees and their states."""
    dossier, invitees = await dossiers.get(session, actor, dossier_id)
    return _answer(response, dossier, invitees)


@router.patch(
    "/{dossier_id}",
    response_model=DossierRead,
    responses=error_responses(
        DossierNotFound, DossierNotDraft, ConcurrencyTokenMismatch, InviteeNotFound, InviteeRepeated, *WRITE_ERRORS
    ),
)
async def update_dossier(
    dossier_id: UUID,
    body: DossierUpdate,
    session: SessionDep,
    actor: SigningWrite,
    response: Response,
    if_match: IfMatch = None,
) -> DossierRead:
    """Change a draft; fields left out stay. `invitees` replaces the list: an entry with the
    `id` of an invitee keeps it (and what hangs on it), one without adds one, those left out go."""
    token = token_from(body.concurrency_token, if_match)
    dossier, invitees = await dossiers.update(session, actor, dossier_id, body, concurrency_token=token)
    return _answer(response, dossier, invitees)


@router.delete(
    "/{dossier_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(DossierNotFound, DossierNotDraft, ConcurrencyTokenMismatch),
)
async def delete_dossier(dossier_id: UUID, session: SessionDep, actor: SigningWrite, if_match: IfMatch = None) -> None:
    """Delete a draft with its invitees; a sent dossier is cancelled instead."""
    await dossiers.delete(session, actor, dossier_id, concurrency_token=token_from(None, if_match))


@router.post(
    "/{dossier_id}/cancel",
    response_model=DossierRead,
    responses=error_responses(DossierNotFound, DossierNotPending, ConcurrencyTokenMismatch),
)
async def cancel_dossier(
    dossier_id: UUID,
    body: CancelRequest,
    session: SessionDep,
    actor: SigningWrite,
    response: Response,
    if_match: IfMatch = None,
) -> DossierRead:
    """Cancel a pending dossier, with the reason; nobody can sign it any more."""
    token = token_from(body.concurrency_token, if_match)
    dossier, invitees = await dossiers.cancel(session, actor, dossier_id, body.reason, concurrency_token=token)
    return _answer(response, dossier, invitees)


# --- a completed dossier's files -----------------------------------------------------------------

COMPLETED_ERRORS = error_responses(DossierNotFound, DossierNotCompleted, BlobUnreadable)
ZIP_ANSWER = {"content": {ZIP: {"schema": {"type": "string", "format": "binary"}}}}


@router.get(
    "/{dossier_id}/download",
    response_class=StreamingResponse,
    responses={200: ZIP_ANSWER, **COMPLETED_ERRORS},
)
async def download_dossier(
    dossier_id: UUID, request: Request, session: SessionDep, actor: SigningRead, keyring: KeyringDep, store: StoreDep
) -> StreamingResponse:
    """A ZIP of the signed PDFs and the sealed audit report, once the dossier is completed
    (409 `DossierNotCompleted` before). Audited."""
    return await download_response(request, session, actor, keyring, store, dossier_id)


@router.get(
    "/{dossier_id}/evidence",
    response_class=StreamingResponse,
    responses={200: ZIP_ANSWER, **COMPLETED_ERRORS},
)
async def dossier_evidence(
    dossier_id: UUID, request: Request, session: SessionDep, actor: SigningRead, keyring: KeyringDep, store: StoreDep
) -> StreamingResponse:
    """The evidence bundle of a completed dossier, a ZIP: `documents/` (the signed PDFs),
    `audit-report.pdf` (sealed), `audit-events.json` (the dossier's audit events, each with
    the content its chain hash covers), `validation/` (pyHanko's verdict on every signature
    of each document) and `SHA256SUMS` (for `sha256sum -c`). Audited."""
    return await evidence_response(request, session, actor, keyring, store, dossier_id)


@router.get(
    "/{dossier_id}/audit-report",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        206: {"description": "The range asked for (Range: bytes=…)."},
        **error_responses(DossierNotFound, DossierNotCompleted, RangeNotSatisfiable, BlobUnreadable),
    },
)
async def dossier_audit_report(
    dossier_id: UUID,
    request: Request,
    session: SessionDep,
    actor: SigningRead,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    """The audit report of a completed dossier: a PDF in the dossier's locale, sealed by the
    provider (B-LTA, no changes allowed); its SHA-256 is the ETag. Audited."""
    return await report_response(
        request, session, actor, keyring, store, dossier_id, range_header=range_header, if_range=if_range
    )
