"""The dossiers a member may see, with their state, owner, contact and dates (filtered by
state, in pages), and the form that creates a draft."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, Scope
from ...auth.deps import PortalActor
from ...auth.models import Member
from ...clients.models import ClientRecord
from ...clients.service.writes import display_name
from ...db import scoped
from ...errors import AppError
from ...http import SessionDep
from ...schemas import Paging, SortOrder
from ...web import language_query
from ..models import Dossier, DossierState
from ..schemas.common import DAY
from ..schemas.dossiers import DossierCreate
from ..service import dossiers
from .common import BASE, LOCALES, CsrfField, PagesDep, labels, problem_messages, require, validation_messages

router = APIRouter(prefix=BASE, include_in_schema=False)
PAGE_SIZE = 25
# Form field → the create body's field (days become the API's seconds).
CREATE_FIELDS = ("name", "method", "locale", "expires_in_days", "reminder_in_days")
POINTER_FIELDS = {
    "/name": "name",
    "/method": "method",
    "/locale": "locale",
    "/expiresIn": "expires_in_days",
    "/reminderIn": "reminder_in_days",
}


async def names_of(session: AsyncSession, actor: Actor, rows: list[Dossier]) -> dict[Any, str]:
    """Owners' and contacts' display names, in two queries."""
    owners = {row.owner_member_id for row in rows}
    contacts = {row.contact_id for row in rows if row.contact_id is not None}
    found: dict[Any, str] = {}
    if owners:
        for member_id, name in await session.execute(
            scoped(select(Member.id, Member.display_name), actor).where(Member.id.in_(owners))
        ):
            found[member_id] = name
    if contacts:
        for record in await session.scalars(scoped(select(ClientRecord), actor).where(ClientRecord.id.in_(contacts))):
            found[record.id] = display_name(record.details)
    return found


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    state: Annotated[DossierState | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    require(actor, Scope.SIGNING_READ)
    paging = Paging(page=page, page_size=PAGE_SIZE, sort_order=SortOrder.DESCENDING)
    found = await dossiers.list_dossiers(session, actor, paging, dossiers.DossierFilter(state=state))
    rows = [dossier for dossier, _invitees in found.items]
    return pages.render(
        request,
        "signing/list.html",
        rows=found.items,
        names=await names_of(session, actor, rows),
        state=state.value if state else "",
        states=[s.value for s in DossierState],
        page=found.page,
        page_count=found.page_count,
        can_write=actor.can(Scope.SIGNING_WRITE),
        labels=labels(),
    )


def _new_page(
    request: Request, pages: PagesDep, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return pages.render(
        request, "signing/new.html", status_code=status, values=values, errors=errors, locales=LOCALES, labels=labels()
    )


@router.get("/new", response_class=HTMLResponse)
async def new_page(request: Request, pages: PagesDep, actor: PortalActor) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    return _new_page(request, pages, {"method": "ses", "expires_in_days": "30"}, {})


def _days(value: str) -> int | str | None:
    """Days as the API's seconds; what is no whole number goes on to be refused as it is."""
    value = value.strip()
    if not value:
        return None
    return int(value) * DAY if value.isdigit() and len(value) < 6 else value


def create_body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": values["name"].strip(), "method": values["method"] or "ses"}
    if values["locale"]:
        body["locale"] = values["locale"]
    expires = _days(values["expires_in_days"])
    if expires is not None:
        body["expiresIn"] = expires
    reminder = _days(values["reminder_in_days"])
    if reminder is not None:
        body["reminderIn"] = reminder
    return body


@router.post("/new", response_class=HTMLResponse)
async def create(
    request: Request, session: SessionDep, pages: PagesDep, actor: PortalActor, csrf_token: CsrfField = None
) -> Response:
    require(actor, Scope.SIGNING_WRITE)
    pages.check_csrf(request, csrf_token)
    form = await request.form()
    values = {field: str(form.get(field, ""))[:200] for field in CREATE_FIELDS}
    try:
        dossier, _invitees = await dossiers.create(session, actor, DossierCreate.model_validate(create_body(values)))
    except ValidationError as exc:
        messages = validation_messages(exc)
    except AppError as error:
        messages = problem_messages(error)
    else:
        return RedirectResponse(f"{BASE}/{dossier.id}{language_query()}", status_code=303)
    errors = {POINTER_FIELDS.get(pointer, "name"): text for pointer, text in messages.items() if pointer}
    general = messages.get("")
    return _new_page(request, pages, values, {**errors, **({"": general} if general else {})}, status=400)
