"""The signer's JSON API (/api/v1/signer/…), for providers who embed signing in their own
app: the same steps as the pages under /s/, authenticated by the invite token as bearer."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...audit.service import DeferredAudit
from ...downloads import RangeNotSatisfiable, file_response
from ...http import API_PREFIX, ApiRoute, KeysDep, SettingsDep, WriteSessionDep, error_responses
from ...storage.deps import KeyringDep, StoreDep
from ...storage.errors import BlobUnreadable
from ..deps import ActingSigner, PageImagesDep, ReadingSigner, signer_page_response
from ..errors import (
    AlreadySubmitted,
    AuthenticationMethodNotUsed,
    AuthenticationRequired,
    CodeExpired,
    CodeNoMatch,
    CodeNotSent,
    CodeResendTooSoon,
    DocumentNotFound,
    DossierEnded,
    InviteeAlreadyFinished,
    InviteeCannotSign,
    InviteeStateInvalid,
    InviteExpired,
    InviteNotOpenYet,
    InviteReplaced,
    InviteTokenInvalid,
    InviteTokenRateLimited,
    PageNotFound,
    SignatureImageInvalid,
    SignatureMissing,
    SignedDocumentsNotReady,
    SignerConsentRequired,
    SignerLocked,
    SubmittedFieldInvalid,
    SubmittedFieldRequired,
    SubmittedFieldUnknown,
    ViewerCannotAct,
)
from ..schemas.signer import (
    SignerCodeSend,
    SignerCodeSent,
    SignerCodeVerify,
    SignerDecline,
    SignerDocumentRead,
    SignerDossierRead,
    SignerFieldRead,
    SignerInviteeRead,
    SignerMethodRead,
    SignerPageRead,
    SignerSign,
    SignerStatusRead,
)
from ..service import codes, documents, page_images, signer_side
from ..service.signer_side import SignerView

PNG = "image/png"
# Every signer route answers these: the token's refusals (ADR 0017).
TOKEN_ERRORS = (
    InviteTokenInvalid,
    InviteTokenRateLimited,
    InviteReplaced,
    InviteExpired,
    DossierEnded,
    InviteNotOpenYet,
)

router = APIRouter(
    prefix=f"{API_PREFIX}/signer",
    tags=["signer"],
    route_class=ApiRoute,
    responses=error_responses(*TOKEN_ERRORS),
)


def dossier_read(view: SignerView) -> SignerDossierRead:
    found = view.found
    dossier, invitee = found.dossier, found.invitee
    return SignerDossierRead(
        id=dossier.id,
        name=dossier.name,
        method=dossier.method,
        state=dossier.state,
        language=signer_side.language(found),
        expires_at=found.invite.expires_at or dossier.expires_at,
        invitee=SignerInviteeRead(id=invitee.id, name=invitee.name, role=invitee.role, state=invitee.state),
        authentication=[
            SignerMethodRead(method=method, passed=method in view.passed) for method in invitee.authentication_methods
        ],
        authenticated=view.authenticated,
        documents=[
            SignerDocumentRead(
                id=shown.document.id,
                file_name=shown.document.file_name,
                page_count=shown.document.page_count,
                pages=[SignerPageRead(width=p["width"], height=p["height"]) for p in shown.document.pages],
                fields=[
                    SignerFieldRead(
                        id=placed.field.id,
                        type=placed.field.kind,
                        page=placed.page,
                        x=placed.x,
                        y=placed.y,
                        width=placed.width,
                        height=placed.height,
                        required=placed.field.required,
                        label=placed.field.label if placed.own else None,
                        own=placed.own,
                    )
                    for placed in shown.fields
                ],
            )
            for shown in view.documents
        ],
        signing_request=view.request.state if view.request is not None else None,
    )


@router.get("/dossier", response_model=SignerDossierRead)
async def read_dossier(session: WriteSessionDep, settings: SettingsDep, signer: ActingSigner) -> SignerDossierRead:
    """The dossier as the signer may see it: documents, pages, their own fields (others'
    only as placeholders), which authentication methods they have passed, their signature's state."""
    return dossier_read(await signer_side.view(session, signer.actor, settings.signing, signer.found))


@router.post("/viewed", response_model=SignerStatusRead, responses=error_responses(InviteeStateInvalid))
async def viewed(session: WriteSessionDep, signer: ActingSigner) -> SignerStatusRead:
    """The signer went on from the invitation: invited → viewed (announced as
    `dossier.invite.viewed`); again, it changes nothing."""
    await signer_side.start(session, signer.actor, signer.found, user_agent=signer.user_agent)
    return _status(await signer_side.status(session, signer.actor, signer.found))


@router.post(
    "/codes",
    response_model=SignerCodeSent,
    responses=error_responses(AuthenticationMethodNotUsed, SignerLocked, CodeResendTooSoon),
)
async def send_code(
    body: SignerCodeSend, session: WriteSessionDep, keys: KeysDep, settings: SettingsDep, signer: ActingSigner
) -> SignerCodeSent:
    """Send a fresh six-digit code for one of the signer's authentication methods."""
    found = signer.found
    sent = await codes.send(
        session,
        signer.actor,
        keys,
        settings.signing,
        found.dossier,
        found.invitee,
        body.method,
        user_agent=signer.user_agent,
    )
    return SignerCodeSent(
        method=sent.method,
        destination=sent.destination_hint,
        expires_at=sent.expires_at,
        resend_after=sent.resend_after,
    )


@router.post(
    "/codes/verify",
    response_model=SignerDossierRead,
    responses=error_responses(AuthenticationMethodNotUsed, CodeNotSent, CodeExpired, CodeNoMatch, SignerLocked),
)
async def verify_code(
    body: SignerCodeVerify, session: WriteSessionDep, keys: KeysDep, settings: SettingsDep, signer: ActingSigner
) -> SignerDossierRead:
    """Pass one authentication method with the code sent for it; answers the dossier again."""
    await codes.verify(
        session,
        signer.actor,
        keys,
        settings.signing,
        signer.found.invitee,
        body.method,
        body.code,
        user_agent=signer.user_agent,
    )
    return dossier_read(await signer_side.view(session, signer.actor, settings.signing, signer.found))


@router.get(
    "/documents/{document_id:uuid}/pages/{page_number}",
    response_class=Response,
    responses={
        200: {"content": {PNG: {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "The image has not changed (If-None-Match)."},
        **error_responses(DocumentNotFound, PageNotFound, BlobUnreadable),
    },
)
async def page_image(
    document_id: UUID,
    page_number: Annotated[int, Path(ge=1, le=100000, description="From 1.")],
    session: WriteSessionDep,
    signer: ActingSigner,
    keyring: KeyringDep,
    store: StoreDep,
    images: PageImagesDep,
    width: Annotated[
        int, Query(ge=page_images.MIN_WIDTH, le=page_images.MAX_WIDTH, description="Of the image, in pixels.")
    ] = page_images.DEFAULT_WIDTH,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A page of one of the dossier's documents as a PNG image `width` pixels wide."""
    return await signer_page_response(
        session, signer, keyring, store, images, document_id, page_number, width, if_none_match
    )


@router.post(
    "/decline",
    response_model=SignerStatusRead,
    responses=error_responses(AlreadySubmitted, ViewerCannotAct, InviteeStateInvalid),
)
async def decline(
    body: SignerDecline, session: WriteSessionDep, keys: KeysDep, signer: ActingSigner
) -> SignerStatusRead:
    """Decline with a reason: the dossier is declined, the other invitations end, and the
    others who were invited and the dossier's owner are told by email."""
    await signer_side.decline(session, signer.actor, keys, signer.found, body.reason, user_agent=signer.user_agent)
    return _status(await signer_side.status(session, signer.actor, signer.found))


SIGN_ERRORS = (
    SignerConsentRequired,
    AuthenticationRequired,
    InviteeCannotSign,
    InviteeAlreadyFinished,
    SubmittedFieldUnknown,
    SubmittedFieldInvalid,
    SubmittedFieldRequired,
    SignatureMissing,
    SignatureImageInvalid,
)


@router.post("/sign", status_code=202, response_model=SignerStatusRead, responses=error_responses(*SIGN_ERRORS))
async def sign(
    body: SignerSign, session: WriteSessionDep, keys: KeysDep, settings: SettingsDep, signer: ActingSigner
) -> SignerStatusRead:
    """Sign (or approve): the request is recorded and its signature applied in the background
    (ADR 0018); poll `GET /status` until the invitee is signed. A second submission answers
    the first request."""
    await signer_side.sign(
        session,
        signer.actor,
        keys,
        settings.signing,
        signer.found,
        values=body.values,
        typed_name=body.typed_name,
        signature_png=body.signature_png,
        consent=body.consent,
        consent_locale=body.consent_locale,
        user_agent=signer.user_agent,
    )
    return _status(await signer_side.status(session, signer.actor, signer.found))


@router.get("/status", response_model=SignerStatusRead)
async def status(session: WriteSessionDep, signer: ReadingSigner) -> SignerStatusRead:
    """Where the signer's part stands: poll it after signing until the invitee is signed,
    and the dossier until it is completed (then the signed documents can be downloaded)."""
    return _status(await signer_side.status(session, signer.actor, signer.found))


def _status(found: signer_side.Status) -> SignerStatusRead:
    return SignerStatusRead(
        dossier_state=found.dossier_state, invitee_state=found.invitee_state, signing_request=found.request_state
    )


@router.get(
    "/documents/{document_id:uuid}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(DocumentNotFound, SignedDocumentsNotReady, BlobUnreadable, RangeNotSatisfiable),
    },
)
async def signed_document(
    document_id: UUID,
    request: Request,
    session: WriteSessionDep,
    signer: ReadingSigner,
    keyring: KeyringDep,
    store: StoreDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    """A signed document, once the dossier is completed."""
    return await signed_response(request, session, signer, keyring, store, document_id, range_header, if_range)


async def signed_response(
    request: Request,
    session: WriteSessionDep,
    signer: ActingSigner,
    keyring: KeyringDep,
    store: StoreDep,
    document_id: UUID,
    range_header: str | None,
    if_range: str | None,
) -> StreamingResponse:
    """The signed PDF as a download for the API and the pages alike; audited without a write."""
    document, opened = await signer_side.open_signed(session, signer.actor, keyring, store, signer.found, document_id)
    audit_queue: DeferredAudit = request.app.state.audit_queue
    size = opened.blob.byte_size

    def served(start: int, stop: int) -> None:
        data = {**documents.download_facts(document, size, start, stop), "userAgent": (signer.user_agent or "")[:300]}
        audit_queue.note(
            signer.actor, documents.DOWNLOADED, target_type="dossierDocument", target_id=document.id, data=data
        )

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
