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
from ...i18n import current_language, gettext
from ...schemas import Page, Slice
from .. import errors
from ..deps import VerifierDep
from ..fields import FieldPolicy
from ..lists import DEFAULT_LOOKUP_LIMIT, ListItem, Lookup
from ..models import STATUS_IDS, ChangeRequestStatus, RecordKind
from ..schemas import (
    AnonymizeRequest,
    AnonymizeResult,
    ChangeRead,
    ChangeRequestRead,
    ChangeRequestSearch,
    ChangeSetRead,
    ChannelKey,
    ChannelRef,
    ContactCreate,
    ContactRead,
    DetailsUpdate,
    DetailsUpdated,
    ExternalConnectionRead,
    ExternalConnectionsRead,
    ExternalConnectionWrite,
    FieldRead,
    FieldsQuery,
    FieldsRead,
    HistorySearch,
    JsonSchemaRead,
    LayoutRead,
    ListItemRead,
    ListItemsQuery,
    ListItemsRead,
    ListReplace,
    LookupQuery,
    LookupRead,
    PendingCheck,
    ProfilePictureRead,
    ProfilePictureWrite,
    RecordRef,
    RecordSearch,
    RetentionHoldRead,
    RetentionHoldWrite,
    Review,
    SchemaRead,
    SchemaUpdate,
    SchemaUpdated,
    StatusesRead,
    StatusRead,
    UsernameRead,
    UsernameUpdate,
)
from ..service import (
    anonymization,
    change_requests,
    definitions,
    history,
    lists,
    pictures,
    records,
    search,
    verification,
)
from ..service.change_requests import STATUS_NAMES, RequestFilter, RequestView
from ..service.history import ChangeSet, HistoryFilter
from ..service.records import RecordView

ContactsRead = Annotated[Actor, require(Scope.CONTACTS_READ)]
ContactsWrite = Annotated[Actor, require(Scope.CONTACTS_WRITE)]
SchemasWrite = Annotated[Actor, require(Scope.SCHEMAS_WRITE)]
Reviewer = Annotated[Actor, require(Scope.CHANGE_REQUESTS_REVIEW)]
Anonymizer = Annotated[Actor, require(Scope.CONTACTS_ANONYMIZE)]
T = TypeVar("T")
IfMatch = Annotated[str | None, Header(description="The concurrencyToken / ETag last read.")]

schemas_router = APIRouter(
    prefix=f"{API_PREFIX}/schemas",
    tags=["client records: schemas"],
    route_class=ApiRoute,
    responses=error_responses(errors.SchemaNotFound),
)
lists_router = APIRouter(
    prefix=f"{API_PREFIX}/lists", tags=["client records: lists"], route_class=ApiRoute, responses=error_responses()
)
contacts_router = APIRouter(
    prefix=f"{API_PREFIX}/contacts",
    tags=["client records: contacts"],
    route_class=ApiRoute,
    responses=error_responses(errors.ContactNotFound),
)
statuses_router = APIRouter(
    prefix=API_PREFIX, tags=["client records: change requests"], route_class=ApiRoute, responses=error_responses()
)


def concurrency_token(body_token: str | None, if_match: str | None) -> str | None:
    return body_token or (if_match.strip('"') if if_match else None)


# --- schemas ------------------------------------------------------------------------------


def _fields(policies: list[FieldPolicy]) -> list[FieldRead]:
    language = current_language.get()
    return [FieldRead.model_validate(definitions.field_metadata(policy, language)) for policy in policies]


@schemas_router.get("/{key}", response_model=SchemaRead)
async def get_schema(key: str, session: SessionDep, actor: ContactsRead, response: Response) -> SchemaRead:
    """The schema (`contact` or `legalEntity`): JSON Schema, field metadata and form layout."""
    schema = await definitions.current(session, actor, key)
    response.headers["ETag"] = f'"{schema.concurrency_token}"'
    return SchemaRead.model_validate(
        {
            "key": schema.key,
            "version": schema.version,
            "concurrencyToken": schema.concurrency_token,
            "jsonSchema": schema.document,
            "fields": _fields(list(schema.fields.values())),
            "layout": definitions.layout(schema, current_language.get()),
        }
    )


@schemas_router.put(
    "/{key}",
    response_model=SchemaUpdated,
    responses=error_responses(errors.SchemaInvalid, ConcurrencyTokenMismatch),
)
async def update_schema(key: str, body: SchemaUpdate, session: SessionDep, actor: SchemasWrite) -> SchemaUpdated:
    """Replace the schema (a new version; audited). Records are checked against it when next written."""
    schema = await definitions.replace(session, actor, key, body.json_schema, concurrency_token=body.concurrency_token)
    return SchemaUpdated(version=schema.version, concurrency_token=schema.concurrency_token)


@schemas_router.get("/{key}/json-schema", response_model=JsonSchemaRead)
async def get_json_schema(key: str, session: SessionDep, actor: ContactsRead) -> JsonSchemaRead:
    """Only the JSON Schema, for validating details elsewhere (`x-` keywords are annotations)."""
    schema = await definitions.current(session, actor, key)
    return JsonSchemaRead(json_schema=schema.document)


@schemas_router.get("/{key}/layout", response_model=LayoutRead)
async def get_layout(key: str, session: SessionDep, actor: ContactsRead) -> LayoutRead:
    """Sections and fields in order, with labels, to render an input form."""
    schema = await definitions.current(session, actor, key)
    return LayoutRead.model_validate({"fields": definitions.layout(schema, current_language.get())})


@schemas_router.post("/{key}/fields", response_model=FieldsRead, responses=error_responses(errors.DetailsInvalid))
async def get_fields(key: str, body: FieldsQuery, session: SessionDep, actor: ContactsRead) -> FieldsRead:
    """Metadata of the named fields, or of a layout section's fields, or of all fields."""
    schema = await definitions.current(session, actor, key)
    return FieldsRead(fields=_fields(definitions.select_fields(schema, body.field_keys, body.layout_path_key)))


# --- lists --------------------------------------------------------------------------------


def _items(found: list[ListItem]) -> list[ListItemRead]:
    return [ListItemRead(list_key=i.list_key, id=i.id, name=i.name, parent_id=i.parent_id) for i in found]


@lists_router.post("/items", response_model=ListItemsRead, responses=error_responses(errors.ListNotFound))
async def list_items(body: ListItemsQuery, session: SessionDep, actor: ContactsRead) -> ListItemsRead:
    """Items of the named lists (all lists when none are named), names in the request's language."""
    found = await lists.items(session, actor, body.list_keys, current_language.get())
    return ListItemsRead(items=[item for items in found.values() for item in _items(list(items))])


@lists_router.post("/{list_key}/lookup", response_model=LookupRead, responses=error_responses(errors.ListNotFound))
async def lookup_list(list_key: str, body: LookupQuery, session: SessionDep, actor: ContactsRead) -> LookupRead:
    """The best matches for a lookup term, optionally only under a parent item."""
    query = Lookup(
        filter=body.filter,
        limit=body.limit or DEFAULT_LOOKUP_LIMIT,
        include_id=body.include_id,
        parent_id=body.hierarchy_list_item_id if body.is_filtered_by_hierarchy else None,
    )
    found = await lists.lookup(session, actor, list_key, query, current_language.get())
    return LookupRead(items=_items(found.items), total_count=found.total_count)


@lists_router.put(
    "/{list_key}/items",
    status_code=204,
    response_class=Response,
    responses=error_responses(errors.ListReadOnly, errors.ListItemDuplicate),
)
async def replace_list(list_key: str, body: ListReplace, session: SessionDep, actor: SchemasWrite) -> None:
    """Define or redefine one of the tenant's own lists (e.g. `contactTypes`); built-in lists are fixed."""
    items = [lists.NewItem(item.id, item.labels, item.parent_id) for item in body.items]
    await lists.replace(session, actor, list_key, items)


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


def _status(status: str) -> StatusRead:
    value = ChangeRequestStatus(status)
    return StatusRead(id=STATUS_IDS[value], key=str(value), name=gettext(STATUS_NAMES[value]))


def change_request_read(found: RequestView) -> ChangeRequestRead:
    request = found.request
    return ChangeRequestRead.model_validate(
        {
            "id": request.id,
            "contactId": request.record_id,
            "status": _status(request.status),
            "createDate": request.created_at,
            "initiatorMember": {"id": request.initiator_member_id},
            "initiatorComment": request.initiator_comment,
            "reviewDate": request.reviewed_at,
            "reviewMember": {"id": request.review_member_id} if request.review_member_id else None,
            "reviewComment": request.review_comment,
            "correlationId": request.correlation_id,
            "details": [ChangeRead(path=i.path, old_value=i.old_value, new_value=i.new_value) for i in found.items],
        }
    )


CREATE_ERRORS = (
    errors.DetailsInvalid,
    errors.FieldNotUpdatable,
    errors.UsernameNotUnique,
    errors.UsernameRequired,
    errors.ContactTypeUnknown,
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
    """Create a contact; a member who creates it is assigned to it."""
    record = await records.create(
        session,
        actor,
        RecordKind.CONTACT,
        body.details,
        contact_type_id=body.contact_type_id,
        username=body.username,
        correlation_id=body.correlation_id,
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


@contacts_router.post("/search", response_model=Page[ContactRead], responses=error_responses(errors.FilterInvalid))
async def search_contacts(body: RecordSearch, session: SessionDep, actor: ContactsRead) -> Page[ContactRead]:
    """Contacts you may see, by the filter language (`where` or GraphQL `query`) and name prefix."""
    query = search.RecordQuery(
        RecordKind.CONTACT,
        where=body.where,
        graphql=body.query,
        name_prefix=body.name,
        exclude_hierarchy=body.exclude_hierarchy,
        sort_by=str(body.sort_by),
    )
    found = await search.search(session, actor, query, body.paging())
    return page(found, [_contact(view) for view in await records.views(session, actor, found.items)])


@contacts_router.post(
    "/change-requests/search",
    response_model=Page[ChangeRequestRead],
    tags=["client records: change requests"],
)
async def search_change_requests(
    body: ChangeRequestSearch, session: SessionDep, actor: ContactsRead
) -> Page[ChangeRequestRead]:
    """Change requests on contacts you may see; newest first unless sorted otherwise."""
    criteria = RequestFilter(
        kind=RecordKind.CONTACT,
        status_id=body.status_id,
        create_date_from=body.create_date_from,
        create_date_to=body.create_date_to,
        review_date_from=body.review_date_from,
        review_date_to=body.review_date_to,
        initiator_member_ids=body.initiator_member_ids,
        review_member_ids=body.review_member_ids,
        record_ids=body.contact_ids,
        paths=body.paths,
        exclude_hierarchy=body.exclude_hierarchy,
        sort_by=str(body.sort_by),
    )
    found = await change_requests.search(session, actor, criteria, body.paging())
    return page(found, [change_request_read(view) for view in found.items])


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


REVIEW_ERRORS = (
    errors.ChangeRequestNotFound,
    errors.ChangeRequestNotPending,
    errors.OwnChangeRequest,
    errors.ReviewerRequired,
    errors.RejectionCommentRequired,
    errors.DetailsInvalid,
)
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


# --- change requests ----------------------------------------------------------------------


@contacts_router.get(
    "/{contact_id:uuid}/change-requests/{change_request_id}",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(errors.ChangeRequestNotFound),
)
async def get_change_request(
    contact_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsRead
) -> ChangeRequestRead:
    """One change request with its changes."""
    return change_request_read(
        await change_requests.get(session, actor, RecordKind.CONTACT, contact_id, change_request_id)
    )


@contacts_router.post(
    "/{contact_id:uuid}/change-requests/{change_request_id}/cancel",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(errors.ChangeRequestNotFound, errors.NotInitiator, errors.ChangeRequestNotPending),
)
async def cancel_change_request(
    contact_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsWrite
) -> ChangeRequestRead:
    """Withdraw a pending request; only the member who made it may."""
    found = await change_requests.cancel(session, actor, RecordKind.CONTACT, contact_id, change_request_id)
    return change_request_read(found)


@contacts_router.post(
    "/{contact_id:uuid}/change-requests/{change_request_id}/review",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(*REVIEW_ERRORS),
)
async def review_change_request(
    contact_id: UUID,
    change_request_id: UUID,
    body: Review,
    session: SessionDep,
    actor: Reviewer,
    verifier: VerifierDep,
) -> ChangeRequestRead:
    """Approve (the change applies now) or reject (say why). Never your own request."""
    return await review(RecordKind.CONTACT, contact_id, change_request_id, body, session, actor, verifier)


async def review(
    kind: RecordKind,
    record_id: UUID,
    change_request_id: UUID,
    body: Review,
    session: SessionDep,
    actor: Actor,
    verifier: VerifierDep,
) -> ChangeRequestRead:
    """A review of a contact's or a legal entity's change request, answered the same way."""
    found = await change_requests.review(
        session,
        actor,
        verifier,
        kind,
        record_id,
        change_request_id,
        is_approved=body.is_approved,
        comment=body.comment,
    )
    return change_request_read(found)


@contacts_router.get(
    "/{contact_id:uuid}/pending-change-request/check",
    response_model=PendingCheck,
    tags=["client records: change requests"],
)
async def check_pending_change_request(contact_id: UUID, session: SessionDep, actor: ContactsRead) -> PendingCheck:
    """Whether a change request waits for review, and which."""
    found = await change_requests.pending(session, actor, RecordKind.CONTACT, contact_id)
    return PendingCheck(
        has_pending_change_request=found is not None, change_request=change_request_read(found) if found else None
    )


@statuses_router.get("/change-request-statuses", response_model=StatusesRead)
async def list_change_request_statuses(actor: ContactsRead) -> StatusesRead:
    """Every status a change request can have, named in the request's language."""
    return StatusesRead(change_request_statuses=[_status(status) for status in ChangeRequestStatus])


# --- history ------------------------------------------------------------------------------


def _change_set(found: ChangeSet) -> ChangeSetRead:
    return ChangeSetRead.model_validate(
        {
            "id": found.id,
            "executionDate": found.executed_at,
            "initiator": {"kind": found.actor_kind, "id": found.actor_id},
            "changeRequestId": found.change_request_id,
            "correlationId": found.correlation_id,
            "comment": found.comment,
            "changes": [ChangeRead(path=c.path, old_value=c.old_value, new_value=c.new_value) for c in found.changes],
        }
    )


@contacts_router.post("/{contact_id:uuid}/details/change-history/search", response_model=Page[ChangeSetRead])
async def search_contact_history(
    contact_id: UUID, body: HistorySearch, session: SessionDep, actor: ContactsRead
) -> Page[ChangeSetRead]:
    """Applied changes grouped by write, newest first unless sorted otherwise; only fields you may see."""
    criteria = HistoryFilter(
        initiator_ids=body.initiator_person_ids,
        execution_date_from=body.execution_date_from,
        execution_date_to=body.execution_date_to,
        paths=body.paths,
        sort_by=str(body.sort_by),
    )
    found = await history.search(session, actor, RecordKind.CONTACT, contact_id, criteria, body.paging())
    return page(found, [_change_set(change_set) for change_set in found.items])


ROUTERS = (schemas_router, lists_router, contacts_router, statuses_router)
