"""The contact list with name search and the contact page: a form drawn from the schema's
layout, saved through the same change rules as the API (four-eyes where a field needs it),
and the contact's advisors."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...actor import Actor, Scope
from ...auth.deps import PortalActor
from ...errors import N_, AppError, ConcurrencyTokenMismatch, MissingScope
from ...http import SessionDep
from ...i18n import gettext
from ...schemas import Paging, SortOrder
from ...web import CSRF_FIELD, Pages, language_query
from .. import errors, fields
from ..deps import VerifierDep
from ..fields import MISSING
from ..service import advisors, change_requests, definitions, records, search, writes
from .contact_form import form_sections, parsed_value
from .record_view import (
    CONTACT,
    PAGE_SIZE,
    PageNumber,
    PagesDep,
    as_text,
    display_name,
    request_rows,
    schema_lists,
)

router = APIRouter(prefix="/portal", include_in_schema=False)
SAVED_MESSAGES = {
    "applied": N_("Your changes were saved."),
    "review": N_("Your changes wait for a reviewer's approval."),
    "verify": N_("The new email address or mobile number waits for the contact to confirm it with a key."),
    "unchanged": N_("Nothing changed."),
    "advisors": N_("The advisors were saved."),
}


@router.get("/contacts", response_class=HTMLResponse)
async def contact_list(
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    q: Annotated[str, Query(max_length=200)] = "",
    page: PageNumber = 1,
) -> Response:
    query = search.RecordQuery(CONTACT, text=q)
    found = await search.search(
        session, actor, query, Paging(page=page, page_size=PAGE_SIZE, sort_order=SortOrder.ASCENDING)
    )
    views = await records.views(session, actor, found.items)
    rows = [
        {
            "id": view.record.id,
            "name": display_name(view.record.details),
            "email": as_text(fields.get(view.record.details, "/communication/email")),
            "city": as_text(fields.get(view.record.details, "/address/city")),
            "pending": view.has_pending_change_request,
        }
        for view in views
    ]
    return pages.render(
        request,
        "clients/contacts.html",
        rows=rows,
        q=q,
        page=found.page,
        page_count=found.page_count,
        total=found.total_count,
        total_is_exact=found.is_total_count_exact,
        can_review=actor.can(Scope.CHANGE_REQUESTS_REVIEW),
    )


async def _contact_page(
    request: Request,
    session: SessionDep,
    pages: Pages,
    actor: Actor,
    contact_id: UUID,
    *,
    problems: dict[str, str] | None = None,
    posted: dict[str, str] | None = None,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    view = await records.get(session, actor, CONTACT, contact_id)
    schema = await definitions.for_kind(session, actor, CONTACT)
    pending = await change_requests.pending(session, actor, CONTACT, contact_id)
    known_lists = await schema_lists(session, actor, schema)
    sections = form_sections(actor, schema, view.record.details, problems or {}, posted or {}, known_lists)
    assignment = await advisors.get(session, actor, contact_id)
    can_assign = actor.can(Scope.CONTACTS_ASSIGN)
    return pages.render(
        request,
        "clients/contact.html",
        status_code=status_code,
        contact=view.record,
        name=display_name(view.record.details),
        view=view,
        sections=sections,
        # A reader who may change nothing gets no Save button that could only answer "nothing changed".
        can_edit=any(f.editable for section in sections for f in section.fields),
        pending=request_rows(schema, pending, known_lists) if pending else None,
        assignment=assignment,
        assigned_ids={advisor.member.id for advisor in assignment.advisors},
        candidates=await advisors.candidates(session, actor) if can_assign else [],
        message=message,
        error=error,
    )


@router.get("/contacts/{contact_id:uuid}", response_class=HTMLResponse)
async def contact_page(
    request: Request,
    contact_id: UUID,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    message = gettext(SAVED_MESSAGES[saved]) if saved in SAVED_MESSAGES else None
    return await _contact_page(request, session, pages, actor, contact_id, message=message)


@router.post("/contacts/{contact_id:uuid}", response_class=HTMLResponse)
async def save_contact(
    request: Request, contact_id: UUID, session: SessionDep, pages: PagesDep, actor: PortalActor, verifier: VerifierDep
) -> Response:
    form = await request.form()
    posted = {key: value for key, value in form.items() if isinstance(value, str)}
    pages.check_csrf(request, posted.get(CSRF_FIELD))
    if not actor.can(Scope.CONTACTS_WRITE):  # as the API's PUT/PATCH: reading is not changing
        raise MissingScope(permission=Scope.CONTACTS_WRITE)
    schema = await definitions.for_kind(session, actor, CONTACT)
    view = await records.get(session, actor, CONTACT, contact_id)
    patch: dict[str, Any] = {}
    for pointer, raw in posted.items():
        policy = schema.fields.get(pointer)
        if policy is None or writes.refusal(actor, policy) is not None:
            continue
        value = parsed_value(policy, raw)
        if fields.same(value, fields.get(view.record.details, pointer)) or (
            value is None and fields.get(view.record.details, pointer) is MISSING
        ):
            continue
        fields.put(patch, pointer, value)
    if not patch:
        return RedirectResponse(_contact_url(contact_id, "unchanged"), status_code=303)
    try:
        outcome = await records.update_details(
            session,
            actor,
            verifier,
            CONTACT,
            contact_id,
            patch,
            partial=True,
            comment=(posted.get("comment") or "").strip()[:2000] or None,
            concurrency_token=posted.get("concurrencyToken"),
        )
    except (errors.DetailsInvalid, errors.FieldNotUpdatable) as refused:
        return await _refused(request, session, pages, actor, contact_id, refused, posted)
    except (ConcurrencyTokenMismatch, errors.PendingChangeRequestExists, errors.RecordAnonymized) as refused:
        text = gettext(refused.text, **refused.params)
        return await _contact_page(
            request, session, pages, actor, contact_id, posted=posted, error=text, status_code=refused.status
        )
    saved = "review" if outcome.change_request else "verify" if outcome.awaiting_verification else "applied"
    return RedirectResponse(_contact_url(contact_id, saved), status_code=303)


async def _refused(
    request: Request,
    session: SessionDep,
    pages: Pages,
    actor: Actor,
    contact_id: UUID,
    refused: AppError,
    posted: dict[str, str],
) -> Response:
    problems = {problem.pointer: problem.message for problem in refused.problems if problem.pointer is not None}
    return await _contact_page(
        request,
        session,
        pages,
        actor,
        contact_id,
        problems=problems,
        posted=posted,
        error=gettext(refused.text, **refused.params),
        status_code=refused.status,
    )


def _contact_url(contact_id: UUID, saved: str) -> str:
    query = language_query()
    return f"/portal/contacts/{contact_id}{query}{'&' if query else '?'}saved={saved}"


def _member_ids(values: list[Any]) -> list[UUID]:
    found = []
    for value in values:
        try:
            found.append(UUID(str(value)))
        except ValueError:
            raise errors.AdvisorNotFound(member_id=str(value)[:40]) from None
    return found


@router.post("/contacts/{contact_id:uuid}/advisors", response_class=HTMLResponse)
async def save_advisors(
    request: Request, contact_id: UUID, session: SessionDep, pages: PagesDep, actor: PortalActor
) -> Response:
    """Replace the contact's advisors with the members ticked (needs contacts:assign)."""
    form = await request.form()
    pages.check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    if not actor.can(Scope.CONTACTS_ASSIGN):
        raise MissingScope(permission=Scope.CONTACTS_ASSIGN)
    try:
        member_ids = _member_ids(form.getlist("advisorIds")[: advisors.CANDIDATE_LIMIT])
        token = str(form.get("advisorsToken") or "") or None
        await advisors.replace(session, actor, contact_id, member_ids, concurrency_token=token)
    except (errors.AdvisorNotFound, errors.AdvisorDisabled, ConcurrencyTokenMismatch) as refused:
        text = gettext(refused.text, **refused.params)
        return await _contact_page(request, session, pages, actor, contact_id, error=text, status_code=refused.status)
    return RedirectResponse(_contact_url(contact_id, "advisors"), status_code=303)
