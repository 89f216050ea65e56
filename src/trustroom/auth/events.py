"""Events of the auth domain: thin payloads, ids and what changed."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema


class ApiKeyChanged(Schema):
    api_key_id: UUID
    name: str | None = Field(None, description="Set on creation.")
    scopes: list[str] | None = Field(None, description="Set on creation.")


class MemberChanged(Schema):
    member_id: UUID
    role: str | None = Field(None, description="The role, when it was set or changed.")
    changed: list[str] = Field(default_factory=list, description="Fields that changed (on update).")


class InvitationChanged(Schema):
    invitation_id: UUID
    role: str
    member_id: UUID | None = Field(None, description="The new member (on acceptance).")
    replaces: list[UUID] = Field(
        default_factory=list, description="Pending invitations to the same address this one replaced (on creation)."
    )


API_KEY_CREATED = EventType("apiKey.created", ApiKeyChanged, N_("An API key was created."), formerly="api_key.created")
API_KEY_REVOKED = EventType("apiKey.revoked", ApiKeyChanged, N_("An API key was revoked."), formerly="api_key.revoked")
MEMBER_CREATED = EventType("member.created", MemberChanged, N_("A member was added."))
MEMBER_UPDATED = EventType("member.updated", MemberChanged, N_("A member's name, role or status changed."))

INVITATION_CREATED = EventType(
    "member.invitation.created", InvitationChanged, N_("Someone was invited to become a member.")
)
INVITATION_REVOKED = EventType("member.invitation.revoked", InvitationChanged, N_("A member invitation was revoked."))
INVITATION_ACCEPTED = EventType(
    "member.invitation.accepted", InvitationChanged, N_("A member invitation was accepted; the member exists.")
)

TYPES = (
    API_KEY_CREATED,
    API_KEY_REVOKED,
    MEMBER_CREATED,
    MEMBER_UPDATED,
    INVITATION_CREATED,
    INVITATION_REVOKED,
    INVITATION_ACCEPTED,
)
