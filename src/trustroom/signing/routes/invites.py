"""Invites of a dossier: send (the first ones send the dossier), list, read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from ...actor import Actor, Scope
from ...http import (
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
from ...schemas import Page, Slice
from ...storage.deps import KeyringDep, StoreDep
from ..errors import (
    AuthenticationMethodRequired,
    DossierNotDraft,
    DossierNotFound,
    DossierNotSendable,
    FieldsOfNonSigner,
    InviteeEmailMissing,
    InviteeFinished,
    InviteeRepeated,
    InviteeUnknown,
    InviteNotFound,
    NoDocuments,
    NoSigners,
    SignatureFieldMissing,
    SignerAuthenticationMissing,
    SignerEmailMissing,
    SignerPhoneMissing,
    TimestampUnavailable,
)
from ..models import InviteState
from ..schemas.invites import InviteBatch, InviteRead, invite_read
from ..service import invites
from ..service.stored_pdfs import Workshop

SigningRead = Annotated[Actor, require(Scope.SIGNING_READ)]
SigningWrite = Annotated[Actor, require(Scope.SIGNING_WRITE)]

router = APIRouter(
    prefix=f"{API_PREFIX}/dossiers/{{dossier_id}}/invites",
    tags=["e-signatures"],
    route_class=ApiRoute,
    responses=error_responses(),
)


@router.post(
    "",
    status_code=201,
    response_model=list[InviteRead],
    dependencies=[IDEMPOTENT],
    responses=error_responses(
        DossierNotFound,
        DossierNotSendable,
        DossierNotDraft,
        InviteeUnknown,
        InviteeRepeated,
        InviteeFinished,
        InviteeEmailMissing,
        NoSigners,
        AuthenticationMethodRequired,
        SignerAuthenticationMissing,
        SignerEmailMissing,
        SignerPhoneMissing,
        NoDocuments,
        SignatureFieldMissing,
        FieldsOfNonSigner,
        TimestampUnavailable,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def create_invites(
    dossier_id: UUID,
    body: InviteBatch,
    session: SessionDep,
    actor: SigningWrite,
    keys: KeysDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    store: StoreDep,
) -> list[InviteRead]:
    """Invite invitees of a draft or pending dossier; the first invites send it (draft →
    pending). Invitees whose group's turn has come (the lowest position with someone still
    to sign or approve, and every viewer) are invited at once, the others when the group
    before them has finished. `email` invites are sent by Trustroom; `link` invites answer
    `inviteUri` for you to deliver. Inviting an invitee again replaces their open invite."""
    outbound = invites.Outbound(keys, settings.public_url)
    workshop = Workshop(keys, settings, keyring, store)
    made = await invites.create(session, actor, outbound, workshop, dossier_id, body)
    return [invite_read(invite, outbound.invite_uri(invite)) for invite in made]


@router.get("", response_model=Page[InviteRead], responses=error_responses(DossierNotFound))
async def list_invites(
    dossier_id: UUID,
    session: SessionDep,
    actor: SigningRead,
    keys: KeysDep,
    settings: SettingsDep,
    paging: PagingDep,
    invitee_id: Annotated[UUID | None, Query(alias="inviteeId", description="Only this invitee's invites.")] = None,
    state: Annotated[InviteState | None, Query(description="Only invites in this state.")] = None,
) -> Slice[InviteRead]:
    """The dossier's invites, newest first by default."""
    outbound = invites.Outbound(keys, settings.public_url)
    found = await invites.list_invites(session, actor, dossier_id, paging, invitee_id=invitee_id, state=state)
    return paging.page_of([invite_read(i, outbound.invite_uri(i)) for i in found.items], found.total_count)


@router.get("/{invite_id}", response_model=InviteRead, responses=error_responses(DossierNotFound, InviteNotFound))
async def get_invite(
    dossier_id: UUID,
    invite_id: UUID,
    session: SessionDep,
    actor: SigningRead,
    keys: KeysDep,
    settings: SettingsDep,
) -> InviteRead:
    """One invite; a `link` invite's `inviteUri` while it is open."""
    invite = await invites.get(session, actor, dossier_id, invite_id)
    return invite_read(invite, invites.Outbound(keys, settings.public_url).invite_uri(invite))
