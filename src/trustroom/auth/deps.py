"""FastAPI dependencies of the auth domain: API authentication and the portal member."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from .. import i18n
from ..actor import Actor, ActorKind, Scope
from ..db import bind_tenant
from ..errors import Unauthorized
from ..generations import AUTH, GenerationCache, Generations
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


class AuthCaches:
    """This process's caches of API authentication, emptied when generation AUTH moves (ADR 0012)."""

    def __init__(self, generations: Generations) -> None:
        self.keys: api_keys.KeyCache = GenerationCache(AUTH, generations)
        # (tenant, X-Acting-Member as sent) -> (member id, permissions) of an active member.
        self.acting: GenerationCache[tuple[UUID, str], tuple[UUID, frozenset[str]]] = GenerationCache(AUTH, generations)


def auth_caches(request: Request) -> AuthCaches | None:
    caches: AuthCaches | None = getattr(request.app.state, "auth_caches", None)
    return caches


async def authenticate_api_request(request: Request, session: AsyncSession) -> Actor:
    """The authenticator behind `http.CurrentActor`: an API key, optionally acting for a member."""
    settings = get_settings(request)
    keys = get_keys(request)
    caches = auth_caches(request)
    found = await api_keys.authenticate(session, keys, _bearer(request), caches.keys if caches else None)
    grant = found.grant
    await bind_tenant(session, grant.tenant_id)
    if not i18n.language_chosen.get():
        i18n.current_language.set(grant.tenant_language)
    recorder = usage(request)
    resolution = timedelta(seconds=settings.auth.api_key_last_used_resolution_seconds)
    recorder.api_key_used(grant.tenant_id, grant.id, grant.last_used_at, resolution)
    if found.rehash is not None:
        recorder.api_key_rehashed(grant.tenant_id, grant.id, found.rehash, keys.secret_id)
    ip = client_ip(request)
    cid = correlation_id.get()
    acting = request.headers.get("x-acting-member")
    if not acting:
        return Actor(
            grant.tenant_id, ActorKind.APP, grant.id, grant.scopes, api_key_id=grant.id, correlation_id=cid, ip=ip
        )
    if Scope.MEMBERS_ACT not in grant.scopes:
        raise ActingMemberNotAllowed()
    cache_key = (grant.tenant_id, acting)
    cached = caches.acting.lookup_at(cache_key, found.generation) if caches else None
    if cached is None:
        member = await members.find_active(session, grant.tenant_id, acting)
        cached = (member.id, member.permissions)
        if caches:
            caches.acting.store(cache_key, cached, found.generation)
    member_id, permissions = cached
    granted = grant.scopes & permissions
    return Actor(grant.tenant_id, ActorKind.MEMBER, member_id, granted, api_key_id=grant.id, correlation_id=cid, ip=ip)


def usage(request: Request) -> UsageRecorder:
    recorder: UsageRecorder = request.app.state.usage
    return recorder


SESSION_COOKIE = "trustroom_session"
PENDING_COOKIE = "trustroom_pending"
# The tenant of the last sign-in page or sign-in (Pages.remember_tenant), where
# `/portal/login` and every "sign in again" lead.
TENANT_COOKIE = "trustroom_portal_tenant"
LOGIN_WITHOUT_TENANT = "/portal/login"


def remembered_login(request: Request) -> str | None:
    """The sign-in page of the tenant this browser last signed in with (or was shown), if any."""
    remembered = get_pages(request).remembered_tenant(request, TENANT_COOKIE)
    return portal.login_path(remembered) if remembered else None


def sign_in_path(request: Request) -> str:
    """Where this browser signs in: its remembered tenant's sign-in page, else the page that
    asks for the organization's portal link."""
    return remembered_login(request) or LOGIN_WITHOUT_TENANT


class SignInRequired(Exception):
    """No live portal session: the page handler answers with a redirect to the sign-in page
    (`sign_in_path`)."""


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
