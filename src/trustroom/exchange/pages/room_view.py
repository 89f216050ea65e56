"""What a room page shows, for the client's and the advisor's pages alike: the folder tree
with depths, the folder in view and the documents of it this side sees."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...schemas import MAX_PAGE_SIZE, Paging, SortOrder
from ...web import language_query
from ..models import Exchange, Side
from ..schemas import document_read
from ..service import access, documents, folders

# A folder's page shows up to the most a list may hold; more would want paging here too.
ALL_DOCUMENTS = Paging(page=1, page_size=MAX_PAGE_SIZE, sort_order=SortOrder.ASCENDING)


async def room_context(
    session: AsyncSession, actor: Actor, exchange: Exchange, folder_id: UUID | None
) -> dict[str, Any]:
    tree = await folders.list_folders(session, actor, exchange.id)
    depth: dict[UUID | None, int] = {None: -1}
    for item in tree:
        depth[item.id] = depth[item.parent_id] + 1
    current = next((f for f in tree if f.id == folder_id), tree[0] if tree else None)
    listed = []
    if current is not None:
        found = await documents.list_documents(session, actor, exchange.id, current.id, ALL_DOCUMENTS)
        listed = [document_read(d, v) for d, v in found.items]
    return {
        "exchange": exchange,
        "tree": [(f, depth[f.id]) for f in tree],
        "current": current,
        "documents": listed,
        "client_side": Side.CLIENT,
        "my_side": access.side_of(actor),
    }


def back_to(page_url: str, folder_id: UUID) -> RedirectResponse:
    """Back to the room page, showing the folder an action was about."""
    query = language_query()
    separator = "&" if query else "?"
    return RedirectResponse(f"{page_url}{query}{separator}folder={folder_id}", status_code=303)
