"""The review queue: pending change requests, oldest first, where a second member approves
or rejects them (never their own)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...actor import Actor, Scope
from ...auth.deps import PortalActor
from ...errors import N_, MissingScope
from ...http import SessionDep
from ...i18n import gettext
from ...schemas import Paging, SortOrder
from ...web import CSRF_FIELD, Pages, language_query
from .. import errors
from ..deps import VerifierDep
from ..models import STATUS_IDS, ChangeRequestStatus
from ..service import change_requests, definitions
from ..service.change_requests import RequestFilter
from .record_view import CONTACT, PAGE_SIZE, PageNumber, PagesDep, member_names, request_rows, schema_lists

router = APIRouter(prefix="/portal", include_in_schema=False)
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
    names = await member_names(session, actor, {view.request.initiator_member_id for view in found.items})
    known_lists = await schema_lists(session, actor, schema)
    rows = [
        {
            **request_rows(schema, view, known_lists),
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
