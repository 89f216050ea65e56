"""JSON API of client records.

`definitions.py`: schemas and lists; `contacts.py`: contacts; `change_requests.py`: change
requests and history, `advisors.py`: advisor assignment (both on the contacts router);
`legal_entities.py`: legal entities; `transfers.py`: export and import.
"""

from __future__ import annotations

# `advisors` adds its routes to the contacts router when imported.
from . import advisors, change_requests, contacts, definitions, legal_entities, transfers  # noqa: F401

ROUTERS = (
    definitions.schemas_router,
    definitions.lists_router,
    contacts.contacts_router,
    change_requests.statuses_router,
    legal_entities.router,
    transfers.router,
)
