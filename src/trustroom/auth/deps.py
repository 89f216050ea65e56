"""FastAPI dependencies of the auth domain: API authentication and the portal member."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from .. import i18n
from ..actor import Actor, ActorKind, Scope
from ..db import bind_tenant
from ..errors import Unauthorized
from ..http import SessionDep, client_ip, get_keys, get_settings
from ..logs import correlation_id
from ..web import get_pages
from .errors import ActingMemberNotAllowed, InvalidApiKey
from .models import Member, PortalSession
from .service import api_keys, members, portal
from .service.usage import UsageRecorder


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized()  # AuthenticationRequired; the problem renderer adds WWW-Authenticate
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise InvalidApiKey()
    return credentials.strip()


async def authenticate_api_request(request: Request, session: AsyncSession) -> Actor:
    """The authenticator behind `http.CurrentActor`: an API key, optionally acting for a member."""
    settings = get_settings(request)
    keys = get_keys(request)
    found = await api_keys.authenticate(session, keys, _bearer(request))
    api_key, tenant = found.api_key, found.tenant
    await bind_tenant(session, tenant.id)
    if not i18n.language_chosen.get():
        i18n.current_language.set(tenant.default_language)
    if api_keys.last_use_is_stale(api_key, settings.auth.api_key_last_used_resolution_seconds):
        usage(request).api_key_used(api_key)
    if found.rehash is not None:
        usage(request).api_key_rehashed(api_key, found.rehash, keys.secret_id)
    ip = client_ip(request)
    cid = correlation_id.get()
    acting = request.headers.get("x-acting-member")
    if not acting:
        scopes = frozenset(api_key.scopes)
        return Actor(tenant.id, ActorKind.APP, api_key.id, scopes, api_key_id=api_key.id, correlation_id=cid, ip=ip)
    if Scope.MEMBERS_ACT not in api_key.scopes:
        raise ActingMemberNotAllowed()
    member = await members.find_active(session, tenant.id, acting)
    granted = frozenset(api_key.scopes) & member.permissions
    return Actor(tenant.id, ActorKind.MEMBER, member.id, granted, api_key_id=api_key.id, correlation_id=cid, ip=ip)


def usage(request: Request) -> UsageRecorder:
    recorder: UsageRecorder = request.app.state.usage
    return recorder


SESSION_COOKIE = "trustroom_session"
PENDING_COOKIE = "trustroom_pending"


class SignInRequired(Exception):
    """No live portal session: the page handler answers with a redirect to the sign-in page."""


async def portal_member(request: Request, session: SessionDep) -> tuple[PortalSession, Member]:
    token = get_pages(request).cookie(request, SESSION_COOKIE)
    settings = get_settings(request)
    found = None
    if token:
        found = await portal.find_session(session, get_keys(request), settings.auth, token, stage=portal.STAGE_ACTIVE)
    if found is None:
        raise SignInRequired()
    portal_session, _member = found
    if not i18n.language_chosen.get():
        i18n.current_language.set(settings.default_language)
    if portal.touch_is_due(portal_session):
        usage(request).session_seen(portal_session)
    return found


PortalMember = Annotated[tuple[PortalSession, Member], Depends(portal_member)]


async def portal_actor(request: Request, session: SessionDep, signed_in: PortalMember) -> Actor:
    """The signed-in member as the actor of a page, with the session bound to their tenant."""
    member = signed_in[1]
    await bind_tenant(session, member.tenant_id)
    return Actor(
        member.tenant_id,
        ActorKind.MEMBER,
        member.id,
        member.permissions,
        correlation_id=correlation_id.get(),
        ip=client_ip(request),
    )


PortalActor = Annotated[Actor, Depends(portal_actor)]
