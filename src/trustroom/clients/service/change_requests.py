"""Change requests: reading, searching, cancelling and reviewing (four eyes).

pending → approved | rejected | cancelled, or stale once a value it changes has moved.
The initiator never reviews their own request (here, and by a database constraint) and
is the only one who may cancel it. Approval applies the change in the same transaction,
with its history and events, against the current schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...db import paginate, scoped, utcnow
from ...errors import N_
from ...schemas import Paging, Slice, SortOrder
from .. import events, fields
from ..errors import (
    ChangeRequestNotFound,
    ChangeRequestNotPending,
    DetailsInvalid,
    NotInitiator,
    OwnChangeRequest,
    RejectionCommentRequired,
    ReviewerRequired,
)
from ..fields import MISSING, Change
from ..models import STATUS_IDS, ChangeRequest, ChangeRequestItem, ChangeRequestStatus, ClientRecord, RecordKind
from . import access, definitions, writes
from .channels import Verifier

STATUS_NAMES = {
    ChangeRequestStatus.PENDING: N_("Pending"),
    ChangeRequestStatus.APPROVED: N_("Approved"),
    ChangeRequestStatus.REJECTED: N_("Rejected"),
    ChangeRequestStatus.CANCELLED: N_("Cancelled"),
    ChangeRequestStatus.STALE: N_("Stale"),
}
STATUS_BY_ID = {number: status for status, number in STATUS_IDS.items()}


@dataclass(frozen=True)
class RequestView:
    request: ChangeRequest
    record: ClientRecord
    items: list[ChangeRequestItem]


async def _items(session: AsyncSession, requests: Sequence[ChangeRequest]) -> dict[UUID, list[ChangeRequestItem]]:
    found: dict[UUID, list[ChangeRequestItem]] = {request.id: [] for request in requests}
    if not found:
        return found
    rows = await session.scalars(
        select(ChangeRequestItem)
        .where(ChangeRequestItem.change_request_id.in_(list(found)))
        .order_by(ChangeRequestItem.path)
    )
    for item in rows:
        found[item.change_request_id].append(item)
    return found


async def _load(
    session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID, request_id: UUID
) -> tuple[ClientRecord, ChangeRequest]:
    record = await access.load(session, actor, kind, record_id, for_update=True)
    request: ChangeRequest | None = await session.scalar(
        scoped(select(ChangeRequest), actor).where(ChangeRequest.id == request_id, ChangeRequest.record_id == record.id)
    )
    if request is None:
        raise ChangeRequestNotFound()
    return record, request


async def get(session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID, request_id: UUID) -> RequestView:
    record, request = await _load(session, actor, kind, record_id, request_id)
    return RequestView(request, record, (await _items(session, [request]))[request.id])


async def pending(session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID) -> RequestView | None:
    record = await access.load(session, actor, kind, record_id)
    request = await session.scalar(
        scoped(select(ChangeRequest), actor).where(
            ChangeRequest.record_id == record.id, ChangeRequest.status == ChangeRequestStatus.PENDING
        )
    )
    if request is None:
        return None
    return RequestView(request, record, (await _items(session, [request]))[request.id])


async def cancel(
    session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID, request_id: UUID
) -> RequestView:
    record, request = await _load(session, actor, kind, record_id, request_id)
    if actor.kind is not ActorKind.MEMBER or actor.id != request.initiator_member_id:
        raise NotInitiator()
    if request.status != ChangeRequestStatus.PENDING:
        raise ChangeRequestNotPending()
    request.status = ChangeRequestStatus.CANCELLED
    await session.flush()
    return await _finish(session, actor, record, request, events.CHANGE_REQUEST_CANCELLED, "cancelled")


async def review(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    kind: RecordKind,
    record_id: UUID,
    request_id: UUID,
    *,
    is_approved: bool,
    comment: str | None,
) -> RequestView:
    """Approve (apply) or reject; a request whose base moved becomes stale instead."""
    record, request = await _load(session, actor, kind, record_id, request_id)
    if actor.kind is not ActorKind.MEMBER or actor.id is None:
        raise ReviewerRequired()
    if request.status != ChangeRequestStatus.PENDING:
        raise ChangeRequestNotPending()
    if actor.id == request.initiator_member_id:
        raise OwnChangeRequest()
    if not is_approved and not (comment and comment.strip()):
        raise RejectionCommentRequired()
    items = (await _items(session, [request]))[request.id]
    request.review_member_id = actor.id
    request.reviewed_at = utcnow()
    request.review_comment = comment
    if not is_approved:
        request.status = ChangeRequestStatus.REJECTED
        await session.flush()
        return await _finish(session, actor, record, request, events.CHANGE_REQUEST_REJECTED, "rejected")
    changes = [Change(item.path, _value(item.old_value), _value(item.new_value)) for item in items]
    if any(not fields.same(fields.get(record.details, c.pointer), c.old) for c in changes):
        # Normally marked when the value moved; this catches moves that bypassed the write path.
        request.status = ChangeRequestStatus.STALE
        await session.flush()
        return await _finish(session, actor, record, request, events.CHANGE_REQUEST_STALE, "stale")
    schema = await definitions.for_kind(session, actor, kind)
    problems = await writes.check_details(session, actor, schema, fields.apply(record.details, changes))
    if problems:
        raise DetailsInvalid(problems)
    request.status = ChangeRequestStatus.APPROVED
    await session.flush()
    initiator = writes.Author(str(ActorKind.MEMBER), request.initiator_member_id, None)
    await writes.apply_verified(
        session,
        actor,
        verifier,
        record,
        schema,
        changes,
        comment=request.initiator_comment,
        change_request=request,
        author=initiator,
    )
    return await _finish(session, actor, record, request, events.CHANGE_REQUEST_APPROVED, "approved")


def _value(stored: Any) -> Any:
    return MISSING if stored is None else stored


async def _finish(
    session: AsyncSession, actor: Actor, record: ClientRecord, request: ChangeRequest, event_type: Any, verb: str
) -> RequestView:
    items = (await _items(session, [request]))[request.id]
    paths = [item.path for item in items]
    await audit.record(
        session,
        actor,
        f"clients.change_request.{verb}",
        target_type="change_request",
        target_id=request.id,
        data={"recordId": str(record.id), "paths": paths},
    )
    await writes.emit_change_request(session, actor, event_type, request, record, paths)
    return RequestView(request, record, items)


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    kind: RecordKind = RecordKind.CONTACT
    status_id: int | None = None
    create_date_from: datetime | None = None
    create_date_to: datetime | None = None
    review_date_from: datetime | None = None
    review_date_to: datetime | None = None
    initiator_member_ids: list[UUID] | None = None
    review_member_ids: list[UUID] | None = None
    record_ids: list[UUID] | None = None
    paths: list[str] | None = None
    exclude_hierarchy: bool = False
    sort_by: str = "CreateDate"


SORTABLE = {
    "Id": ChangeRequest.id,
    "StatusId": ChangeRequest.status,
    "CreateDate": ChangeRequest.created_at,
    "InitiatorMemberId": ChangeRequest.initiator_member_id,
    "ContactId": ChangeRequest.record_id,
    "ReviewDate": ChangeRequest.reviewed_at,
    "ReviewMemberId": ChangeRequest.review_member_id,
}


async def search(session: AsyncSession, actor: Actor, criteria: RequestFilter, paging: Paging) -> Slice[RequestView]:
    """Requests on records the actor may see (with or without the hierarchy), newest first by default."""
    stmt = (
        scoped(select(ChangeRequest), actor)
        .join(ClientRecord, ClientRecord.id == ChangeRequest.record_id)
        .where(
            ClientRecord.tenant_id == actor.tenant_id,
            ClientRecord.kind == criteria.kind,
            access.visible(actor, exclude_hierarchy=criteria.exclude_hierarchy),
        )
    )
    if criteria.status_id is not None:
        stmt = stmt.where(ChangeRequest.status == STATUS_BY_ID[criteria.status_id])
    if criteria.create_date_from is not None:
        stmt = stmt.where(ChangeRequest.created_at >= criteria.create_date_from)
    if criteria.create_date_to is not None:
        stmt = stmt.where(ChangeRequest.created_at <= criteria.create_date_to)
    if criteria.review_date_from is not None:
        stmt = stmt.where(ChangeRequest.reviewed_at >= criteria.review_date_from)
    if criteria.review_date_to is not None:
        stmt = stmt.where(ChangeRequest.reviewed_at <= criteria.review_date_to)
    if criteria.initiator_member_ids:
        stmt = stmt.where(ChangeRequest.initiator_member_id.in_(criteria.initiator_member_ids))
    if criteria.review_member_ids:
        stmt = stmt.where(ChangeRequest.review_member_id.in_(criteria.review_member_ids))
    if criteria.record_ids:
        stmt = stmt.where(ChangeRequest.record_id.in_(criteria.record_ids))
    if criteria.paths:
        with_path = select(ChangeRequestItem.change_request_id).where(
            ChangeRequestItem.tenant_id == actor.tenant_id, ChangeRequestItem.path.in_(criteria.paths)
        )
        stmt = stmt.where(ChangeRequest.id.in_(with_path))
    column = SORTABLE[criteria.sort_by]
    order = column.asc() if paging.sort_order is SortOrder.ASCENDING else column.desc()
    tiebreak = ChangeRequest.id.asc() if paging.sort_order is SortOrder.ASCENDING else ChangeRequest.id.desc()
    found = await paginate(session, stmt, paging, order, tiebreak)
    requests: list[ChangeRequest] = found.items
    items = await _items(session, requests)
    records = {
        record.id: record
        for record in await session.scalars(
            select(ClientRecord).where(ClientRecord.id.in_([r.record_id for r in requests]))
        )
    }
    views = [RequestView(r, records[r.record_id], items[r.id]) for r in requests]
    return paging.page_of(views, found.total_count)
