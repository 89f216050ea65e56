"""Wire shapes of the client-records API (camelCase, strict input)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import Field, model_validator

from ..schemas import MAX_PAGE, MAX_PAGE_SIZE, Bool, InputSchema, Page, Paging, Schema, SortOrder, Text, Timestamp
from .searchtext import COUNT_LIMIT

EXAMPLE_ID = "0190b5a0-0000-7000-8000-000000000000"
Details = Annotated[
    dict[str, Any],
    Field(
        description="Details as the tenant's schema describes them (GET /api/v1/schemas/contact).",
        examples=[{"personalInformation": {"firstName": "Anna", "lastName": "Muster"}}],
    ),
]
Comment = Annotated[Text | None, Field(max_length=2000, description="Why; kept in the history.")]
AdvisorIds = Annotated[list[UUID], Field(max_length=50, examples=[[EXAMPLE_ID]])]
Pointer = Annotated[Text, Field(min_length=1, max_length=500, pattern=r"^/[^\x00]*$", examples=["/address/city"])]


# --- schemas ------------------------------------------------------------------------------


class FieldRead(Schema):
    key: str = Field(examples=["personalInformation.firstName"])
    path: str = Field(examples=["/personalInformation/firstName"], description="JSON Pointer into the details.")
    layout_path_key: str = Field(examples=["personalInformation"], description="The section the field is in.")
    type: str | None = Field(examples=["string"])
    format: str | None = Field(examples=["email"])
    enum: list[Any] | None
    list_key: str | None = Field(examples=["countries"])
    label: str = Field(description="In the request's language.")
    labels: dict[str, str] = Field(description="In every language, by ISO 639-1 code.")
    is_exportable: bool
    is_read_only: bool
    is_approval_required: bool
    is_mandatory: bool
    is_contact_updatable: bool
    is_contact_visible: bool
    is_personal_data: bool
    requires_verification: bool
    is_disabled: bool


class LayoutElement(Schema):
    kind: str = Field(description="Section or Field.")
    key: str
    path: str
    label: str
    children: list[LayoutElement] | None = None


class SchemaRead(Schema):
    key: str = Field(examples=["contact"])
    version: int = Field(description="0 for the built-in schema; each update adds one.")
    concurrency_token: str
    json_schema: dict[str, Any] = Field(description="JSON Schema 2020-12 with per-field `x-field` metadata.")
    fields: list[FieldRead]
    layout: list[LayoutElement]


class SchemaUpdate(InputSchema):
    json_schema: dict[str, Any] | Annotated[Text, Field(max_length=1_000_000)] = Field(
        description="The new JSON Schema 2020-12, as an object or as JSON text."
    )
    concurrency_token: str = Field(description="The schema's concurrencyToken as last read.")


class SchemaUpdated(Schema):
    version: int
    concurrency_token: str


class JsonSchemaRead(Schema):
    json_schema: dict[str, Any]


class LayoutRead(Schema):
    fields: list[LayoutElement]


class FieldsQuery(InputSchema):
    field_keys: list[Annotated[Text, Field(max_length=500)]] | None = Field(None, max_length=500)
    layout_path_key: Annotated[Text | None, Field(max_length=500)] = Field(
        None, description="All fields of this section (e.g. `address`)."
    )


class FieldsRead(Schema):
    fields: list[FieldRead]


# --- lists --------------------------------------------------------------------------------

ListKey = Annotated[Text, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]


class ListItemsQuery(InputSchema):
    list_keys: list[ListKey] | None = Field(None, max_length=100, description="None or empty: every list.")


class ListItemRead(Schema):
    list_key: str = Field(examples=["countries"])
    id: str = Field(examples=["CH"])
    name: str = Field(examples=["Switzerland"], description="In the request's language.")
    parent_id: str | None = Field(examples=[None], description="The item this one sits under (its country).")


class ListItemsRead(Schema):
    items: list[ListItemRead]


class LookupQuery(InputSchema):
    filter: Annotated[Text | None, Field(max_length=200)] = Field(None, description="Lookup term.")
    limit: int | None = Field(None, ge=1, le=MAX_PAGE_SIZE, description="How many items (default 10).")
    include_id: Annotated[Text | None, Field(max_length=60)] = Field(
        None, description="Include this item even if it does not match (e.g. the current value)."
    )
    is_filtered_by_hierarchy: Bool | None = None
    hierarchy_list_item_id: Annotated[Text | None, Field(max_length=60)] = Field(
        None, description="With isFilteredByHierarchy: only children of this item (a country's subdivisions)."
    )


class LookupRead(Schema):
    items: list[ListItemRead]
    total_count: int


class ListItemWrite(InputSchema):
    id: Annotated[Text, Field(min_length=1, max_length=60)]
    labels: dict[
        Annotated[str, Field(pattern="^(de|en|fr|it)$")], Annotated[Text, Field(min_length=1, max_length=200)]
    ] = Field(min_length=1, description="The item's name by language; English is the fallback.")
    parent_id: Annotated[Text | None, Field(max_length=60)] = None


class ListReplace(InputSchema):
    items: list[ListItemWrite] = Field(max_length=10_000)


# --- contacts -----------------------------------------------------------------------------


class ContactCreate(InputSchema):
    contact_type_id: int = Field(examples=[1], description="An id of the contactTypes list.")
    username: Annotated[Text | None, Field(min_length=1, max_length=320)] = Field(
        None, description="Required unless the tenant derives usernames from the email address."
    )
    details: Details
    correlation_id: Annotated[Text | None, Field(max_length=200)] = None
    advisor_ids: AdvisorIds | None = Field(
        None,
        description="Members who advise the contact (needs contacts:assign); default: the member who creates it.",
    )
    owner_member_id: UUID | None = Field(None, description="One advisor; the same as advisorIds with one id.")

    @model_validator(mode="after")
    def _one_way_to_assign(self) -> ContactCreate:
        if self.advisor_ids is not None and self.owner_member_id is not None:
            raise ValueError("give advisorIds or ownerMemberId, not both")
        return self

    def advisors(self) -> list[UUID] | None:
        if self.owner_member_id is not None:
            return [self.owner_member_id]
        return self.advisor_ids


class AdvisorRead(Schema):
    member_id: UUID
    email: str
    display_name: str
    disabled: bool = Field(description="Deactivated since it was assigned; reassign its contacts.")
    assigned_at: datetime


class AdvisorsRead(Schema):
    contact_id: UUID
    advisors: list[AdvisorRead]
    concurrency_token: str = Field(description="Of the assignment (also the ETag); send it back to replace it.")


class AdvisorsWrite(InputSchema):
    advisor_ids: AdvisorIds = Field(description="The members who advise the contact from now on; [] removes all.")
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class AdvisorsReassign(InputSchema):
    from_member_id: UUID = Field(description="Whose contacts move (may be deactivated).")
    to_member_id: UUID = Field(description="Who gets them (an active member).")


class AdvisorsReassigned(Schema):
    from_member_id: UUID
    to_member_id: UUID
    contact_count: int = Field(description="Contacts moved.")
    already_assigned_count: int = Field(description="Of those, contacts toMemberId already advised.")


class ContactRead(Schema):
    id: UUID = Field(examples=[EXAMPLE_ID])
    contact_type_id: int
    username: str | None
    has_pending_change_request: bool
    has_pending_email: bool
    has_pending_mobile: bool
    details: dict[str, Any]
    schema_version: int
    concurrency_token: str
    created_at: datetime
    updated_at: datetime
    anonymized_at: datetime | None


class AccessLevel(StrEnum):
    VIEW = "View"
    ACT = "Act"


class ContactAccessPolicy(InputSchema):
    contact_id: UUID
    role_id: int = Field(ge=1, le=2_147_483_647, examples=[1], description="An id of the legalEntityRoles list.")
    access: AccessLevel = Field(AccessLevel.VIEW, description="View: may see the entity; Act: may also act for it.")


class ContactAccessPolicyRead(Schema):
    contact_id: UUID
    role_id: int
    access: AccessLevel


class LegalEntityCreate(InputSchema):
    details: Details
    contacts: list[ContactAccessPolicy] = Field(
        default_factory=list, max_length=500, description="Contacts that may see or act for the entity."
    )
    correlation_id: Annotated[Text | None, Field(max_length=200)] = None


class ContactAccessPolicies(InputSchema):
    contacts: list[ContactAccessPolicy] = Field(max_length=500)


class LegalEntityRead(Schema):
    id: UUID = Field(examples=[EXAMPLE_ID])
    details: dict[str, Any]
    contacts: list[ContactAccessPolicyRead]
    has_pending_change_request: bool
    schema_version: int
    concurrency_token: str
    created_at: datetime
    updated_at: datetime
    anonymized_at: datetime | None


class AnonymizeRequest(InputSchema):
    contact_ids: list[UUID] = Field(min_length=1, max_length=1000, description="All are anonymized, or none.")


class AnonymizeResult(Schema):
    anonymized_contact_ids: list[UUID] = Field(description="Those anonymized now (not those anonymized before).")


class RetentionHoldWrite(InputSchema):
    reason: Annotated[Text, Field(min_length=1, max_length=1000)] = Field(examples=["AML record keeping"])
    until: Timestamp | None = Field(None, description="When the hold ends by itself; none: until released.")


class RetentionHoldRead(Schema):
    reason: str
    until: datetime | None
    created_at: datetime


class ProfilePictureRead(Schema):
    image_content_base64: str = Field(description="The picture, base64.")
    content_type: str = Field(examples=["image/png"])
    is_default_image: bool = Field(description="True when the contact has no picture of its own.")


class ProfilePictureWrite(InputSchema):
    image_content_base64: str = Field(min_length=4, description="A PNG or JPEG image, base64 (standard alphabet).")


class DetailsUpdate(InputSchema):
    details: Details
    comment: Comment = None
    concurrency_token: str | None = Field(None, description="From the last read; or send If-Match.")


class DetailsUpdated(Schema):
    is_approval_required: bool = Field(description="Some changes wait in a change request for a second member.")
    change_request_id: UUID | None
    applied_paths: list[str] = Field(description="The fields changed now.")
    has_pending_email: bool
    has_pending_mobile: bool
    concurrency_token: str


class UsernameRead(Schema):
    username: str | None


class UsernameUpdate(InputSchema):
    username: Annotated[Text, Field(min_length=1, max_length=320)]


class ExternalConnectionWrite(InputSchema):
    system: Annotated[Text, Field(min_length=1, max_length=100, examples=["Default"])]
    external_id: Annotated[Text, Field(min_length=1, max_length=200, examples=["CBS-000123"])]


class ExternalConnectionRead(Schema):
    system: str
    external_id: str
    created_at: datetime


class ExternalConnectionsRead(Schema):
    connections: list[ExternalConnectionRead]


class RecordRef(Schema):
    id: UUID


# --- change requests ----------------------------------------------------------------------


class StatusRead(Schema):
    id: int = Field(examples=[1])
    key: str = Field(examples=["Pending"])
    name: str = Field(description="In the request's language.")


class StatusesRead(Schema):
    change_request_statuses: list[StatusRead]


class MemberRef(Schema):
    id: UUID


class ChangeRead(Schema):
    path: str
    old_value: Any = Field(description="null when the field had no value.")
    new_value: Any = Field(description="null when the field is removed.")


class ChangeRequestRead(Schema):
    id: UUID
    contact_id: UUID = Field(description="The contact (or, under /legal-entities, the legal entity) it changes.")
    status: StatusRead
    create_date: datetime
    initiator_member: MemberRef
    initiator_comment: str | None
    review_date: datetime | None
    review_member: MemberRef | None
    review_comment: str | None
    correlation_id: str | None
    details: list[ChangeRead]


class PendingCheck(Schema):
    has_pending_change_request: bool
    change_request: ChangeRequestRead | None


class VerificationChannel(StrEnum):
    EMAIL = "Email"
    MOBILE = "Mobile"


class ChannelRef(InputSchema):
    channel: VerificationChannel


class ChannelKey(InputSchema):
    channel: VerificationChannel
    key: Annotated[str, Field(min_length=1, max_length=20, description="The key sent to the new address or number.")]


class Review(InputSchema):
    is_approved: Bool
    comment: Comment = None


class ChangeRequestSort(StrEnum):
    ID = "Id"
    STATUS_ID = "StatusId"
    CREATE_DATE = "CreateDate"
    INITIATOR_MEMBER_ID = "InitiatorMemberId"
    CONTACT_ID = "ContactId"
    REVIEW_DATE = "ReviewDate"
    REVIEW_MEMBER_ID = "ReviewMemberId"


class SearchPaging(InputSchema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort_order: SortOrder = SortOrder.DESCENDING

    def paging(self) -> Paging:
        return Paging(page=self.page, page_size=self.page_size, sort_order=self.sort_order)


IdList = Annotated[list[UUID] | None, Field(max_length=1000)]


class ContactSort(StrEnum):
    NAME = "Name"
    CREATED_AT = "CreatedAt"
    UPDATED_AT = "UpdatedAt"


class RecordSearch(SearchPaging):
    """Search with the filter language: `where` as JSON, or `query` as GraphQL text."""

    sort_by: ContactSort = ContactSort.NAME
    sort_order: SortOrder = SortOrder.ASCENDING
    where: dict[str, Any] | None = Field(
        None,
        description='Filter, e.g. {"personalInformation": {"lastName": {"startsWith": "Mu"}}}; '
        "operators eq, neq, in, nin, contains, ncontains, startsWith, endsWith, gt, gte, lt, lte, and, or.",
    )
    query: str | None = Field(
        None,
        max_length=50_000,
        description="The same filter as GraphQL text: query { contacts(where: {...}) { items { id } } }",
    )
    name: str | None = Field(
        None,
        max_length=200,
        description="Start of the name it sorts by (display name, else first and last name); any case or accents.",
    )
    text: Text | None = Field(
        None,
        max_length=200,
        examples=["Zür"],
        description="Any part of the first name, last name, display name, email or city, ignoring case and "
        'accents ("zur" finds Zürich, "muller" finds Müller). From three characters on it matches anywhere, '
        f"and at most {COUNT_LIMIT} matches are counted and paged (see `isTotalCountExact`); one or two "
        "characters match the start of the name the contact sorts by. Combines with `where`, `query` and "
        "`name` (all must hold).",
    )
    exclude_hierarchy: Bool = Field(False, description="Only records assigned to you directly.")

    @model_validator(mode="after")
    def _one_filter(self) -> RecordSearch:
        if self.where is not None and self.query is not None:
            raise ValueError("give either where or query, not both")
        return self


T = TypeVar("T")


class RecordPage(Page[T], Generic[T]):
    """A page of found records. A search by part of a name (`text`) stops counting at a
    limit; every other search counts every match."""

    total_count: int = Field(
        description="Records that match; a lower bound when `isTotalCountExact` is false.", examples=[42]
    )
    is_total_count_exact: bool = Field(
        True,
        description=f"False when more than {COUNT_LIMIT} records match a search by part of a name "
        f"(`text`): `totalCount` is then {COUNT_LIMIT}, and the pages hold {COUNT_LIMIT} of the matches "
        "in the asked order (which ones is not defined; a longer `text` finds the others). True otherwise.",
    )


class ChangeRequestSearch(SearchPaging):
    sort_by: ChangeRequestSort = ChangeRequestSort.CREATE_DATE
    exclude_hierarchy: Bool = Field(False, description="Only requests on records assigned to you directly.")
    status_id: int | None = Field(None, ge=1, le=5, description="See GET /api/v1/change-request-statuses.")
    create_date_from: Timestamp | None = None
    create_date_to: Timestamp | None = None
    initiator_member_ids: IdList = None
    contact_ids: IdList = None
    review_date_from: Timestamp | None = None
    review_date_to: Timestamp | None = None
    review_member_ids: IdList = None
    paths: list[Pointer] | None = Field(None, max_length=200, description="Requests touching any of these fields.")


# --- history ------------------------------------------------------------------------------


class HistorySort(StrEnum):
    CHANGE_SET_ID = "ContactChangeSetId"
    EXECUTION_DATE = "ExecutionDate"
    INITIATOR = "InitiatorPersonId"


class HistorySearch(SearchPaging):
    sort_by: HistorySort = HistorySort.EXECUTION_DATE
    initiator_person_ids: IdList = Field(None, description="Members (or contacts) who made the changes.")
    execution_date_from: Timestamp | None = None
    execution_date_to: Timestamp | None = None
    paths: list[Pointer] | None = Field(None, max_length=200, description="Change sets touching any of these fields.")


class InitiatorRef(Schema):
    kind: str = Field(examples=["member"], description="app, member, contact, operator or system.")
    id: UUID | None


class ChangeSetRead(Schema):
    id: UUID = Field(description="The change set (one write).")
    execution_date: datetime
    initiator: InitiatorRef
    change_request_id: UUID | None
    correlation_id: str | None
    comment: str | None
    changes: list[ChangeRead]


# --- export and import --------------------------------------------------------------------


class ExportFilter(InputSchema):
    """Which records to export: `where` as JSON or `query` as GraphQL text; neither exports all."""

    where: dict[str, Any] | None = Field(
        None, description='Filter, e.g. {"and": [{"personalInformation": {"displayName": {"contains": "Shannon"}}}]}.'
    )
    query: str | None = Field(
        None,
        max_length=50_000,
        description="The same as GraphQL text: query { contacts(where: {...}) { items { } } }",
    )

    @model_validator(mode="after")
    def _one_filter(self) -> ExportFilter:
        if self.where is not None and self.query is not None:
            raise ValueError("give either where or query, not both")
        return self


class ExportAccepted(Schema):
    export_job_id: UUID = Field(examples=[EXAMPLE_ID], description="Ask GET /api/v1/exports/{exportJobId}.")


class ExportRead(Schema):
    export_job_id: UUID
    kind: str = Field(examples=["contacts"], description="contacts or legalEntities.")
    status: str = Field(examples=["Succeeded"], description="Queued, Running, Succeeded, Failed or Expired.")
    total_count: int | None = Field(description="Records that match (known once the job started).")
    processed_count: int
    created_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None = Field(description="Until when the file can be fetched.")
    file_url: str | None = Field(description="Where to GET the CSV file, while it exists.")
    byte_size: int | None = None
    sha256: str | None = Field(None, description="Of the CSV file, hex.")
    error: str | None = None


class ImportFileRead(Schema):
    id: UUID
    name: str
    byte_size: int
    sha256: str
    record_count: int
    created_at: datetime


class ImportFilesRead(Schema):
    files: list[ImportFileRead]


class ImportSync(InputSchema):
    file_ids: list[UUID] | None = Field(
        None, max_length=1000, description="Only these uploaded files; default: every file waiting for a sync."
    )


class ImportSyncAccepted(Schema):
    status_id: UUID = Field(examples=[EXAMPLE_ID], description="Ask GET /api/v1/imports/status/{statusId}.")


class ImportFailureRead(Schema):
    external_id: str | None
    file_id: UUID | None
    position: int = Field(description="The record's index in its file, from 0.")
    code: str = Field(examples=["DetailsInvalid"])
    message: str


class ImportStatusRead(Schema):
    status_id: UUID
    kind: str
    status: str = Field(examples=["Running"], description="Queued, Running, Succeeded, PartiallySucceeded or Failed.")
    error_message: str | None
    total_count: int
    processed_count: int
    created_count: int
    updated_count: int
    unchanged_count: int
    failed_count: int
    failed_external_ids: list[str] = Field(description="Of records that failed (the first 1000).")
    failures: list[ImportFailureRead] = Field(description="Why each record failed (the first 1000).")
    created_at: datetime
    completed_at: datetime | None
