"""What the client-records pages show alike: a stored value as text, a record's name, the
list items a schema's fields draw from, the members behind an id, and a change request's
rows as the contact page and the review queue list them."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from sqlalchemy import select

from ...actor import Actor
from ...auth.models import Member
from ...errors import N_
from ...http import SessionDep
from ...i18n import current_language, gettext
from ...web import Pages, get_pages
from ..fields import MISSING
from ..lists import ListItem
from ..models import RecordKind
from ..service import change_requests, writes
from ..service import lists as code_lists
from ..service.definitions import LoadedSchema

PagesDep = Annotated[Pages, Depends(get_pages)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]
PAGE_SIZE = 20
CONTACT = RecordKind.CONTACT
# A field's list items by list key, in the page's language.
Lists = dict[str, tuple[ListItem, ...]]


def as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def display_name(details: dict[str, Any]) -> str:
    return writes.display_name(details) or gettext(N_("(no name)"))


async def schema_lists(session: SessionDep, actor: Actor, schema: LoadedSchema) -> Lists:
    """The lists the schema's fields draw from that exist (a schema may name one not defined yet)."""
    wanted = {policy.list_key for policy in schema.fields.values() if policy.list_key}
    if not wanted:
        return {}
    found = await code_lists.items(session, actor, None, current_language.get())
    return {key: items for key, items in found.items() if key in wanted}


def shown(schema: LoadedSchema, pointer: str, value: Any, known_lists: Lists) -> str:
    """A stored value as a reader sees it: a list item's name (Schweiz, not CH), else the text."""
    text = as_text(value)
    policy = schema.fields.get(pointer)
    if text and policy is not None and policy.list_key in known_lists:
        return next((item.name for item in known_lists[policy.list_key or ""] if item.id == text), text)
    return text


def field_label(schema: LoadedSchema, pointer: str, language: str) -> str:
    policy = schema.fields.get(pointer)
    return policy.label(language) if policy else pointer


async def member_names(session: SessionDep, actor: Actor, ids: set[UUID | None]) -> dict[UUID, str]:
    wanted = [member_id for member_id in ids if member_id is not None]
    if not wanted:
        return {}
    rows = await session.execute(
        select(Member.id, Member.display_name).where(Member.tenant_id == actor.tenant_id, Member.id.in_(wanted))
    )
    return dict(rows.all())


def request_rows(schema: LoadedSchema, found: change_requests.RequestView, known_lists: Lists) -> dict[str, Any]:
    language = current_language.get()
    return {
        "id": found.request.id,
        "contact_id": found.record.id,
        "contact_name": display_name(found.record.details),
        "initiator_id": found.request.initiator_member_id,
        "comment": found.request.initiator_comment,
        "created_at": found.request.created_at,
        "items": [
            {
                "label": field_label(schema, item.path, language),
                "old": shown(schema, item.path, item.old_value, known_lists),
                "new": shown(schema, item.path, item.new_value, known_lists),
            }
            for item in found.items
        ],
    }
