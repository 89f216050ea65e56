"""JSON API of client records.

`definitions.py`: schemas and lists; `contacts.py`: contacts; `change_requests.py`: change
requests and history (on the contacts router); `legal_entities.py`: legal entities; `transfers.py`: export and import.
"""

from __future__ import annotations

from . import change_requests, contacts, definitions, legal_entities, transfers

ROUTERS = (
    definitions.schemas_router,
    definitions.lists_router,
    contacts.contacts_router,
    change_requests.statuses_router,
    legal_entities.router,
    transfers.router,
)
