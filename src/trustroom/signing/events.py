"""Events of e-signature dossiers (CM.com's granularity): ids and states, never a name,
an address or a document's content."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema
from .models import DossierState


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

TYPES = (DOSSIER_CREATED, DOSSIER_STATE_UPDATED, DOSSIER_DELETED)
