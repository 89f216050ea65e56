"""Client portal: the access link's landing page, sign-in with password and one-time code,
sign-out.

A sign-in always belongs to one tenant: its form lives at `/x/t/{tenantId}/login`, where
the access link leads and which a provider may link to from its own site. `/x/login`
only forwards to the tenant this browser last signed in with (a cookie), since usernames
are unique per tenant only.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ... import i18n
from ...auth.service import tenants
from ...auth.service.portal import REFUSAL_STATUS, Outcome
from ...db import utcnow
from ...errors import N_
from ...http import KeysDep, SessionDep, SettingsDep, client_ip
from ...web import Pages, get_pages, language_query
from ..deps import CLIENT_PENDING_COOKIE, CLIENT_SESSION_COOKIE
from ..service import links, sign_in

router = APIRouter(prefix="/x", include_in_schema=False)
PagesDep = Annotated[Pages, Depends(get_pages)]
FormText = Annotated[str, Form(max_length=1000)]
CsrfField = Annotated[str | None, Form(max_length=200)]

OUTCOME_MESSAGES = {
    Outcome.INVALID: N_("The username, password or code is not right."),
    Outcome.LOCKED: N_("Too many failed attempts: this account is locked for a while."),
    Outcome.EXPIRED: N_("Your sign-in took too long or had too many wrong codes. Please start again."),
    Outcome.RATE_LIMITED: N_("Too many attempts from your network; try again in %(seconds)s seconds."),
}
UNKNOWN_PORTAL = N_("Please open the sign-in link your provider sent you or shows on its website.")
# The tenant of the last sign-in page (Pages.remember_tenant), where `/x/login` leads back.
TENANT_COOKIE = "trustroom_x_tenant"
LINK_UNUSABLE = N_("This link has expired or was already used. Ask your advisor for a new one, or sign in.")
CODE_RESENT = N_("A new code is on its way.")
RESEND_WAIT = N_("You can ask for a new code in %(seconds)s seconds.")


def _remembered_login(request: Request, pages: Pages) -> str | None:
    remembered = pages.remembered_tenant(request, TENANT_COOKIE)
    return sign_in.login_path(remembered) if remembered else None


def _failure(request: Request, pages: Pages, template: str, attempt: sign_in.Attempt, **context: Any) -> Response:
    message = i18n.gettext(OUTCOME_MESSAGES[attempt.outcome], seconds=attempt.retry_after or 0)
    status = REFUSAL_STATUS[attempt.outcome]
    return pages.refuse(request, template, status=status, message=message, retry_after=attempt.retry_after, **context)


@router.get("/link/{token}", response_class=HTMLResponse)
async def link_landing(token: str, request: Request, session: SessionDep, keys: KeysDep, pages: PagesDep) -> Response:
    """What a mail scanner or the client sees on opening the link: nothing is used up yet."""
    found = await links.find_usable(session, keys, token)
    if found is None:
        return pages.render(request, "exchange/link.html", status_code=410, error=i18n.gettext(LINK_UNUSABLE))
    _link, exchange = found
    account = await links.account_of(session, exchange)
    if not i18n.language_chosen.get():
        i18n.current_language.set(account.language)
    return pages.render(request, "exchange/link.html", exchange=exchange, token=token)


@router.post("/link/{token}")
async def confirm_link(
    token: str, request: Request, session: SessionDep, keys: KeysDep, pages: PagesDep, csrf_token: CsrfField = None
) -> Response:
    """The client's confirmation: the link is used up and the sign-in follows."""
    pages.check_csrf(request, csrf_token)
    found = await links.find_usable(session, keys, token)
    if found is None:
        return pages.render(request, "exchange/link.html", status_code=410, error=i18n.gettext(LINK_UNUSABLE))
    link, exchange = found
    link.used_at = utcnow()
    account = await links.account_of(session, exchange)
    language = i18n.current_language.get() if i18n.language_chosen.get() else account.language
    return RedirectResponse(f"{sign_in.login_path(exchange.tenant_id)}?language={language}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_forward(request: Request, pages: PagesDep) -> Response:
    """No tenant in the URL: back to the tenant this browser last signed in with, if any."""
    remembered = _remembered_login(request, pages)
    if remembered is not None:
        return RedirectResponse(f"{remembered}{language_query()}", status_code=303)
    return pages.render(request, "exchange/login.html", error=i18n.gettext(UNKNOWN_PORTAL))


def _unknown_portal(request: Request, pages: Pages) -> Response:
    return pages.render(request, "exchange/login.html", status_code=404, error=i18n.gettext(UNKNOWN_PORTAL))


def _remember_tenant(pages: Pages, response: Response, tenant_id: UUID) -> Response:
    pages.remember_tenant(response, TENANT_COOKIE, tenant_id)
    return response


@router.get("/t/{tenant_ref}/login", response_class=HTMLResponse)
async def login_page(tenant_ref: str, request: Request, session: SessionDep, pages: PagesDep) -> Response:
    tenant = await tenants.sign_in_tenant(session, tenant_ref)
    if tenant is None:
        return _unknown_portal(request, pages)
    page = pages.render(request, "exchange/login.html", login_action=sign_in.login_path(tenant.id))
    return _remember_tenant(pages, page, tenant.id)


@router.post("/t/{tenant_ref}/login", response_class=HTMLResponse)
async def submit_password(
    tenant_ref: str,
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    username: FormText = "",
    password: FormText = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    tenant = await tenants.sign_in_tenant(session, tenant_ref)
    if tenant is None:
        return _unknown_portal(request, pages)
    attempt = await sign_in.check_password(
        session, keys, settings, tenant=tenant, username=username, password=password, ip=client_ip(request)
    )
    if attempt.outcome is not Outcome.NEXT_STEP or attempt.token is None or attempt.account is None:
        return _failure(
            request,
            pages,
            "exchange/login.html",
            attempt,
            username=username,
            login_action=sign_in.login_path(tenant.id),
        )
    language = i18n.current_language.get() if i18n.language_chosen.get() else attempt.account.language
    response = RedirectResponse(f"/x/code?language={language}", status_code=303)
    pages.set_cookie(response, CLIENT_PENDING_COOKIE, attempt.token, max_age=settings.exchange.code_ttl_seconds)
    return response


async def _pending(
    request: Request, session: SessionDep, keys: KeysDep, settings: SettingsDep
) -> tuple[Any, Any] | None:
    token = get_pages(request).cookie(request, CLIENT_PENDING_COOKIE)
    if not token:
        return None
    return await sign_in.find_session(session, keys, settings, token, stage=sign_in.STAGE_CODE)


Pending = Annotated[tuple[Any, Any] | None, Depends(_pending)]


def _code_context(pending: Pending) -> dict[str, Any]:
    account = pending[1] if pending else None
    mobile = account.mobile_number if account else ""
    return {"mobile_hint": f"{mobile[:3]}…{mobile[-2:]}" if mobile else ""}


@router.get("/code", response_class=HTMLResponse)
async def code_page(request: Request, pages: PagesDep, pending: Pending) -> Response:
    if pending is None:
        return RedirectResponse(f"/x/login{language_query()}", status_code=303)
    return pages.render(request, "exchange/code.html", **_code_context(pending))


@router.post("/code", response_class=HTMLResponse)
async def submit_code(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    pending: Pending,
    code: FormText = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    token = pages.cookie(request, CLIENT_PENDING_COOKIE) or ""
    context = _code_context(pending)
    attempt = await sign_in.check_code(session, keys, settings, pending_token=token, code=code, ip=client_ip(request))
    if attempt.outcome is not Outcome.SIGNED_IN or attempt.token is None:
        if attempt.outcome is Outcome.EXPIRED:
            start_again = sign_in.login_path(attempt.account.tenant_id) if attempt.account else None
            login_action = start_again or _remembered_login(request, pages)
            return _failure(request, pages, "exchange/login.html", attempt, login_action=login_action)
        return _failure(request, pages, "exchange/code.html", attempt, **context)
    response = RedirectResponse(f"/x/{language_query()}", status_code=303)
    pages.clear_cookie(response, CLIENT_PENDING_COOKIE)
    pages.set_cookie(response, CLIENT_SESSION_COOKIE, attempt.token, max_age=settings.exchange.session_ttl_seconds)
    return response


@router.post("/code/resend", response_class=HTMLResponse)
async def resend_code(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    pending: Pending,
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    if pending is None:
        return RedirectResponse(f"/x/login{language_query()}", status_code=303)
    client_session, account = pending
    wait = sign_in.resend_wait(settings, client_session)
    if wait is not None:
        message = i18n.gettext(RESEND_WAIT, seconds=wait)
        return pages.refuse(
            request, "exchange/code.html", status=429, message=message, retry_after=wait, **_code_context(pending)
        )
    await sign_in.send_code(session, keys, settings, account, client_session)
    return pages.render(request, "exchange/code.html", notice=i18n.gettext(CODE_RESENT), **_code_context(pending))


@router.post("/logout")
async def sign_out(
    request: Request, session: SessionDep, keys: KeysDep, pages: PagesDep, csrf_token: CsrfField = None
) -> Response:
    pages.check_csrf(request, csrf_token)
    token = pages.cookie(request, CLIENT_SESSION_COOKIE)
    if token:
        await sign_in.sign_out(session, keys, token)
    response = RedirectResponse(f"/x/login{language_query()}", status_code=303)
    pages.clear_cookie(response, CLIENT_SESSION_COOKIE)
    return response
