"""A contact's change history: who changed which fields when, newest first, with list
items by their names."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...auth.deps import PortalActor
from ...http import SessionDep
from ...i18n import current_language
from ...schemas import Paging, SortOrder
from ..service import definitions, history, records
from ..service.history import HistoryFilter
from .record_view import (
    CONTACT,
    PAGE_SIZE,
    PageNumber,
    PagesDep,
    display_name,
    field_label,
    member_names,
    schema_lists,
    shown,
)

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/contacts/{contact_id:uuid}/history", response_class=HTMLResponse)
async def contact_history(
    request: Request, contact_id: UUID, session: SessionDep, pages: PagesDep, actor: PortalActor, page: PageNumber = 1
) -> Response:
    view = await records.get(session, actor, CONTACT, contact_id)
    schema = await definitions.for_kind(session, actor, CONTACT)
    found = await history.search(
        session,
        actor,
        CONTACT,
        contact_id,
        HistoryFilter(),
        Paging(page=page, page_size=PAGE_SIZE, sort_order=SortOrder.DESCENDING),
    )
    language = current_language.get()
    known_lists = await schema_lists(session, actor, schema)
    names = await member_names(session, actor, {change_set.actor_id for change_set in found.items})
    change_sets = [
        {
            "at": change_set.executed_at,
            "who": names.get(change_set.actor_id, change_set.actor_kind)
            if change_set.actor_id
            else change_set.actor_kind,
            "comment": change_set.comment,
            "via_request": change_set.change_request_id is not None,
            "changes": [
                {
                    "label": field_label(schema, change.path, language),
                    "old": shown(schema, change.path, change.old_value, known_lists),
                    "new": shown(schema, change.path, change.new_value, known_lists),
                }
                for change in change_set.changes
            ],
        }
        for change_set in found.items
    ]
    return pages.render(
        request,
        "clients/history.html",
        contact=view.record,
        name=display_name(view.record.details),
        change_sets=change_sets,
        page=found.page,
        page_count=found.page_count,
    )
