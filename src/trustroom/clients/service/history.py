"""Details history: every applied change by field, grouped into the writes that made them.

What a caller sees follows the same field rules as reading: a contact sees only the
fields visible to contacts, a member none of the disabled ones; an app sees everything,
including fields a later schema dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...schemas import Paging, Slice, SortOrder
from ..models import DetailChange, RecordKind
from . import access, definitions
from .definitions import LoadedSchema


@dataclass(frozen=True)
class HistoryFilter:
    initiator_ids: list[UUID] | None = None
    execution_date_from: datetime | None = None
    execution_date_to: datetime | None = None
    paths: list[str] | None = None
    sort_by: str = "ExecutionDate"


@dataclass(frozen=True)
class ChangeSet:
    id: UUID
    executed_at: datetime
    actor_kind: str
    actor_id: UUID | None
    change_request_id: UUID | None
    correlation_id: str | None
    comment: str | None
    changes: list[DetailChange]


def visible_paths(actor: Actor, schema: LoadedSchema) -> list[str] | None:
    """The paths the actor may see in history; None means every path."""
    if actor.kind is ActorKind.CONTACT:
        return [p.pointer for p in schema.fields.values() if p.is_contact_visible and not p.is_disabled]
    if actor.kind is ActorKind.MEMBER:
        return [p.pointer for p in schema.fields.values() if not p.is_disabled]
    return None


SORTABLE = {"ContactChangeSetId": "id", "ExecutionDate": "at", "InitiatorPersonId": "actor"}


async def search(
    session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID, criteria: HistoryFilter, paging: Paging
) -> Slice[ChangeSet]:
    record = await access.load(session, actor, kind, record_id)
    schema = await definitions.for_kind(session, actor, kind)
    conditions: list[Any] = [DetailChange.tenant_id == actor.tenant_id, DetailChange.record_id == record.id]
    allowed = visible_paths(actor, schema)
    if allowed is not None:
        conditions.append(DetailChange.path.in_(allowed))
    if criteria.initiator_ids:
        conditions.append(DetailChange.actor_id.in_(criteria.initiator_ids))
    if criteria.execution_date_from is not None:
        conditions.append(DetailChange.executed_at >= criteria.execution_date_from)
    if criteria.execution_date_to is not None:
        conditions.append(DetailChange.executed_at <= criteria.execution_date_to)
    sets = select(
        DetailChange.change_set_id.label("id"),
        func.min(DetailChange.executed_at).label("at"),
        DetailChange.actor_id.label("actor"),
    ).where(*conditions)
    if criteria.paths:
        touching = select(DetailChange.change_set_id).where(*conditions, DetailChange.path.in_(criteria.paths))
        sets = sets.where(DetailChange.change_set_id.in_(touching))
    # One write has one author, so grouping by both keeps one row per change set.
    grouped = sets.group_by(DetailChange.change_set_id, DetailChange.actor_id).subquery()
    total = int(await session.scalar(select(func.count()).select_from(grouped)) or 0)
    column = grouped.c[SORTABLE[criteria.sort_by]]
    ascending = paging.sort_order is SortOrder.ASCENDING
    page = await session.execute(
        select(grouped.c.id)
        .order_by(
            column.asc() if ascending else column.desc(), grouped.c.id.asc() if ascending else grouped.c.id.desc()
        )
        .offset(paging.offset)
        .limit(paging.page_size)
    )
    ids = [row.id for row in page]
    rows = await session.scalars(
        select(DetailChange).where(*conditions, DetailChange.change_set_id.in_(ids)).order_by(DetailChange.path)
    )
    by_set: dict[UUID, list[DetailChange]] = {set_id: [] for set_id in ids}
    for row in rows:
        by_set[row.change_set_id].append(row)
    result = []
    for set_id in ids:
        changes = by_set[set_id]
        first = changes[0]
        result.append(
            ChangeSet(
                id=set_id,
                executed_at=first.executed_at,
                actor_kind=first.actor_kind,
                actor_id=first.actor_id,
                change_request_id=first.change_request_id,
                correlation_id=first.correlation_id,
                comment=first.comment,
                changes=changes,
            )
        )
    return paging.page_of(result, total)
