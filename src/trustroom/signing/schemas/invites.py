"""API shapes of invites: how an invitee is asked to sign (email or a link you deliver)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from ...schemas import InputSchema, Schema
from ..models import Invite, InviteChannel, InviteState
from .common import MAX_INVITEES, ExpiresIn


class InviteCreate(InputSchema):
    invitee_id: UUID = Field(description="The invitee of this dossier to invite.")
    channel: InviteChannel = Field(
        InviteChannel.EMAIL,
        description="`email`: Trustroom sends the invite and its reminders; `link`: the answer carries "
        "`inviteUri` and you deliver it (and its reminders, on `dossier.reminder.sent`) yourself.",
    )
    expires_in: ExpiresIn | None = Field(
        None,
        description="Seconds the invitee has from delivery (never beyond the dossier's expiry); none: until the "
        "dossier expires.",
    )


MAX_INVITES_PER_REQUEST = MAX_INVITEES
InviteBatch = Annotated[list[InviteCreate], Field(min_length=1, max_length=MAX_INVITES_PER_REQUEST)]


class InviteRead(Schema):
    id: UUID
    invitee_id: UUID
    invite_uri: str | None = Field(
        description="The invitee's personal link, for the link channel while the invite is open; null otherwise."
    )
    channel: InviteChannel
    state: InviteState = Field(
        description="scheduled (waiting for the invitee's group), sent, expired, or revoked (replaced by a newer one)."
    )
    state_changed: datetime
    reminder: bool = Field(description="Whether a reminder was sent.")
    reminders_sent: int
    last_reminder_at: datetime | None
    sent_at: datetime | None = Field(description="When the invite was delivered (or handed to you, for link).")
    email_sent_at: datetime | None = Field(description="When the mail server last accepted an email of this invite.")
    email_bounced_at: datetime | None = Field(description="When the mail server refused the address for good.")
    expires_in: int
    expires_at: datetime | None = Field(description="Set on delivery: then plus expiresIn, at most the dossier's.")
    created_at: datetime


def invite_read(invite: Invite, invite_uri: str | None) -> InviteRead:
    return InviteRead(
        id=invite.id,
        invitee_id=invite.invitee_id,
        invite_uri=invite_uri,
        channel=invite.channel,
        state=invite.state,
        state_changed=invite.state_changed_at,
        reminder=invite.reminders_sent > 0,
        reminders_sent=invite.reminders_sent,
        last_reminder_at=invite.last_reminder_at,
        sent_at=invite.sent_at,
        email_sent_at=invite.email_sent_at,
        email_bounced_at=invite.email_bounced_at,
        expires_in=invite.expires_in,
        expires_at=invite.expires_at,
        created_at=invite.created_at,
    )
