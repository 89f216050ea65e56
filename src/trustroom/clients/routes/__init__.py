"""JSON API of client records: schemas, lists and contacts (`contacts.py`), legal entities."""

from __future__ import annotations

from . import contacts, legal_entities

ROUTERS = (*contacts.ROUTERS, legal_entities.router)
