"""Advisor-portal pages of client records: the contact list with name search, the
contact page (a form drawn from the schema's layout), its history, and the review queue
where a second member approves or rejects change requests.

Every page acts as the signed-in member through the same services as the API, so the
same visibility, change rules and four-eyes checks apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from ..actor import Actor, Scope
from ..auth.deps import PortalActor
from ..auth.models import Member
from ..errors import N_, AppError, ConcurrencyTokenMismatch, MissingScope
from ..http import SessionDep
from ..i18n import current_language, gettext
from ..schemas import Paging, SortOrder
from ..web import CSRF_FIELD, Pages, get_pages, language_query
from . import errors, fields, validation
from .deps import VerifierDep
from .fields import MISSING, FieldPolicy, Section
from .lists import ListItem
from .models import STATUS_IDS, ChangeRequestStatus, RecordKind
from .service import advisors, change_requests, definitions, history, records, search, writes
from .service import lists as code_lists
from .service.change_requests import RequestFilter
from .service.definitions import LoadedSchema
from .service.history import HistoryFilter

router = APIRouter(prefix="/portal", include_in_schema=False)
PagesDep = Annotated[Pages, Depends(get_pages)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]
PAGE_SIZE = 20
CONTACT = RecordKind.CONTACT
SAVED_MESSAGES = {
    "applied": N_("Your changes were saved."),
    "review": N_("Your changes wait for a reviewer's approval."),
    "verify": N_("The new email address or mobile number waits for the contact to confirm it with a key."),
    "unchanged": N_("Nothing changed."),
    "advisors": N_("The advisors were saved."),
}
REVIEW_MESSAGES = {
    "approved": N_("The change was approved and applied."),
    "rejected": N_("The change was rejected."),
    "stale": N_("A value this change replaces moved meanwhile: the request is stale and must be made again."),
}
REVIEW_OUTCOMES = {
    ChangeRequestStatus.APPROVED: "approved",
    ChangeRequestStatus.REJECTED: "rejected",
    ChangeRequestStatus.STALE: "stale",
}
INPUT_TYPES = {"email": "email", "date": "date", "phone": "tel", "date-time": "datetime-local"}
CHOOSE_PARENT_FIRST = N_("Choose the country first, save, then pick from its list.")
# A field's list items by list key, in the page's language.
Lists = dict[str, tuple[ListItem, ...]]


# --- the form ------------------------------------------------------------------------------


@dataclass
class FormField:
    name: str  # the JSON Pointer, also the form field's name
    label: str
    value: str
    input_type: str
    editable: bool
    options: list[tuple[str, str]] | None  # (value, what the reader sees)
    required: bool
    needs_approval: bool
    problem: str | None = None
    hint: str | None = None


@dataclass
class FormSection:
    label: str
    depth: int
    fields: list[FormField] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _form(
    actor: Actor,
    schema: LoadedSchema,
    details: dict[str, Any],
    problems: dict[str, str],
    posted: dict[str, str],
    known_lists: Lists,
) -> list[FormSection]:
    """The schema's layout as sections of inputs, holding the posted values after a refusal."""
    language = current_language.get()
    sections: list[FormSection] = []

    def visit(section: Section, depth: int) -> None:
        current = FormSection(section.label(language) if depth else "", depth)
        sections.append(current)
        for child in section.children:
            if isinstance(child, Section):
                visit(child, depth + 1)
                continue
            if child.is_disabled:
                continue
            value = _value(child, details, posted)
            options, hint = _options(schema, child, value, details, posted, known_lists)
            current.fields.append(_input(actor, child, value, options, hint, problems, language))

    visit(schema.map.root, 0)
    return [section for section in sections if section.fields]


def _value(policy: FieldPolicy, details: dict[str, Any], posted: dict[str, str]) -> str:
    return posted[policy.pointer] if policy.pointer in posted else _text(fields.get(details, policy.pointer))


def _options(
    schema: LoadedSchema,
    policy: FieldPolicy,
    value: str,
    details: dict[str, Any],
    posted: dict[str, str],
    known_lists: Lists,
) -> tuple[list[tuple[str, str]] | None, str | None]:
    """What a select offers, with the names of list items (countries, languages …) in the
    page's language; None for a free input. Items under a parent (a country's subdivisions)
    are those of the parent chosen in the same section."""
    hint = None
    if policy.json_type == "boolean":
        options = [("true", "true"), ("false", "false")]
    elif policy.list_key in known_lists:
        items = known_lists[policy.list_key]
        if any(item.parent_id is not None for item in items):
            parent = _parent_value(schema, policy, details, posted, known_lists)
            items = tuple(item for item in items if item.parent_id == parent) if parent else ()
            hint = None if parent else gettext(CHOOSE_PARENT_FIRST)
        names = {item.id: item.name for item in items}
        if policy.enum:
            options = [(_text(option), names.get(_text(option), _text(option))) for option in policy.enum]
        else:
            options = list(names.items())
    elif policy.enum:
        options = [(_text(option), _text(option)) for option in policy.enum]
    else:
        return None, None
    if value and all(option != value for option, _ in options):
        options.insert(0, (value, value))  # a stored value the list no longer holds stays visible
    return options, hint


def _parent_value(
    schema: LoadedSchema, policy: FieldPolicy, details: dict[str, Any], posted: dict[str, str], known_lists: Lists
) -> str:
    """The value of the sibling field whose list holds this list's parents (the country)."""
    parents = {item.parent_id for item in known_lists[policy.list_key or ""]}
    for sibling in schema.map.list_fields_by_section.get(policy.section, []):
        if sibling.list_key == policy.list_key or sibling.list_key not in known_lists:
            continue
        if any(item.id in parents for item in known_lists[sibling.list_key]):
            return _value(sibling, details, posted)
    return ""


def _input(
    actor: Actor,
    policy: FieldPolicy,
    value: str,
    options: list[tuple[str, str]] | None,
    hint: str | None,
    problems: dict[str, str],
    language: str,
) -> FormField:
    kind = "number" if policy.json_type in ("number", "integer") else INPUT_TYPES.get(policy.format or "", "text")
    return FormField(
        name=policy.pointer,
        label=policy.label(language),
        value=value,
        input_type=kind,
        editable=actor.can(Scope.CONTACTS_WRITE) and writes.refusal(actor, policy) is None,
        options=options,
        required=policy.is_mandatory,
        needs_approval=writes.needs_approval(actor, policy),
        problem=problems.get(f"{validation.DETAILS}{policy.pointer}"),
        hint=hint,
    )


async def _lists(session: SessionDep, actor: Actor, schema: LoadedSchema) -> Lists:
    """The lists the schema's fields draw from that exist (a schema may name one not defined yet)."""
    wanted = {policy.list_key for policy in schema.fields.values() if policy.list_key}
    if not wanted:
        return {}
    found = await code_lists.items(session, actor, None, current_language.get())
    return {key: items for key, items in found.items() if key in wanted}


def _shown(schema: LoadedSchema, pointer: str, value: Any, known_lists: Lists) -> str:
    """A stored value as a reader sees it: a list item's name (Schweiz, not CH), else the text."""
    text = _text(value)
    policy = schema.fields.get(pointer)
    if text and policy is not None and policy.list_key in known_lists:
        return next((item.name for item in known_lists[policy.list_key or ""] if item.id == text), text)
    return text


def _parsed(policy: FieldPolicy, raw: str) -> Any:
    """A posted text as the field's JSON type; None (remove) for an empty one."""
    text = raw.strip()
    if not text:
        return None
    if policy.json_type == "boolean":
        return text == "true"
    if policy.json_type in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            return text  # the validator names the field
        return int(number) if policy.json_type == "integer" and number.is_integer() else number
    return text


def _display_name(details: dict[str, Any]) -> str:
    return writes.display_name(details) or gettext(N_("(no name)"))


# --- pages ---------------------------------------------------------------------------------


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
            "name": _display_name(view.record.details),
            "email": _text(fields.get(view.record.details, "/communication/email")),
            "city": _text(fields.get(view.record.details, "/address/city")),
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
    known_lists = await _lists(session, actor, schema)
    sections = _form(actor, schema, view.record.details, problems or {}, posted or {}, known_lists)
    assignment = await advisors.get(session, actor, contact_id)
    can_assign = actor.can(Scope.CONTACTS_ASSIGN)
    return pages.render(
        request,
        "clients/contact.html",
        status_code=status_code,
        contact=view.record,
        name=_display_name(view.record.details),
        view=view,
        sections=sections,
        # A reader who may change nothing gets no Save button that could only answer "nothing changed".
        can_edit=any(f.editable for section in sections for f in section.fields),
        pending=_request_rows(schema, pending, known_lists) if pending else None,
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
        value = _parsed(policy, raw)
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
    known_lists = await _lists(session, actor, schema)
    names = await _member_names(session, actor, {change_set.actor_id for change_set in found.items})
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
                    "label": _label(schema, change.path, language),
                    "old": _shown(schema, change.path, change.old_value, known_lists),
                    "new": _shown(schema, change.path, change.new_value, known_lists),
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
        name=_display_name(view.record.details),
        change_sets=change_sets,
        page=found.page,
        page_count=found.page_count,
    )


async def _member_names(session: SessionDep, actor: Actor, ids: set[UUID | None]) -> dict[UUID, str]:
    wanted = [member_id for member_id in ids if member_id is not None]
    if not wanted:
        return {}
    rows = await session.execute(
        select(Member.id, Member.display_name).where(Member.tenant_id == actor.tenant_id, Member.id.in_(wanted))
    )
    return dict(rows.all())


def _label(schema: LoadedSchema, pointer: str, language: str) -> str:
    policy = schema.fields.get(pointer)
    return policy.label(language) if policy else pointer


def _request_rows(schema: LoadedSchema, found: change_requests.RequestView, known_lists: Lists) -> dict[str, Any]:
    language = current_language.get()
    return {
        "id": found.request.id,
        "contact_id": found.record.id,
        "contact_name": _display_name(found.record.details),
        "initiator_id": found.request.initiator_member_id,
        "comment": found.request.initiator_comment,
        "created_at": found.request.created_at,
        "items": [
            {
                "label": _label(schema, item.path, language),
                "old": _shown(schema, item.path, item.old_value, known_lists),
                "new": _shown(schema, item.path, item.new_value, known_lists),
            }
            for item in found.items
        ],
    }


# --- review queue --------------------------------------------------------------------------


def _reviewer(actor: Actor) -> Actor:
    if not actor.can(Scope.CHANGE_REQUESTS_REVIEW):
        raise MissingScope(permission=Scope.CHANGE_REQUESTS_REVIEW)
    return actor


async def _queue(
    request: Request,
    session: SessionDep,
    pages: Pages,
    actor: Actor,
    *,
    page: int = 1,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    schema = await definitions.for_kind(session, actor, CONTACT)
    pending = RequestFilter(status_id=STATUS_IDS[ChangeRequestStatus.PENDING], sort_by="CreateDate")
    found = await change_requests.search(
        session, actor, pending, Paging(page=page, page_size=PAGE_SIZE, sort_order=SortOrder.ASCENDING)
    )
    names = await _member_names(session, actor, {view.request.initiator_member_id for view in found.items})
    known_lists = await _lists(session, actor, schema)
    rows = [
        {
            **_request_rows(schema, view, known_lists),
            "own": view.request.initiator_member_id == actor.id,
            "initiator": names.get(view.request.initiator_member_id, ""),
        }
        for view in found.items
    ]
    return pages.render(
        request,
        "clients/reviews.html",
        status_code=status_code,
        requests=rows,
        page=found.page,
        page_count=found.page_count,
        message=message,
        error=error,
    )


@router.get("/reviews", response_class=HTMLResponse)
async def review_queue(
    request: Request,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    page: PageNumber = 1,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    message = gettext(REVIEW_MESSAGES[done]) if done in REVIEW_MESSAGES else None
    return await _queue(request, session, pages, _reviewer(actor), page=page, message=message)


@router.post("/reviews/{contact_id:uuid}/{change_request_id:uuid}", response_class=HTMLResponse)
async def submit_review(
    request: Request,
    contact_id: UUID,
    change_request_id: UUID,
    session: SessionDep,
    pages: PagesDep,
    actor: PortalActor,
    verifier: VerifierDep,
) -> Response:
    form = await request.form()
    posted = {key: value for key, value in form.items() if isinstance(value, str)}
    pages.check_csrf(request, posted.get(CSRF_FIELD))
    reviewer = _reviewer(actor)
    approve = posted.get("decision") == "approve"
    try:
        reviewed = await change_requests.review(
            session,
            reviewer,
            verifier,
            CONTACT,
            contact_id,
            change_request_id,
            is_approved=approve,
            comment=(posted.get("comment") or "").strip()[:2000] or None,
        )
    except (
        errors.RejectionCommentRequired,
        errors.OwnChangeRequest,
        errors.ChangeRequestNotPending,
        errors.DetailsInvalid,
    ) as refused:
        text = gettext(refused.text, **refused.params)
        return await _queue(request, session, pages, reviewer, error=text, status_code=refused.status)
    query = language_query()
    done = REVIEW_OUTCOMES.get(ChangeRequestStatus(reviewed.request.status), "rejected")
    return RedirectResponse(f"/portal/reviews{query}{'&' if query else '?'}done={done}", status_code=303)


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
