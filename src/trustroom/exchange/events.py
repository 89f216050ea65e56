"""Events of secure exchange: ids and what identifies a document (name, size, SHA-256),
never its content."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..errors import N_
from ..jobs.catalogue import EventType
from ..schemas import Schema


class ExchangeChanged(Schema):
    exchange_id: UUID
    external_exchange_id: str
    contact_id: UUID | None = None
    owner_member_id: UUID | None = Field(None, description="The member responsible for the exchange.")
    by: str = Field(description="Who: `member:<id>`, `app:<api key id>` or `client:<account id>`.")


class DocumentChanged(Schema):
    exchange_id: UUID
    external_exchange_id: str
    folder_id: UUID
    document_id: UUID
    version: int = Field(description="The version concerned (the latest, for shared and deleted).")
    name: str
    side: str = Field(description="advisor or client: whose document it is.")
    byte_size: int
    sha256: str
    shared: bool
    by: str = Field(description="Who: `member:<id>`, `app:<api key id>` or `client:<account id>`.")


class DocumentQuarantined(DocumentChanged):
    status: str = Field(description="infected, or scanFailed (over the scanner's limits, or it failed).")
    finding: str = Field(description="What the virus scanner reported.")


EXCHANGE_CREATED = EventType(
    "exchange.created", ExchangeChanged, N_("An exchange and its client account were created.")
)
EXCHANGE_UPDATED = EventType(
    "exchange.updated", ExchangeChanged, N_("An exchange's name, language or advisor changed.")
)
EXCHANGE_DELETED = EventType(
    "exchange.deleted", ExchangeChanged, N_("An exchange was deleted and its content made unreadable.")
)
DOCUMENT_UPLOADED = EventType(
    "exchange.document.uploaded", DocumentChanged, N_("A document (or a new version of one) can be downloaded.")
)
DOCUMENT_SHARED = EventType(
    "exchange.document.shared", DocumentChanged, N_("A document was shared with the other side of its exchange.")
)
DOCUMENT_DELETED = EventType("exchange.document.deleted", DocumentChanged, N_("A document was deleted."))
DOCUMENT_QUARANTINED = EventType(
    "exchange.document.quarantined",
    DocumentQuarantined,
    N_("An upload was not found clean by the virus scanner; it is kept, but never served."),
)

TYPES = (
    EXCHANGE_CREATED,
    EXCHANGE_UPDATED,
    EXCHANGE_DELETED,
    DOCUMENT_UPLOADED,
    DOCUMENT_SHARED,
    DOCUMENT_DELETED,
    DOCUMENT_QUARANTINED,
)
