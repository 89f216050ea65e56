"""Events of e-signature dossiers (CM.com's granularity): ids and states, never a name,
an address or a document's content."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema
from .models import DossierState, InviteChannel, InviteeState, InviteState


class DossierChanged(Schema):
    dossier_id: UUID
    state: DossierState
    owner_member_id: UUID = Field(description="The member responsible for the dossier.")
    contact_id: UUID | None = None
    exchange_id: UUID | None = None
    by: str = Field(description="Who: `member:<id>`, `app:<api key id>` or `system:…`.")


class DossierStateUpdated(Schema):
    dossier_id: UUID
    state: DossierState = Field(description="The state now.")
    previous_state: DossierState
    by: str = Field(description="Who: `member:<id>`, `app:<api key id>` or `system:…`.")


DOSSIER_CREATED = EventType("dossier.created", DossierChanged, N_("A dossier was created (as a draft)."))
DOSSIER_STATE_UPDATED = EventType(
    "dossier.state.updated",
    DossierStateUpdated,
    N_("A dossier was sent (pending), completed, declined, cancelled or expired."),
)
DOSSIER_DELETED = EventType("dossier.deleted", DossierChanged, N_("A draft dossier was deleted."))


class InviteChanged(Schema):
    dossier_id: UUID
    invite_id: UUID
    invitee_id: UUID
    channel: InviteChannel
    state: InviteState = Field(description="The invite's state now.")


class InviteeStateUpdated(Schema):
    dossier_id: UUID
    invitee_id: UUID
    state: InviteeState = Field(description="The state now.")
    previous_state: InviteeState
    by: str = Field(description="Who: `member:<id>`, `app:<api key id>`, `contact:<invitee id>` or `system:…`.")


class ReminderSent(Schema):
    dossier_id: UUID
    invite_id: UUID
    invitee_id: UUID
    channel: InviteChannel = Field(
        description="`email`: Trustroom sent it; `link`: deliver the reminder yourself, with the invite's inviteUri."
    )
    reminder: int = Field(description="Which reminder this is, from 1 to 5.")


INVITE_CREATED = EventType(
    "dossier.invite.created",
    InviteChanged,
    N_("An invite was created: sent at once (state sent) or when its invitee's group's turn comes (scheduled)."),
)
INVITE_VIEWED = EventType("dossier.invite.viewed", InviteChanged, N_("An invitee opened their invite and went on."))
INVITE_EXPIRED = EventType(
    "dossier.invite.expired", InviteChanged, N_("An invite expired, on its own or with its dossier.")
)
INVITE_UNDELIVERED = EventType(
    "dossier.invite.undelivered",
    InviteChanged,
    N_("An invite or reminder could not be delivered (the mail server refused the address)."),
)
INVITEE_STATE_UPDATED = EventType(
    "dossier.invitee.state.updated",
    InviteeStateUpdated,
    N_("An invitee was invited, viewed the dossier, signed, approved or declined."),
)
REMINDER_SENT = EventType(
    "dossier.reminder.sent", ReminderSent, N_("A reminder went to an invitee who has not finished.")
)

TYPES: tuple[EventType, ...] = (
    DOSSIER_CREATED,
    DOSSIER_STATE_UPDATED,
    DOSSIER_DELETED,
    INVITE_CREATED,
    INVITE_VIEWED,
    INVITE_EXPIRED,
    INVITE_UNDELIVERED,
    INVITEE_STATE_UPDATED,
    REMINDER_SENT,
)


# --- the signing workflow (ADR 0018) ----------------------------------------------------------


class DossierPrepared(Schema):
    dossier_id: UUID
    documents: int = Field(description="How many documents were prepared: fields placed, certified by the seal.")


class StepFailed(Schema):
    dossier_id: UUID
    invitee_id: UUID
    attempt: int = Field(description="Which attempt failed; the step is retried until it succeeds or gives up.")
    error: str = Field(description="Why, as a problem's subCode (TimestampUnavailable, …).")


class DossierCompleted(Schema):
    dossier_id: UUID
    documents: int
    exchange_id: UUID | None = Field(None, description="The exchange the signed documents were placed in, if any.")


DOSSIER_PREPARED = EventType(
    "dossier.prepared",
    DossierPrepared,
    N_("A dossier's documents got their fields and the provider's certification as it was sent."),
)
DOSSIER_STEP_FAILED = EventType(
    "dossier.step.failed",
    StepFailed,
    N_("A signing step could not be applied (no timestamp, say); it is retried."),
)
DOSSIER_COMPLETED = EventType(
    "dossier.completed",
    DossierCompleted,
    N_("Everyone signed or approved: the documents are final (PAdES B-LTA)."),
)
TYPES = (*TYPES, DOSSIER_PREPARED, DOSSIER_STEP_FAILED, DOSSIER_COMPLETED)
