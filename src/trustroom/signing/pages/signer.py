"""The signer's pages under /s/: the invitation's link, the codes, the documents with the
signer's fields, Sign and Decline, "being signed" and done.

`GET /s/<token>` only shows a Start button (mail scanners follow links); its POST marks the
invitee viewed and opens a signer session (a cookie), and every page after that has a
token-free URL. Errors render as friendly pages in the invitee's language (app.py lists
/s/ among the page prefixes); a form's refusal shows the form again with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ... import i18n
from ...db import utcnow
from ...errors import N_, AppError
from ...http import KeysDep, SettingsDep, WriteSessionDep, client_ip
from ...keys import ServerKeys
from ...logs import correlation_id
from ...storage.deps import KeyringDep, StoreDep
from ...web import Pages, get_pages
from ..deps import PageImagesDep, Signer, signer_page_response
from ..errors import (
    DeclineReasonMissing,
    DossierEnded,
    InviteExpired,
    InviteNotOpenYet,
    InviteReplaced,
    SignerSessionEnded,
)
from ..models import AuthenticationMethod, DossierState, InviteeState, SigningRequestState
from ..schemas.signer import SignerStatusRead
from ..service import codes, page_images, requests, signer_access, signer_sessions, signer_side

router = APIRouter(prefix="/s", include_in_schema=False)
# The link's own routes match any last segment: included after the named pages.
link_router = APIRouter(prefix="/s", include_in_schema=False)
PagesDep = Annotated[Pages, Depends(get_pages)]
CsrfField = Annotated[str | None, Form(max_length=200)]
SESSION_COOKIE = "trustroom_signer"
PAGE_WIDTH = 1000
# Form field names of the signer's own field values: `value:<field id>`.
VALUE_PREFIX = "value:"
CODE_SENT = N_("A code is on its way to %(destination)s.")
FINISHED = {InviteeState.SIGNED, InviteeState.APPROVED, InviteeState.DECLINED}


def _speak(found: signer_access.SignerAccess) -> None:
    """The invitee's language wins, unless the visitor picked one on the page."""
    if not i18n.language_chosen.get():
        i18n.current_language.set(signer_side.language(found))


async def _session_signer(request: Request, session: AsyncSession, keys: ServerKeys, *, acting: bool) -> Signer:
    token = get_pages(request).cookie(request, SESSION_COOKIE)
    found = await signer_sessions.find(session, keys, token) if token else None
    if found is None:
        raise SignerSessionEnded()
    _speak(found)
    signer_access.check_open(found, utcnow(), completed_ok=not acting)
    actor = signer_sessions.signer_actor(found, ip=client_ip(request), correlation_id=correlation_id.get())
    request.state.actor = actor
    return Signer(found, actor, request.headers.get("user-agent"))


async def acting_signer(request: Request, session: WriteSessionDep, keys: KeysDep) -> Signer:
    """The signer of the session's invite, while the dossier is pending."""
    return await _session_signer(request, session, keys, acting=True)


async def reading_signer(request: Request, session: WriteSessionDep, keys: KeysDep) -> Signer:
    """The signer of the session's invite, also once the dossier is completed."""
    return await _session_signer(request, session, keys, acting=False)


ActingSigner = Annotated[Signer, Depends(acting_signer)]
ReadingSigner = Annotated[Signer, Depends(reading_signer)]


def _redirect(path: str) -> RedirectResponse:
    query = f"?language={i18n.current_language.get()}" if i18n.language_chosen.get() else ""
    return RedirectResponse(f"/s/{path}{query}", status_code=303)


async def _attempt(session: AsyncSession, action: Callable[[], Awaitable[Any]]) -> AppError | None:
    """Run a form's action in a savepoint: a refusal undoes its writes (unless the error keeps
    them, as a wrong code's count) and is returned, to be shown on the form."""
    nested = await session.begin_nested()
    try:
        await action()
    except AppError as error:
        await (nested.commit() if error.keeps_writes else nested.rollback())
        return error
    await nested.commit()
    return None


def _message(error: AppError) -> str:
    return i18n.gettext(error.text, **error.params)


# --- the invitation's link ----------------------------------------------------------------


@link_router.get("/{token}", response_class=HTMLResponse)
async def landing(token: str, request: Request, session: WriteSessionDep, keys: KeysDep, pages: PagesDep) -> Response:
    """What the link shows: the dossier's name and a Start button; nothing changes."""
    found = await _resolve(request, session, keys, token)
    return pages.render(request, "sign/start.html", dossier=found.dossier, invitee=found.invitee, token=token)


@link_router.post("/{token}")
async def start(
    token: str,
    request: Request,
    session: WriteSessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    csrf_token: CsrfField = None,
) -> Response:
    """Start: the invitee is viewed, a signer session opens, and the token leaves the URL."""
    pages.check_csrf(request, csrf_token)
    found = await _resolve(request, session, keys, token)
    ip = client_ip(request)
    user_agent = request.headers.get("user-agent")
    actor = signer_sessions.signer_actor(found, ip=ip, correlation_id=correlation_id.get())
    await signer_side.start(session, actor, found, user_agent=user_agent)
    cookie = await signer_sessions.open_session(session, keys, settings.signing, found, ip=ip, user_agent=user_agent)
    response = _redirect("dossier")
    pages.set_cookie(response, SESSION_COOKIE, cookie, max_age=settings.signing.signer_session_seconds)
    return response


async def _resolve(request: Request, session: AsyncSession, keys: ServerKeys, token: str) -> signer_access.SignerAccess:
    settings = request.app.state.settings
    try:
        found = await signer_access.resolve(session, keys, settings, token, ip=client_ip(request))
    except (DossierEnded, InviteExpired, InviteReplaced, InviteNotOpenYet):
        # A valid token: the refusal is worded in the invitee's language.
        known = await signer_access.identify(session, keys, token)
        if known is not None:
            _speak(known)
        raise
    _speak(found)
    return found


# --- codes ----------------------------------------------------------------------------------


async def _code_page(
    request: Request,
    session: AsyncSession,
    settings: SettingsDep,
    signer: Signer,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    sent_method: str | None = None,
) -> Response:
    view = await signer_side.view(session, signer.actor, settings.signing, signer.found)
    if view.authenticated and error is None and notice is None:
        return _redirect("dossier")
    methods = [
        (AuthenticationMethod(m), AuthenticationMethod(m) in view.passed)
        for m in signer.found.invitee.authentication_methods
    ]
    return get_pages(request).render(
        request,
        "sign/code.html",
        status_code=status,
        dossier=signer.found.dossier,
        methods=methods,
        authenticated=view.authenticated,
        error=error,
        notice=notice,
        sent_method=sent_method,
    )


@router.get("/code", response_class=HTMLResponse)
async def code_page(
    request: Request, session: WriteSessionDep, settings: SettingsDep, signer: ActingSigner
) -> Response:
    return await _code_page(request, session, settings, signer)


MethodField = Annotated[AuthenticationMethod, Form()]


@router.post("/code/send", response_class=HTMLResponse)
async def send_code(
    request: Request,
    session: WriteSessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    signer: ActingSigner,
    method: MethodField,
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    found = signer.found
    sent: list[codes.CodeSent] = []

    async def send() -> None:
        sent.append(
            await codes.send(
                session,
                signer.actor,
                keys,
                settings.signing,
                found.dossier,
                found.invitee,
                method,
                user_agent=signer.user_agent,
            )
        )

    refused = await _attempt(session, send)
    if refused is not None:
        return await _code_page(request, session, settings, signer, status=refused.status, error=_message(refused))
    notice = i18n.gettext(CODE_SENT, destination=sent[0].destination_hint)
    return await _code_page(request, session, settings, signer, notice=notice, sent_method=str(method))


@router.post("/code/verify", response_class=HTMLResponse)
async def verify_code(
    request: Request,
    session: WriteSessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    signer: ActingSigner,
    method: MethodField,
    code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)

    async def verify() -> None:
        await codes.verify(
            session,
            signer.actor,
            keys,
            settings.signing,
            signer.found.invitee,
            method,
            code.strip(),
            user_agent=signer.user_agent,
        )

    refused = await _attempt(session, verify)
    if refused is not None:
        return await _code_page(
            request, session, settings, signer, status=refused.status, error=_message(refused), sent_method=str(method)
        )
    return await _code_page(request, session, settings, signer)


# --- the documents, Sign and Decline --------------------------------------------------------


async def _documents_page(
    request: Request,
    session: AsyncSession,
    settings: SettingsDep,
    signer: Signer,
    *,
    status: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    view = await signer_side.view(session, signer.actor, settings.signing, signer.found)
    if view.request is not None:
        return _redirect("signing")
    if not view.authenticated:
        return _redirect("code")
    invitee = signer.found.invitee
    return get_pages(request).render(
        request,
        "sign/documents.html",
        status_code=status,
        dossier=signer.found.dossier,
        invitee=invitee,
        documents=view.documents,
        signs=any(p.field.kind in ("signature", "initials") for p in view.own_fields),
        acts=invitee.role != "viewer",
        consent=requests.consent_text(invitee.role, signer_side.language(signer.found))
        if invitee.role != "viewer"
        else None,
        consent_locale=signer_side.language(signer.found),
        page_width=PAGE_WIDTH,
        value_prefix=VALUE_PREFIX,
        typed=typed or {},
        error=error,
    )


@router.get("/dossier", response_class=HTMLResponse)
async def documents_page(
    request: Request, session: WriteSessionDep, settings: SettingsDep, signer: ActingSigner
) -> Response:
    return await _documents_page(request, session, settings, signer)


@router.get("/documents/{document_id:uuid}/pages/{page_number}")
async def page_image(
    document_id: UUID,
    page_number: Annotated[int, Path(ge=1, le=100000)],
    session: WriteSessionDep,
    signer: ActingSigner,
    keyring: KeyringDep,
    store: StoreDep,
    images: PageImagesDep,
    width: Annotated[int, Query(ge=page_images.MIN_WIDTH, le=page_images.MAX_WIDTH)] = PAGE_WIDTH,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    return await signer_page_response(
        session, signer, keyring, store, images, document_id, page_number, width, if_none_match
    )


@router.post("/sign", response_class=HTMLResponse)
async def sign(
    request: Request,
    session: WriteSessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    signer: ActingSigner,
) -> Response:
    """The Sign form: the signer's field values, the drawn (PNG) or typed signature, consent."""
    form = await request.form(max_files=0, max_fields=500)
    pages.check_csrf(request, _text(form.get("csrf_token")))
    values, typed = _values(form)

    async def submit() -> None:
        await signer_side.sign(
            session,
            signer.actor,
            keys,
            settings.signing,
            signer.found,
            values=values,
            typed_name=_text(form.get("typed_name")),
            signature_png=_text(form.get("signature_png")),
            consent=form.get("consent") == "yes",
            consent_locale=_text(form.get("consent_locale")) or None,
            user_agent=signer.user_agent,
        )

    refused = await _attempt(session, submit)
    if refused is not None:
        return await _documents_page(
            request, session, settings, signer, status=refused.status, error=_message(refused), typed=typed
        )
    return _redirect("signing")


def _text(value: Any, limit: int = 400_000) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _values(form: Any) -> tuple[dict[UUID, str | bool], dict[str, str]]:
    """Field values from `value:<id>` inputs: a checkbox sends "yes" when ticked, and an
    unticked checkbox (sent as a hidden "no") is false; the text as typed, to show again."""
    values: dict[UUID, str | bool] = {}
    typed: dict[str, str] = {}
    for name, raw in form.multi_items():
        if not name.startswith(VALUE_PREFIX) or not isinstance(raw, str):
            continue
        try:
            field_id = UUID(name.removeprefix(VALUE_PREFIX))
        except ValueError:
            continue
        kind = form.get(f"kind:{field_id}")
        if kind == "checkbox":
            values[field_id] = values.get(field_id) is True or raw == "yes"
        else:
            values[field_id] = raw[:1000]
            typed[str(field_id)] = raw[:1000]
    return values, typed


@router.post("/decline", response_class=HTMLResponse)
async def decline(
    request: Request,
    session: WriteSessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    signer: ActingSigner,
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)

    async def refuse() -> None:
        if not reason.strip():
            raise DeclineReasonMissing()
        await signer_side.decline(
            session, signer.actor, keys, signer.found, reason.strip(), user_agent=signer.user_agent
        )

    refused = await _attempt(session, refuse)
    if refused is not None:
        return await _documents_page(request, session, settings, signer, status=refused.status, error=_message(refused))
    return _redirect("done")


# --- after signing ----------------------------------------------------------------------------


@router.get("/signing", response_class=HTMLResponse)
async def signing_page(request: Request, session: WriteSessionDep, signer: ReadingSigner) -> Response:
    """Being signed: the page polls /s/status until the signature is applied."""
    found = await signer_side.status(session, signer.actor, signer.found)
    if found.invitee_state in FINISHED or found.request_state == SigningRequestState.APPLIED:
        return _redirect("done")
    if found.request_state is None:
        return _redirect("dossier")
    return get_pages(request).render(request, "sign/signing.html", dossier=signer.found.dossier)


@router.get("/status", response_model=SignerStatusRead)
async def status(session: WriteSessionDep, signer: ReadingSigner) -> SignerStatusRead:
    """The same status as the API's, by the session's cookie, for the page's polling."""
    found = await signer_side.status(session, signer.actor, signer.found)
    return SignerStatusRead(
        dossier_state=found.dossier_state, invitee_state=found.invitee_state, signing_request=found.request_state
    )


@router.get("/done", response_class=HTMLResponse)
async def done_page(request: Request, session: WriteSessionDep, keys: KeysDep) -> Response:
    """Signed, approved or declined: what happens next. Reachable once the dossier has ended
    too (declined by this signer), so the session is checked without the dossier's state."""
    token = get_pages(request).cookie(request, SESSION_COOKIE)
    found = await signer_sessions.find(session, keys, token) if token else None
    if found is None:
        raise SignerSessionEnded()
    _speak(found)
    actor = signer_sessions.signer_actor(found, ip=client_ip(request), correlation_id=correlation_id.get())
    state = await signer_side.status(session, actor, found)
    return get_pages(request).render(
        request,
        "sign/done.html",
        dossier=found.dossier,
        state=state,
        completed=state.dossier_state == DossierState.COMPLETED,
    )
