"""Everything the dossier page shows: the dossier, each invitee's progress (with their
colour), the documents with their pages and fields (what the field editor starts from),
the invites with their reminders and, for a draft, contacts found to add as invitees."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, Scope
from ...clients import fields as record_fields
from ...clients.models import RecordKind
from ...clients.service import search
from ...clients.service.writes import display_name
from ...keys import ServerKeys
from ...schemas import Paging, SortOrder
from ...settings import Settings
from ...web import Pages
from ..models import Dossier, DossierState, Invitee, InviteeRole
from ..schemas.documents import document_read
from ..service import documents as document_service
from ..service import dossiers, invites
from .common import BASE, COLOURS, labels
from .dossier_list import names_of

CONTACTS_SHOWN = 10
ALL_INVITES = 200  # a page's most; a dossier has at most 50 invitees


def colours(people: list[Invitee]) -> dict[UUID, int]:
    return {person.id: index % COLOURS for index, person in enumerate(people)}


async def editor_data(
    session: AsyncSession, actor: Actor, dossier: Dossier, people: list[Invitee]
) -> tuple[list[Any], dict[str, Any]]:
    """The documents, and what the field editor's script starts from (read as JSON)."""
    pairs = await document_service.documents_with_fields(session, actor, dossier)
    colour = colours(people)
    data = {
        "base": f"{BASE}/{dossier.id}",
        "invitees": [
            {"id": str(p.id), "name": p.name, "role": str(p.role), "colour": colour[p.id]}
            for p in people
            if p.role != InviteeRole.VIEWER
        ],
        "documents": [
            {
                "id": str(document.id),
                "name": document.file_name,
                "pages": document.pages,
                "fields": [f.model_dump(mode="json", by_alias=True) for f in document_read(document, rows).fields],
            }
            for document, rows in pairs
        ],
    }
    return pairs, data


async def found_contacts(session: AsyncSession, actor: Actor, text: str) -> list[dict[str, str]]:
    """The member's visible contacts whose name, email or city holds `text`."""
    if not text.strip() or not actor.can(Scope.CONTACTS_READ):
        return []
    query = search.RecordQuery(RecordKind.CONTACT, text=text.strip())
    paging = Paging(page=1, page_size=CONTACTS_SHOWN, sort_order=SortOrder.ASCENDING)
    found = await search.search(session, actor, query, paging)
    return [
        {
            "id": str(record.id),
            "name": display_name(record.details),
            "email": _text(record_fields.get(record.details, "/communication/email")),
        }
        for record in found.items
    ]


async def render_dossier(
    request: Request,
    session: AsyncSession,
    pages: Pages,
    actor: Actor,
    keys: ServerKeys,
    settings: Settings,
    dossier_id: UUID,
    *,
    status: int = 200,
    q: str = "",
    **extra: Any,
) -> Response:
    dossier, people = await dossiers.get(session, actor, dossier_id)
    pairs, data = await editor_data(session, actor, dossier, people)
    draft = dossier.state == DossierState.DRAFT
    outbound = invites.Outbound(keys, settings.public_url)
    sent = [] if draft else (await invites.list_invites(session, actor, dossier.id, _all_invites())).items
    context: dict[str, Any] = {
        "dossier": dossier,
        "people": people,
        "by_id": {person.id: person for person in people},
        "colour": colours(people),
        "documents": pairs,
        "editor": data,
        "invites": [(invite, outbound.invite_uri(invite)) for invite in sent],
        "names": await names_of(session, actor, [dossier]),
        "draft": draft,
        "can_write": actor.can(Scope.SIGNING_WRITE),
        "can_search": actor.can(Scope.CONTACTS_READ),
        "q": q,
        "contacts": await found_contacts(session, actor, q) if draft else [],
        "invitee_values": {"role": "signer", "position": "1", "authentication": ["otp_email"]},
        "invitee_errors": {},
        "labels": labels(),
        "base": f"{BASE}/{dossier.id}",
        **extra,
    }
    return pages.render(request, "signing/dossier.html", status_code=status, **context)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _all_invites() -> Paging:
    return Paging(page=1, page_size=ALL_INVITES, sort_order=SortOrder.ASCENDING)
