"""Advisor-portal pages: sign-in with password and TOTP, the dashboard, sign-out.

A sign-in always belongs to one tenant: its form lives at `/portal/t/{tenantId}/login`
(the invitation email gives it; a tenant links to it). `/portal/login` only forwards to the
tenant this browser last signed in with (a cookie), since members are unique per tenant
and email only; without one it asks for the organization's link and lists no tenants.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import i18n
from ..actor import Scope
from ..errors import N_
from ..http import KeysDep, SessionDep, SettingsDep, client_ip, get_database
from ..web import Pages, get_pages, language_query
from .deps import (
    PENDING_COOKIE,
    SESSION_COOKIE,
    TENANT_COOKIE,
    PortalMember,
    remembered_login,
    sign_in_path,
)
from .models import ROLE_LABELS, MemberInvitation, Role
from .service import invitations, members, portal, tenants

router = APIRouter(prefix="/portal", include_in_schema=False)
PagesDep = Annotated[Pages, Depends(get_pages)]
FormText = Annotated[str, Form(max_length=1000)]
CsrfField = Annotated[str | None, Form(max_length=200)]

OUTCOME_MESSAGES = {
    portal.Outcome.INVALID: N_("The email address, password or code is not right."),
    portal.Outcome.LOCKED: N_("Too many failed attempts: this account is locked for a while."),
    portal.Outcome.EXPIRED: N_("Your sign-in took too long. Please start again."),
    portal.Outcome.RATE_LIMITED: N_("Too many attempts from your network; try again in %(seconds)s seconds."),
}
UNKNOWN_PORTAL = N_(
    "Please open your organization's link to the advisor portal: it is in your invitation email, "
    "or your administrator has it."
)


def _failure(request: Request, pages: Pages, template: str, attempt: portal.Attempt, **context: Any) -> Response:
    message = i18n.gettext(OUTCOME_MESSAGES[attempt.outcome], seconds=attempt.retry_after or 0)
    status = portal.REFUSAL_STATUS[attempt.outcome]
    return pages.refuse(request, template, status=status, message=message, retry_after=attempt.retry_after, **context)


def _remember_tenant(pages: Pages, response: Response, tenant_id: UUID) -> Response:
    pages.remember_tenant(response, TENANT_COOKIE, tenant_id)
    return response


def _unknown_portal(request: Request, pages: Pages, status_code: int = 404) -> Response:
    return pages.render(request, "auth/login.html", status_code=status_code, error=i18n.gettext(UNKNOWN_PORTAL))


# The form once posted here (before sign-ins were bound to a tenant): a page still open from
# then is led to its tenant's form, or told where to find it; the password is never read.
@router.api_route("/login", methods=["GET", "POST"], response_class=HTMLResponse)
async def login_forward(request: Request, pages: PagesDep) -> Response:
    """No tenant in the URL: back to the tenant this browser last signed in with, if any."""
    remembered = remembered_login(request)
    if remembered is not None:
        return RedirectResponse(f"{remembered}{language_query()}", status_code=303)
    return _unknown_portal(request, pages, status_code=200)


@router.get("/t/{tenant_ref}/login", response_class=HTMLResponse)
async def login_page(tenant_ref: str, request: Request, session: SessionDep, pages: PagesDep) -> Response:
    tenant = await tenants.sign_in_tenant(session, tenant_ref)
    if tenant is None:
        return _unknown_portal(request, pages)
    page = pages.render(request, "auth/login.html", login_action=portal.login_path(tenant.id))
    return _remember_tenant(pages, page, tenant.id)


@router.post("/t/{tenant_ref}/login", response_class=HTMLResponse)
async def submit_password(
    tenant_ref: str,
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    email: FormText = "",
    password: FormText = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    tenant = await tenants.sign_in_tenant(session, tenant_ref)
    if tenant is None:
        return _unknown_portal(request, pages)
    attempt = await portal.check_password(
        session, keys, settings.auth, tenant=tenant, email=email, password=password, ip=client_ip(request)
    )
    if attempt.outcome is not portal.Outcome.NEXT_STEP or attempt.token is None:
        login_action = portal.login_path(tenant.id)
        return _failure(request, pages, "auth/login.html", attempt, email=email, login_action=login_action)
    response = RedirectResponse(f"/portal/login/totp{language_query()}", status_code=303)
    pages.set_cookie(response, PENDING_COOKIE, attempt.token, max_age=settings.auth.pending_login_seconds)
    return response


async def _totp_context(
    request: Request, session: SessionDep, keys: KeysDep, settings: SettingsDep
) -> dict[str, Any] | None:
    token = get_pages(request).cookie(request, PENDING_COOKIE)
    found = await portal.find_session(session, keys, settings.auth, token, stage=portal.STAGE_TOTP) if token else None
    if found is None:
        return None
    member = found[1]
    if member.totp_enrolled:
        return {"enrol": False}
    uri = members.provisioning_uri(member, keys)
    return {
        "enrol": True,
        "secret": members.totp_secret(member, keys),
        "qr_data_uri": segno.make(uri, error="m").svg_data_uri(scale=5),
    }


TotpContext = Annotated[dict[str, Any] | None, Depends(_totp_context)]


@router.get("/login/totp", response_class=HTMLResponse)
async def totp_page(request: Request, pages: PagesDep, context: TotpContext) -> Response:
    if context is None:
        return RedirectResponse(f"{sign_in_path(request)}{language_query()}", status_code=303)
    return pages.render(request, "auth/totp.html", **context)


@router.post("/login/totp", response_class=HTMLResponse)
async def submit_totp(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    context: TotpContext,
    code: FormText = "",
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    pending = pages.cookie(request, PENDING_COOKIE) or ""
    attempt = await portal.check_totp(
        session, keys, settings.auth, pending_token=pending, code=code, ip=client_ip(request)
    )
    if attempt.outcome is not portal.Outcome.SIGNED_IN or attempt.token is None or attempt.member is None:
        if attempt.outcome is portal.Outcome.EXPIRED or context is None:
            # Nothing left to enter a code for: the sign-in starts again at its tenant's form.
            login_action = remembered_login(request)
            return _failure(request, pages, "auth/login.html", attempt, login_action=login_action)
        return _failure(request, pages, "auth/totp.html", attempt, **context)
    response = RedirectResponse(f"/portal/{language_query()}", status_code=303)
    pages.clear_cookie(response, PENDING_COOKIE)
    pages.set_cookie(response, SESSION_COOKIE, attempt.token, max_age=settings.auth.session_ttl_seconds)
    # The tenant signed in with (also after an invitation) is where signing in again leads.
    return _remember_tenant(pages, response, attempt.member.tenant_id)


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, session: SessionDep, pages: PagesDep, signed_in: PortalMember) -> Response:
    member = signed_in[1]
    tenant = await tenants.get_tenant(session, member.tenant_id)
    return pages.render(
        request,
        "auth/dashboard.html",
        member=member,
        tenant=tenant,
        role_label=i18n.gettext(ROLE_LABELS[Role(member.role)]),
        permissions=sorted(member.permissions),
        # A tile only where the member may go: no page that answers "not allowed".
        can_read_contacts=Scope.CONTACTS_READ in member.permissions,
        can_read_exchanges=Scope.EXCHANGES_READ in member.permissions,
        can_read_signing=Scope.SIGNING_READ in member.permissions,
        can_review=Scope.CHANGE_REQUESTS_REVIEW in member.permissions,
    )


@router.post("/logout")
async def sign_out(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    csrf_token: CsrfField = None,
) -> Response:
    pages.check_csrf(request, csrf_token)
    token = pages.cookie(request, SESSION_COOKIE)
    tenant_id = await portal.sign_out(session, keys, token) if token else None
    login = portal.login_path(tenant_id) if tenant_id else sign_in_path(request)
    response = RedirectResponse(f"{login}{language_query()}", status_code=303)
    pages.clear_cookie(response, SESSION_COOKIE)
    return response


# --- invitations: the link in the email ---------------------------------------------------

INVITATION_UNUSABLE = {
    "accepted": N_("This invitation was already used. Sign in with your email address and password."),
    "expired": N_("This invitation has expired. Ask your administrator for a new one."),
    "revoked": N_("This invitation link is not valid. Ask your administrator for a new one."),
}


def _invitation_page(
    request: Request, pages: Pages, token: str, invitation: MemberInvitation | None, tenant_name: str, **context: Any
) -> Response:
    status = "revoked" if invitation is None else invitation.status
    if invitation is not None and not i18n.language_chosen.get():
        i18n.current_language.set(invitation.language)
    if status != "pending" or invitation is None:
        unusable = i18n.gettext(INVITATION_UNUSABLE[status])
        # The invitation names its tenant: "Sign in" leads to that tenant's form.
        login_url = portal.login_path(invitation.tenant_id) if invitation else sign_in_path(request)
        return pages.render(request, "auth/invitation.html", status_code=410, unusable=unusable, login_url=login_url)
    return pages.render(
        request,
        "auth/invitation.html",
        status_code=400 if context.get("error") else 200,
        token=token,
        tenant_name=tenant_name,
        email=invitation.email,
        display_name=context.pop("display_name", None) or invitation.display_name,
        min_length=invitations.PASSWORD_MIN_LENGTH,
        **context,
    )


def _too_many(request: Request, pages: Pages, wait: int) -> Response:
    message = i18n.gettext(OUTCOME_MESSAGES[portal.Outcome.RATE_LIMITED], seconds=wait)
    login_url = sign_in_path(request)
    return pages.refuse(
        request,
        "auth/invitation.html",
        status=429,
        message=message,
        unusable=message,
        retry_after=wait,
        login_url=login_url,
    )


@router.get("/invitations/{token}", response_class=HTMLResponse)
async def invitation_page(
    token: str, request: Request, keys: KeysDep, settings: SettingsDep, pages: PagesDep
) -> Response:
    """What the invited person (or a mail scanner) sees: nothing is used up by looking."""
    # A write session of its own: the visit is counted (rate limit) although this is a GET.
    async with get_database(request).session(write=True) as session:
        wait = await invitations.rate_limited(session, settings.auth, client_ip(request))
        invitation = None if wait else await invitations.find(session, keys, token[:200])
        tenant = await tenants.get_tenant(session, invitation.tenant_id) if invitation else None
        await session.commit()
    if wait:
        return _too_many(request, pages, wait)
    return _invitation_page(request, pages, token, invitation, tenant.name if tenant else "")


@router.post("/invitations/{token}", response_class=HTMLResponse)
async def accept_invitation(
    token: str,
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    pages: PagesDep,
    password: FormText = "",
    password_repeated: FormText = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """The password is set and the member made; the TOTP enrolment (the sign-in's second
    step) follows and signs them in."""
    pages.check_csrf(request, csrf_token)
    ip = client_ip(request)
    if wait := await invitations.rate_limited(session, settings.auth, ip):
        return _too_many(request, pages, wait)
    invitation = await invitations.find(session, keys, token[:200], for_update=True)
    tenant = await tenants.get_tenant(session, invitation.tenant_id) if invitation else None
    name = tenant.name if tenant else ""
    if invitation is None or invitation.status != "pending":
        return _invitation_page(request, pages, token, invitation, name)
    if problem := invitations.password_problem(password, password_repeated, invitation.email):
        message, params = problem
        error = i18n.gettext(message, **params)
        return _invitation_page(request, pages, token, invitation, name, error=error, display_name=display_name)
    accepted = await invitations.accept(
        session, keys, invitation, password=password, display_name=display_name.strip() or None, ip=ip
    )
    pending = await portal.begin_second_factor(session, keys, settings.auth, accepted.member, ip)
    response = RedirectResponse(f"/portal/login/totp?language={invitation.language}", status_code=303)
    pages.set_cookie(response, PENDING_COOKIE, pending, max_age=settings.auth.pending_login_seconds)
    return _remember_tenant(pages, response, invitation.tenant_id)
