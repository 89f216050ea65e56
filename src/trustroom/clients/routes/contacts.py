"""JSON API of client records: /api/v1/schemas, /lists, /contacts and change requests."""

from __future__ import annotations

import base64
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Header, Response

from ...actor import Actor, Scope
from ...errors import ConcurrencyTokenMismatch
from ...http import (
    API_PREFIX,
    IDEMPOTENCY_ERRORS,
    IDEMPOTENT,
    ApiRoute,
    KeysDep,
    SessionDep,
    SettingsDep,
    error_responses,
    require,
)
from ...schemas import Page, Slice
from .. import errors
from ..deps import VerifierDep
from ..models import RecordKind
from ..schemas import (
    AnonymizeRequest,
    AnonymizeResult,
    ChannelKey,
    ChannelRef,
    ContactCreate,
    ContactRead,
    DetailsUpdate,
    DetailsUpdated,
    ExternalConnectionRead,
    ExternalConnectionsRead,
    ExternalConnectionWrite,
    ProfilePictureRead,
    ProfilePictureWrite,
    RecordPage,
    RecordRef,
    RecordSearch,
    RetentionHoldRead,
    RetentionHoldWrite,
    UsernameRead,
    UsernameUpdate,
)
from ..service import (
    anonymization,
    pictures,
    records,
    search,
    verification,
)
from ..service.records import RecordView

ContactsRead = Annotated[Actor, require(Scope.CONTACTS_READ)]
ContactsWrite = Annotated[Actor, require(Scope.CONTACTS_WRITE)]
SchemasWrite = Annotated[Actor, require(Scope.SCHEMAS_WRITE)]
Reviewer = Annotated[Actor, require(Scope.CHANGE_REQUESTS_REVIEW)]
Anonymizer = Annotated[Actor, require(Scope.CONTACTS_ANONYMIZE)]
T = TypeVar("T")
IfMatch = Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")]

contacts_router = APIRouter(
    prefix=f"{API_PREFIX}/contacts",
    tags=["client records: contacts"],
    route_class=ApiRoute,
    responses=error_responses(errors.ContactNotFound),
)


def concurrency_token(body_token: str | None, if_match: str | None) -> str | None:
    return body_token or (if_match.strip('"') if if_match else None)


# --- contacts -----------------------------------------------------------------------------


def _contact(found: RecordView) -> ContactRead:
    record = found.record
    return ContactRead(
        id=record.id,
        contact_type_id=record.contact_type_id or 0,
        username=record.username,
        has_pending_change_request=found.has_pending_change_request,
        has_pending_email=found.has_pending_email,
        has_pending_mobile=found.has_pending_mobile,
        details=record.details,
        schema_version=record.schema_version,
        concurrency_token=record.concurrency_token,
        created_at=record.created_at,
        updated_at=record.updated_at,
        anonymized_at=record.anonymized_at,
    )


CREATE_ERRORS = (
    errors.DetailsInvalid,
    errors.FieldNotUpdatable,
    errors.UsernameNotUnique,
    errors.UsernameRequired,
    errors.ContactTypeUnknown,
    errors.AdvisorNotFound,
    errors.AdvisorDisabled,
)
UPDATE_ERRORS = (
    errors.DetailsInvalid,
    errors.FieldNotUpdatable,
    errors.UsernameNotUnique,
    errors.PendingChangeRequestExists,
    errors.RecordAnonymized,
    ConcurrencyTokenMismatch,
)


@contacts_router.post(
    "",
    status_code=201,
    response_model=ContactRead,
    dependencies=[IDEMPOTENT],
    responses=error_responses(*CREATE_ERRORS, *IDEMPOTENCY_ERRORS),
)
async def create_contact(
    body: ContactCreate, session: SessionDep, actor: ContactsWrite, response: Response
) -> ContactRead:
    """Create a contact. `advisorIds` (or `ownerMemberId`) assign its advisors (needs
    contacts:assign); without them, a member who creates it is assigned to it."""
    record = await records.create(
        session,
        actor,
        RecordKind.CONTACT,
        body.details,
        contact_type_id=body.contact_type_id,
        username=body.username,
        correlation_id=body.correlation_id,
        advisor_ids=body.advisors(),
    )
    response.headers["Location"] = f"{API_PREFIX}/contacts/{record.id}"
    return _contact(await records.view(session, actor, record))


@contacts_router.post(
    "/anonymize",
    response_model=AnonymizeResult,
    responses=error_responses(errors.RetentionHoldActive),
)
async def anonymize_contacts(body: AnonymizeRequest, session: SessionDep, actor: Anonymizer) -> AnonymizeResult:
    """Erase the personal data of these contacts, irreversibly; all or none (retention holds refuse)."""
    done = await anonymization.anonymize(session, actor, body.contact_ids)
    return AnonymizeResult(anonymized_contact_ids=done)


@contacts_router.get(
    "/{contact_id:uuid}/retention-hold",
    response_model=RetentionHoldRead,
    responses=error_responses(errors.RetentionHoldNotFound),
)
async def get_retention_hold(contact_id: UUID, session: SessionDep, actor: ContactsRead) -> RetentionHoldRead:
    """Why and until when the contact must be kept."""
    return RetentionHoldRead.model_validate(
        await anonymization.get_hold(session, actor, contact_id), from_attributes=True
    )


@contacts_router.put("/{contact_id:uuid}/retention-hold", response_model=RetentionHoldRead)
async def set_retention_hold(
    contact_id: UUID, body: RetentionHoldWrite, session: SessionDep, actor: Anonymizer
) -> RetentionHoldRead:
    """Keep the contact (no anonymization) for a reason, until a date or until released."""
    hold = await anonymization.set_hold(session, actor, contact_id, reason=body.reason, until=body.until)
    return RetentionHoldRead.model_validate(hold, from_attributes=True)


@contacts_router.delete(
    "/{contact_id:uuid}/retention-hold",
    status_code=204,
    response_class=Response,
    responses=error_responses(errors.RetentionHoldNotFound),
)
async def release_retention_hold(contact_id: UUID, session: SessionDep, actor: Anonymizer) -> None:
    """End the hold; the contact may be anonymized again."""
    await anonymization.release_hold(session, actor, contact_id)


@contacts_router.post(
    "/search", response_model=RecordPage[ContactRead], responses=error_responses(errors.FilterInvalid)
)
async def search_contacts(body: RecordSearch, session: SessionDep, actor: ContactsRead) -> RecordPage[ContactRead]:
    """Contacts you may see, by the filter language (`where` or GraphQL `query`), name prefix
    and any part of a name, email or city (`text`), in pages ordered by `sortBy`. A search
    with `text` counts and pages a limited number of matches (`isTotalCountExact`)."""
    query = search.RecordQuery(
        RecordKind.CONTACT,
        where=body.where,
        graphql=body.query,
        name_prefix=body.name,
        text=body.text,
        exclude_hierarchy=body.exclude_hierarchy,
        sort_by=str(body.sort_by),
    )
    found = await search.search(session, actor, query, body.paging())
    items = [_contact(view) for view in await records.views(session, actor, found.items)]
    return RecordPage[ContactRead](
        items=items,
        page=found.page,
        page_size=found.page_size,
        page_count=found.page_count,
        total_count=found.total_count,
        is_total_count_exact=found.is_total_count_exact,
    )


def page(found: Slice[Any], items: list[T]) -> Page[T]:
    return Page[T](
        items=items,
        page=found.page,
        page_size=found.page_size,
        page_count=found.page_count,
        total_count=found.total_count,
    )


@contacts_router.get(
    "/by-external-id/{system}/{external_id}",
    response_model=RecordRef,
    responses=error_responses(errors.ExternalConnectionNotFound),
)
async def find_contact_by_external_id(
    system: str, external_id: str, session: SessionDep, actor: ContactsRead
) -> RecordRef:
    """The contact with this id in another system."""
    record = await records.find_by_external_id(session, actor, RecordKind.CONTACT, system, external_id)
    return RecordRef(id=record.id)


@contacts_router.get("/{contact_id:uuid}", response_model=ContactRead)
async def get_contact(contact_id: UUID, session: SessionDep, actor: ContactsRead, response: Response) -> ContactRead:
    """A contact with its details and what is pending on it."""
    found = await records.get(session, actor, RecordKind.CONTACT, contact_id)
    response.headers["ETag"] = f'"{found.record.concurrency_token}"'
    return _contact(found)


async def update_details(
    kind: RecordKind,
    record_id: UUID,
    body: DetailsUpdate,
    session: SessionDep,
    actor: Actor,
    verifier: VerifierDep,
    if_match: str | None,
    *,
    partial: bool,
) -> DetailsUpdated:
    """PUT or PATCH of a contact's or legal entity's details, answered the same way."""
    outcome = await records.update_details(
        session,
        actor,
        verifier,
        kind,
        record_id,
        body.details,
        partial=partial,
        comment=body.comment,
        concurrency_token=concurrency_token(body.concurrency_token, if_match),
    )
    found = await records.get(session, actor, kind, record_id)
    return DetailsUpdated(
        is_approval_required=outcome.is_approval_required,
        change_request_id=outcome.change_request.id if outcome.change_request else None,
        applied_paths=[change.pointer for change in outcome.applied],
        has_pending_email=found.has_pending_email,
        has_pending_mobile=found.has_pending_mobile,
        concurrency_token=found.record.concurrency_token,
    )


@contacts_router.put(
    "/{contact_id:uuid}/details", response_model=DetailsUpdated, responses=error_responses(*UPDATE_ERRORS)
)
async def replace_contact_details(
    contact_id: UUID,
    body: DetailsUpdate,
    session: SessionDep,
    actor: ContactsWrite,
    verifier: VerifierDep,
    if_match: IfMatch = None,
) -> DetailsUpdated:
    """Replace all details. A member's changes to approval fields wait for a second member; a new
    email or mobile waits until the key sent to it is verified."""
    return await update_details(RecordKind.CONTACT, contact_id, body, session, actor, verifier, if_match, partial=False)


@contacts_router.patch(
    "/{contact_id:uuid}/details", response_model=DetailsUpdated, responses=error_responses(*UPDATE_ERRORS)
)
async def patch_contact_details(
    contact_id: UUID,
    body: DetailsUpdate,
    session: SessionDep,
    actor: ContactsWrite,
    verifier: VerifierDep,
    if_match: IfMatch = None,
) -> DetailsUpdated:
    """Change some details (JSON Merge Patch: null removes a field; arrays are replaced whole)."""
    return await update_details(RecordKind.CONTACT, contact_id, body, session, actor, verifier, if_match, partial=True)


@contacts_router.get(
    "/{contact_id:uuid}/profile-picture", response_model=ProfilePictureRead, tags=["client records: contacts"]
)
async def get_profile_picture(
    contact_id: UUID, session: SessionDep, actor: ContactsRead, keys: KeysDep
) -> ProfilePictureRead:
    """The contact's picture, or a neutral default (`isDefaultImage`) when it has none."""
    picture, is_default = await pictures.get(session, actor, keys, contact_id)
    encoded = base64.b64encode(picture.content).decode()
    return ProfilePictureRead(
        image_content_base64=encoded, content_type=picture.content_type, is_default_image=is_default
    )


@contacts_router.put(
    "/{contact_id:uuid}/profile-picture",
    status_code=204,
    response_class=Response,
    responses=error_responses(errors.PictureInvalid, errors.PictureTooLarge, errors.RecordAnonymized),
)
async def put_profile_picture(
    contact_id: UUID,
    body: ProfilePictureWrite,
    session: SessionDep,
    actor: ContactsWrite,
    keys: KeysDep,
    settings: SettingsDep,
) -> None:
    """Store a PNG or JPEG picture; it is checked, re-encoded without metadata and stored sealed."""
    await pictures.put(session, actor, keys, settings.clients, contact_id, body.image_content_base64)


@contacts_router.delete("/{contact_id:uuid}/profile-picture", status_code=204, response_class=Response)
async def delete_profile_picture(contact_id: UUID, session: SessionDep, actor: ContactsWrite) -> None:
    """Remove the picture; the default shows again."""
    await pictures.remove(session, actor, contact_id)


CHANNEL_ERRORS = (errors.NoPendingChannel, errors.RecordAnonymized)


@contacts_router.post(
    "/{contact_id:uuid}/channels/verify",
    response_model=ContactRead,
    tags=["client records: channel verification"],
    responses=error_responses(*CHANNEL_ERRORS, errors.KeyExpired, errors.KeyNoMatch, errors.UsernameNotUnique),
)
async def verify_channel(
    contact_id: UUID, body: ChannelKey, session: SessionDep, actor: ContactsWrite, verifier: VerifierDep
) -> ContactRead:
    """Confirm a new email or mobile with the key sent to it; the new value applies now."""
    await verification.verify(session, actor, verifier, contact_id, body.channel, body.key)
    return _contact(await records.get(session, actor, RecordKind.CONTACT, contact_id))


@contacts_router.post(
    "/{contact_id:uuid}/channels/resend",
    status_code=204,
    response_class=Response,
    tags=["client records: channel verification"],
    responses=error_responses(*CHANNEL_ERRORS, errors.ResendTooSoon),
)
async def resend_channel_key(
    contact_id: UUID, body: ChannelRef, session: SessionDep, actor: ContactsWrite, verifier: VerifierDep
) -> None:
    """Send a new key to the waiting email or mobile; the previous key stops working."""
    await verification.resend(session, actor, verifier, contact_id, body.channel)


@contacts_router.post(
    "/{contact_id:uuid}/channels/discontinue",
    status_code=204,
    response_class=Response,
    tags=["client records: channel verification"],
    responses=error_responses(*CHANNEL_ERRORS),
)
async def discontinue_channel(contact_id: UUID, body: ChannelRef, session: SessionDep, actor: ContactsWrite) -> None:
    """Drop the waiting email or mobile; the current one stays."""
    await verification.discontinue(session, actor, contact_id, body.channel)


@contacts_router.get("/{contact_id:uuid}/username", response_model=UsernameRead)
async def get_username(contact_id: UUID, session: SessionDep, actor: ContactsRead) -> UsernameRead:
    """The contact's username."""
    found = await records.get(session, actor, RecordKind.CONTACT, contact_id)
    return UsernameRead(username=found.record.username)


@contacts_router.put(
    "/{contact_id:uuid}/username",
    response_model=UsernameRead,
    responses=error_responses(errors.UsernameNotUnique, errors.UsernameCoupled),
)
async def change_username(
    contact_id: UUID, body: UsernameUpdate, session: SessionDep, actor: ContactsWrite
) -> UsernameRead:
    """Change the username (not when usernames follow email addresses); it must be unique."""
    record = await records.change_username(session, actor, contact_id, body.username)
    return UsernameRead(username=record.username)


@contacts_router.get("/{contact_id:uuid}/external-connections", response_model=ExternalConnectionsRead)
async def get_external_connections(
    contact_id: UUID, session: SessionDep, actor: ContactsRead
) -> ExternalConnectionsRead:
    """The contact's ids in other systems; `Default` is the import's."""
    found = await records.connections(session, actor, contact_id)
    return ExternalConnectionsRead.model_validate({"connections": found})


@contacts_router.post(
    "/{contact_id:uuid}/external-connections",
    status_code=201,
    response_model=ExternalConnectionRead,
    responses=error_responses(errors.ExternalIdNotUnique),
)
async def add_external_connection(
    contact_id: UUID, body: ExternalConnectionWrite, session: SessionDep, actor: ContactsWrite
) -> ExternalConnectionRead:
    """Record the contact's id in another system; unique per system."""
    connection = await records.add_connection(session, actor, contact_id, body.system, body.external_id)
    return ExternalConnectionRead.model_validate(connection)
