"""JSON API of change requests (four eyes) and of the change history of contacts."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from ...actor import Actor
from ...http import API_PREFIX, ApiRoute, SessionDep, error_responses
from ...i18n import gettext
from ...schemas import Page
from .. import errors
from ..deps import VerifierDep
from ..models import STATUS_IDS, ChangeRequestStatus, RecordKind
from ..schemas import (
    ChangeRead,
    ChangeRequestRead,
    ChangeRequestSearch,
    ChangeSetRead,
    HistorySearch,
    PendingCheck,
    Review,
    StatusesRead,
    StatusRead,
)
from ..service import change_requests, history
from ..service.change_requests import STATUS_NAMES, RequestFilter, RequestView
from ..service.history import ChangeSet, HistoryFilter
from .contacts import ContactsRead, ContactsWrite, Reviewer, contacts_router, page

statuses_router = APIRouter(
    prefix=API_PREFIX, tags=["client records: change requests"], route_class=ApiRoute, responses=error_responses()
)


def _status(status: str) -> StatusRead:
    value = ChangeRequestStatus(status)
    return StatusRead(id=STATUS_IDS[value], key=str(value), name=gettext(STATUS_NAMES[value]))


def change_request_read(found: RequestView) -> ChangeRequestRead:
    request = found.request
    return ChangeRequestRead.model_validate(
        {
            "id": request.id,
            "contactId": request.record_id,
            "status": _status(request.status),
            "createDate": request.created_at,
            "initiatorMember": {"id": request.initiator_member_id},
            "initiatorComment": request.initiator_comment,
            "reviewDate": request.reviewed_at,
            "reviewMember": {"id": request.review_member_id} if request.review_member_id else None,
            "reviewComment": request.review_comment,
            "correlationId": request.correlation_id,
            "details": [ChangeRead(path=i.path, old_value=i.old_value, new_value=i.new_value) for i in found.items],
        }
    )


REVIEW_ERRORS = (
    errors.ChangeRequestNotFound,
    errors.ChangeRequestNotPending,
    errors.OwnChangeRequest,
    errors.ReviewerRequired,
    errors.RejectionCommentRequired,
    errors.DetailsInvalid,
)


@contacts_router.post(
    "/change-requests/search",
    response_model=Page[ChangeRequestRead],
    tags=["client records: change requests"],
)
async def search_change_requests(
    body: ChangeRequestSearch, session: SessionDep, actor: ContactsRead
) -> Page[ChangeRequestRead]:
    """Change requests on contacts you may see; newest first unless sorted otherwise."""
    criteria = RequestFilter(
        kind=RecordKind.CONTACT,
        status_id=body.status_id,
        create_date_from=body.create_date_from,
        create_date_to=body.create_date_to,
        review_date_from=body.review_date_from,
        review_date_to=body.review_date_to,
        initiator_member_ids=body.initiator_member_ids,
        review_member_ids=body.review_member_ids,
        record_ids=body.contact_ids,
        paths=body.paths,
        exclude_hierarchy=body.exclude_hierarchy,
        sort_by=str(body.sort_by),
    )
    found = await change_requests.search(session, actor, criteria, body.paging())
    return page(found, [change_request_read(view) for view in found.items])


# --- change requests ----------------------------------------------------------------------


@contacts_router.get(
    "/{contact_id:uuid}/change-requests/{change_request_id}",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(errors.ChangeRequestNotFound),
)
async def get_change_request(
    contact_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsRead
) -> ChangeRequestRead:
    """One change request with its changes."""
    return change_request_read(
        await change_requests.get(session, actor, RecordKind.CONTACT, contact_id, change_request_id)
    )


@contacts_router.post(
    "/{contact_id:uuid}/change-requests/{change_request_id}/cancel",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(errors.ChangeRequestNotFound, errors.NotInitiator, errors.ChangeRequestNotPending),
)
async def cancel_change_request(
    contact_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsWrite
) -> ChangeRequestRead:
    """Withdraw a pending request; only the member who made it may."""
    found = await change_requests.cancel(session, actor, RecordKind.CONTACT, contact_id, change_request_id)
    return change_request_read(found)


@contacts_router.post(
    "/{contact_id:uuid}/change-requests/{change_request_id}/review",
    response_model=ChangeRequestRead,
    tags=["client records: change requests"],
    responses=error_responses(*REVIEW_ERRORS),
)
async def review_change_request(
    contact_id: UUID,
    change_request_id: UUID,
    body: Review,
    session: SessionDep,
    actor: Reviewer,
    verifier: VerifierDep,
) -> ChangeRequestRead:
    """Approve (the change applies now) or reject (say why). Never your own request."""
    return await review(RecordKind.CONTACT, contact_id, change_request_id, body, session, actor, verifier)


async def review(
    kind: RecordKind,
    record_id: UUID,
    change_request_id: UUID,
    body: Review,
    session: SessionDep,
    actor: Actor,
    verifier: VerifierDep,
) -> ChangeRequestRead:
    """A review of a contact's or a legal entity's change request, answered the same way."""
    found = await change_requests.review(
        session,
        actor,
        verifier,
        kind,
        record_id,
        change_request_id,
        is_approved=body.is_approved,
        comment=body.comment,
    )
    return change_request_read(found)


@contacts_router.get(
    "/{contact_id:uuid}/pending-change-request/check",
    response_model=PendingCheck,
    tags=["client records: change requests"],
)
async def check_pending_change_request(contact_id: UUID, session: SessionDep, actor: ContactsRead) -> PendingCheck:
    """Whether a change request waits for review, and which."""
    found = await change_requests.pending(session, actor, RecordKind.CONTACT, contact_id)
    return PendingCheck(
        has_pending_change_request=found is not None, change_request=change_request_read(found) if found else None
    )


@statuses_router.get("/change-request-statuses", response_model=StatusesRead)
async def list_change_request_statuses(actor: ContactsRead) -> StatusesRead:
    """Every status a change request can have, named in the request's language."""
    return StatusesRead(change_request_statuses=[_status(status) for status in ChangeRequestStatus])


# --- history ------------------------------------------------------------------------------


def _change_set(found: ChangeSet) -> ChangeSetRead:
    return ChangeSetRead.model_validate(
        {
            "id": found.id,
            "executionDate": found.executed_at,
            "initiator": {"kind": found.actor_kind, "id": found.actor_id},
            "changeRequestId": found.change_request_id,
            "correlationId": found.correlation_id,
            "comment": found.comment,
            "changes": [ChangeRead(path=c.path, old_value=c.old_value, new_value=c.new_value) for c in found.changes],
        }
    )


@contacts_router.post("/{contact_id:uuid}/details/change-history/search", response_model=Page[ChangeSetRead])
async def search_contact_history(
    contact_id: UUID, body: HistorySearch, session: SessionDep, actor: ContactsRead
) -> Page[ChangeSetRead]:
    """Applied changes grouped by write, newest first unless sorted otherwise; only fields you may see."""
    criteria = HistoryFilter(
        initiator_ids=body.initiator_person_ids,
        execution_date_from=body.execution_date_from,
        execution_date_to=body.execution_date_to,
        paths=body.paths,
        sort_by=str(body.sort_by),
    )
    found = await history.search(session, actor, RecordKind.CONTACT, contact_id, criteria, body.paging())
    return page(found, [_change_set(change_set) for change_set in found.items])
