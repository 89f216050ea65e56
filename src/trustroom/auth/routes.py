"""JSON API of the auth domain: /api/v1/api-keys and /api/v1/members."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from ..actor import Actor, Scope
from ..errors import ConcurrencyTokenMismatch
from ..http import (
    API_PREFIX,
    IDEMPOTENCY_ERRORS,
    IDEMPOTENT,
    ApiRoute,
    KeysDep,
    PagingDep,
    SessionDep,
    SettingsDep,
    error_responses,
    require,
)
from ..schemas import Page, Slice
from .errors import (
    ActingMemberNotAllowed,
    ActingMemberUnknown,
    EmailTaken,
    InvitationAccepted,
    InvitationNotFound,
    ScopeNotGrantable,
    SupervisorInvalid,
)
from .models import ApiKey, Member
from .schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    InvitationCreate,
    InvitationRead,
    InvitationStatus,
    MemberCreate,
    MemberCreated,
    MemberRead,
    MemberUpdate,
)
from .service import api_keys, invitations, members

common = error_responses(ActingMemberNotAllowed, ActingMemberUnknown)
api_key_router = APIRouter(prefix=f"{API_PREFIX}/api-keys", tags=["api-keys"], route_class=ApiRoute, responses=common)
member_router = APIRouter(prefix=f"{API_PREFIX}/members", tags=["members"], route_class=ApiRoute, responses=common)
# Member routes take only UUIDs (`{member_id:uuid}`), so "invitations" is never a member id.
invitation_router = APIRouter(
    prefix=f"{API_PREFIX}/members/invitations", tags=["members"], route_class=ApiRoute, responses=common
)

ApiKeysRead = Annotated[Actor, require(Scope.API_KEYS_READ)]
ApiKeysWrite = Annotated[Actor, require(Scope.API_KEYS_WRITE)]
MembersRead = Annotated[Actor, require(Scope.MEMBERS_READ)]
MembersWrite = Annotated[Actor, require(Scope.MEMBERS_WRITE)]


@api_key_router.get("", response_model=Page[ApiKeyRead])
async def list_api_keys(session: SessionDep, actor: ApiKeysRead, paging: PagingDep) -> Slice[ApiKey]:
    """List the tenant's API keys (never their secrets)."""
    return await api_keys.list_keys(session, actor, paging)


@api_key_router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    dependencies=[IDEMPOTENT],
    responses=error_responses(ScopeNotGrantable, *IDEMPOTENCY_ERRORS),
)
async def create_api_key(body: ApiKeyCreate, session: SessionDep, actor: ApiKeysWrite, keys: KeysDep) -> ApiKeyCreated:
    """Create an API key; the secret is in this answer only."""
    issued = await api_keys.create(session, actor, keys, name=body.name, scopes=body.scopes, expires_in=body.expires_in)
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(issued.api_key).model_dump(), "key": issued.secret}
    )


@api_key_router.get("/{api_key_id}", response_model=ApiKeyRead)
async def get_api_key(api_key_id: UUID, session: SessionDep, actor: ApiKeysRead) -> ApiKey:
    """One API key."""
    return await api_keys.get(session, actor, api_key_id)


@api_key_router.delete("/{api_key_id}", status_code=204, response_class=Response)
async def revoke_api_key(api_key_id: UUID, session: SessionDep, actor: ApiKeysWrite) -> None:
    """Revoke an API key; it stops working at once."""
    await api_keys.revoke(session, actor, api_key_id)


@member_router.get("", response_model=Page[MemberRead])
async def list_members(session: SessionDep, actor: MembersRead, paging: PagingDep) -> Slice[Member]:
    """List the tenant's members."""
    return await members.list_members(session, actor, paging)


@member_router.post(
    "",
    status_code=201,
    response_model=MemberCreated,
    dependencies=[IDEMPOTENT],
    responses=error_responses(EmailTaken, *IDEMPOTENCY_ERRORS),
)
async def create_member(body: MemberCreate, session: SessionDep, actor: MembersWrite, keys: KeysDep) -> MemberCreated:
    """Create a member; the initial password and TOTP secret are in this answer only."""
    new = await members.create(
        session, actor, keys, email=str(body.email), role=body.role, display_name=body.display_name
    )
    read = MemberRead.model_validate(new.member).model_dump()
    return MemberCreated.model_validate({**read, "password": new.password, "totp_secret": new.totp_secret})


@member_router.get("/{member_id:uuid}", response_model=MemberRead)
async def get_member(member_id: UUID, session: SessionDep, actor: MembersRead, response: Response) -> Member:
    """One member."""
    member = await members.get(session, actor, member_id)
    response.headers["ETag"] = f'"{member.concurrency_token}"'
    return member


@member_router.patch(
    "/{member_id:uuid}",
    response_model=MemberRead,
    responses=error_responses(ConcurrencyTokenMismatch, SupervisorInvalid),
)
async def update_member(
    member_id: UUID,
    body: MemberUpdate,
    session: SessionDep,
    actor: MembersWrite,
    if_match: Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")] = None,
) -> Member:
    """Change a member's name, role or supervisor, or disable or re-enable them."""
    token = body.concurrency_token or (if_match.strip('"') if if_match else None)
    return await members.update(
        session,
        actor,
        member_id,
        concurrency_token=token,
        display_name=body.display_name,
        role=body.role,
        disabled=body.disabled,
        supervisor_id=body.supervisor_id if "supervisor_id" in body.model_fields_set else members.UNCHANGED,
    )


@invitation_router.post(
    "",
    status_code=201,
    response_model=InvitationRead,
    dependencies=[IDEMPOTENT],
    responses=error_responses(EmailTaken, *IDEMPOTENCY_ERRORS),
)
async def invite_member(
    body: InvitationCreate, session: SessionDep, actor: MembersWrite, keys: KeysDep, settings: SettingsDep
) -> InvitationRead:
    """Invite someone by email: a one-time link (valid 7 days) lets them choose a password and
    set up TOTP, and they are a member from then on. Inviting the same address again replaces
    the pending invitation; an address that already belongs to a member is 409 EmailNotUnique."""
    invitation = await invitations.invite(
        session,
        actor,
        keys,
        email=str(body.email),
        role=body.role,
        display_name=body.display_name,
        language=body.language_code.lower() if body.language_code else None,
        public_url=settings.public_url,
    )
    return InvitationRead.of(invitation)


@invitation_router.get("", response_model=Page[InvitationRead])
async def list_invitations(
    session: SessionDep,
    actor: MembersRead,
    paging: PagingDep,
    status: Annotated[InvitationStatus | None, Query(description="Only invitations in this state.")] = None,
) -> Slice[InvitationRead]:
    """The tenant's invitations, newest first unless sortOrder=Ascending."""
    found = await invitations.list_invitations(session, actor, paging, status=status)
    return paging.page_of([InvitationRead.of(i) for i in found.items], found.total_count)


@invitation_router.delete(
    "/{invitation_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(InvitationNotFound, InvitationAccepted),
)
async def revoke_invitation(invitation_id: UUID, session: SessionDep, actor: MembersWrite) -> None:
    """Revoke an invitation: its link stops working at once."""
    await invitations.revoke(session, actor, invitation_id)
