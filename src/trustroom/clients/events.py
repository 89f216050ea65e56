"""Events of client records: ids and the paths that changed, never the values (no personal data)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema


class RecordChanged(Schema):
    contact_id: UUID | None = Field(None, description="Set for contacts.")
    legal_entity_id: UUID | None = Field(None, description="Set for legal entities.")
    paths: list[str] = Field(default_factory=list, description="JSON Pointers of the details that changed.")
    change_request_id: UUID | None = Field(None, description="Set when an approval applied the change.")
    correlation_id: str | None = Field(None, description="The caller's correlation id, when it gave one.")


class ChangeRequestChanged(Schema):
    change_request_id: UUID
    contact_id: UUID | None = None
    legal_entity_id: UUID | None = None
    status: str = Field(description="Pending, Approved, Rejected, Cancelled or Stale.")
    paths: list[str] = Field(description="JSON Pointers of the details the request changes.")


class RecordsAnonymized(Schema):
    contact_ids: list[UUID]


class ChannelVerified(Schema):
    contact_id: UUID
    channel: str = Field(description="Email or Mobile.")


class AdvisorsChanged(Schema):
    contact_id: UUID
    advisor_ids: list[UUID] = Field(description="The member ids assigned now.")
    added_ids: list[UUID]
    removed_ids: list[UUID]


class AdvisorsReassigned(Schema):
    from_member_id: UUID
    to_member_id: UUID
    contact_count: int = Field(description="Contacts that were assigned to fromMemberId and now are to toMemberId.")
    already_assigned_count: int = Field(description="Of those, contacts toMemberId was already assigned to.")


class JobCompleted(Schema):
    job_id: UUID
    kind: str = Field(description="contacts or legalEntities.")
    status: str
    count: int = Field(description="Records exported, or records imported.")
    failed: int = Field(0, description="Records that could not be imported.")


CONTACT_CREATED = EventType("contact.created", RecordChanged, N_("A contact was created."))
CONTACT_UPDATED = EventType("contact.updated", RecordChanged, N_("A contact's details changed."))
CONTACT_ANONYMIZED = EventType("contact.anonymized", RecordsAnonymized, N_("Contacts were anonymized."))
LEGAL_ENTITY_CREATED = EventType("legalEntity.created", RecordChanged, N_("A legal entity was created."))
LEGAL_ENTITY_UPDATED = EventType("legalEntity.updated", RecordChanged, N_("A legal entity's details changed."))
CHANGE_REQUEST_CREATED = EventType(
    "changeRequest.created", ChangeRequestChanged, N_("A change waits for a second member's approval.")
)
CHANGE_REQUEST_APPROVED = EventType(
    "changeRequest.approved", ChangeRequestChanged, N_("A change request was approved and applied.")
)
CHANGE_REQUEST_REJECTED = EventType(
    "changeRequest.rejected", ChangeRequestChanged, N_("A change request was rejected.")
)
CHANGE_REQUEST_CANCELLED = EventType(
    "changeRequest.cancelled", ChangeRequestChanged, N_("A change request was cancelled by its initiator.")
)
CHANGE_REQUEST_STALE = EventType(
    "changeRequest.outdated",
    ChangeRequestChanged,
    N_("A value a change request changes moved; it must be made again."),
    formerly="changeRequest.stale",
)
CHANNEL_VERIFIED = EventType(
    "contact.channel.verified",
    ChannelVerified,
    N_("A contact confirmed a new email or mobile."),
    formerly="channel.verified",
)
CONTACT_ADVISORS_CHANGED = EventType(
    "contact.advisors.changed", AdvisorsChanged, N_("The members assigned to a contact as its advisors changed.")
)
CONTACT_ADVISORS_REASSIGNED = EventType(
    "contact.advisors.reassigned",
    AdvisorsReassigned,
    N_("Every contact of one member was moved to another member (one event for the whole move)."),
)
EXPORT_COMPLETED = EventType("export.completed", JobCompleted, N_("An export file is ready."))
IMPORT_COMPLETED = EventType("import.completed", JobCompleted, N_("An import finished."))

TYPES = (
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONTACT_ANONYMIZED,
    CONTACT_ADVISORS_CHANGED,
    CONTACT_ADVISORS_REASSIGNED,
    LEGAL_ENTITY_CREATED,
    LEGAL_ENTITY_UPDATED,
    CHANGE_REQUEST_CREATED,
    CHANGE_REQUEST_APPROVED,
    CHANGE_REQUEST_REJECTED,
    CHANGE_REQUEST_CANCELLED,
    CHANGE_REQUEST_STALE,
    CHANNEL_VERIFIED,
    EXPORT_COMPLETED,
    IMPORT_COMPLETED,
)
