"""Which members advise a contact: the assignment that decides who sees it (access.py).

The assignment is the set of `record_assignments` rows of a contact. Its concurrency token
is a digest of the assigned member ids, not a counter: a bulk reassignment then moves a
million contacts with two set-based statements and no write to the contacts themselves,
and a token still goes stale whenever the set it was read with changes. (If a set changes
and changes back, a write based on it is safe again: it sees what its author saw.)

Every advisor assigned must be an active member of the tenant. Choosing advisors needs
`contacts:assign`: it decides who sees the contact and, through it, its exchanges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind, Scope
from ...audit import service as audit
from ...auth.models import Member
from ...db import utcnow
from ...errors import ConcurrencyTokenMismatch, MissingScope
from ...jobs import service as jobs
from .. import events
from ..errors import AdvisorDisabled, AdvisorNotFound, ReassignToSameMember
from ..models import ClientRecord, RecordAssignment, RecordKind
from . import access


@dataclass(frozen=True)
class Advisor:
    member: Member
    assigned_at: datetime


@dataclass(frozen=True)
class Assignment:
    record: ClientRecord
    advisors: list[Advisor]

    @property
    def concurrency_token(self) -> str:
        return token_of(advisor.member.id for advisor in self.advisors)


@dataclass(frozen=True)
class Reassigned:
    moved: int  # contacts that had the old member
    already_assigned: int  # of those, contacts the new member had already


def token_of(member_ids: Any) -> str:
    digest = hashlib.sha256(",".join(sorted(str(member_id) for member_id in member_ids)).encode())
    return digest.hexdigest()[:20]


def require_assign(actor: Actor) -> None:
    if actor.kind in (ActorKind.MEMBER, ActorKind.APP) and not actor.can(Scope.CONTACTS_ASSIGN):
        raise MissingScope(permission=Scope.CONTACTS_ASSIGN)


def _unique(member_ids: Sequence[UUID]) -> list[UUID]:
    return list(dict.fromkeys(member_ids))


async def check_members(session: AsyncSession, actor: Actor, member_ids: Sequence[UUID]) -> list[Member]:
    """The members, in the order given; the first unknown or deactivated one refuses all."""
    if not member_ids:
        return []
    found = {
        member.id: member
        for member in await session.scalars(
            select(Member).where(Member.tenant_id == actor.tenant_id, Member.id.in_(list(member_ids)))
        )
    }
    for member_id in member_ids:
        member = found.get(member_id)
        if member is None:
            raise AdvisorNotFound(member_id=str(member_id))
        if member.disabled:
            raise AdvisorDisabled(member_id=str(member_id))
    return [found[member_id] for member_id in member_ids]


def _insert(session: AsyncSession) -> Any:
    """INSERT that leaves an existing (record, member) pair alone: a concurrent write may
    have made it meanwhile, and the pair means the same either way."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RecordAssignment)


async def _current(session: AsyncSession, actor: Actor, record: ClientRecord) -> list[Advisor]:
    rows = await session.execute(
        select(Member, RecordAssignment.created_at)
        .join(RecordAssignment, RecordAssignment.member_id == Member.id)
        .where(
            RecordAssignment.tenant_id == actor.tenant_id,
            RecordAssignment.record_id == record.id,
            Member.tenant_id == actor.tenant_id,
        )
        .order_by(Member.display_name, Member.id)
    )
    return [Advisor(member, assigned_at) for member, assigned_at in rows.all()]


async def get(session: AsyncSession, actor: Actor, contact_id: UUID) -> Assignment:
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id)
    return Assignment(record, await _current(session, actor, record))


async def _add(session: AsyncSession, actor: Actor, record: ClientRecord, member_ids: Sequence[UUID]) -> None:
    if member_ids:
        now = utcnow()
        rows = [
            {"tenant_id": actor.tenant_id, "record_id": record.id, "member_id": member_id, "created_at": now}
            for member_id in member_ids
        ]
        await session.execute(_insert(session).values(rows).on_conflict_do_nothing())


async def _changed(
    session: AsyncSession,
    actor: Actor,
    record: ClientRecord,
    after: Sequence[UUID],
    added: list[UUID],
    removed: list[UUID],
) -> None:
    data = {
        "advisorIds": [str(member_id) for member_id in after],
        "addedIds": [str(member_id) for member_id in added],
        "removedIds": [str(member_id) for member_id in removed],
    }
    await audit.record(
        session, actor, "clients.contact.advisors_changed", target_type="contact", target_id=record.id, data=data
    )
    event = events.AdvisorsChanged(contact_id=record.id, advisor_ids=list(after), added_ids=added, removed_ids=removed)
    await jobs.emit(session, events.CONTACT_ADVISORS_CHANGED, event, tenant_id=actor.tenant_id)


async def assign_new(session: AsyncSession, actor: Actor, record: ClientRecord, member_ids: Sequence[UUID]) -> None:
    """The advisors of a contact being created (its creation is audited and evented)."""
    require_assign(actor)
    wanted = _unique(member_ids)
    await check_members(session, actor, wanted)
    await _add(session, actor, record, wanted)


async def replace(
    session: AsyncSession, actor: Actor, contact_id: UUID, member_ids: Sequence[UUID], *, concurrency_token: str | None
) -> Assignment:
    """Make exactly these members the contact's advisors (none: only tenant-wide readers see it)."""
    require_assign(actor)
    # The contact's row lock orders concurrent replacements of one assignment.
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id, for_update=True)
    before = [advisor.member.id for advisor in await _current(session, actor, record)]
    ConcurrencyTokenMismatch.check(concurrency_token, token_of(before))
    wanted = _unique(member_ids)
    await check_members(session, actor, wanted)
    added = [member_id for member_id in wanted if member_id not in before]
    removed = [member_id for member_id in before if member_id not in wanted]
    if removed:
        await session.execute(
            delete(RecordAssignment).where(
                RecordAssignment.tenant_id == actor.tenant_id,
                RecordAssignment.record_id == record.id,
                RecordAssignment.member_id.in_(removed),
            )
        )
    await _add(session, actor, record, added)
    if added or removed:
        await _changed(session, actor, record, wanted, added, removed)
    return Assignment(record, await _current(session, actor, record))


async def _move(session: AsyncSession, actor: Actor, from_member_id: UUID, to_member_id: UUID) -> tuple[int, int]:
    """Take the old member's contact rows away and give the new member those they lack:
    (rows moved, rows added)."""
    contacts = select(ClientRecord.id).where(
        ClientRecord.tenant_id == actor.tenant_id, ClientRecord.kind == RecordKind.CONTACT
    )
    taken = delete(RecordAssignment).where(
        RecordAssignment.tenant_id == actor.tenant_id,
        RecordAssignment.member_id == from_member_id,
        RecordAssignment.record_id.in_(contacts),
    )
    columns = ["tenant_id", "record_id", "member_id", "created_at"]
    now = utcnow()

    def given(record_id: Any) -> Any:
        return select(
            literal(actor.tenant_id, RecordAssignment.tenant_id.type),
            record_id,
            literal(to_member_id, RecordAssignment.member_id.type),
            literal(now, RecordAssignment.created_at.type),
        )

    if session.get_bind().dialect.name == "postgresql":
        # One statement, so a row another transaction adds for the old member meanwhile is
        # either moved with the rest or left in place, never deleted without its copy.
        moved = taken.returning(RecordAssignment.record_id).cte("moved")
        copy = given(moved.c.record_id).select_from(moved)
        added = (
            postgresql.insert(RecordAssignment)
            .from_select(columns, copy)
            .on_conflict_do_nothing()
            .returning(RecordAssignment.record_id)
            .cte("added")
        )
        counts = select(
            select(func.count()).select_from(moved).scalar_subquery(),
            select(func.count()).select_from(added).scalar_subquery(),
        )
        row = (await session.execute(counts)).one()
        return int(row[0]), int(row[1])
    # SQLite runs one writer at a time (BEGIN IMMEDIATE): two statements cannot interleave.
    copy = given(RecordAssignment.record_id).where(
        RecordAssignment.tenant_id == actor.tenant_id,
        RecordAssignment.member_id == from_member_id,
        RecordAssignment.record_id.in_(contacts),
    )
    inserted = await session.execute(
        sqlite.insert(RecordAssignment).from_select(columns, copy).on_conflict_do_nothing()
    )
    deleted = await session.execute(taken)
    return int(getattr(deleted, "rowcount", 0) or 0), int(getattr(inserted, "rowcount", 0) or 0)


async def reassign(session: AsyncSession, actor: Actor, from_member_id: UUID, to_member_id: UUID) -> Reassigned:
    """Every contact of one member goes to another, with set-based statements whatever their
    number. The old member may be deactivated (the usual reason); the new one not."""
    require_assign(actor)
    if from_member_id == to_member_id:
        raise ReassignToSameMember()
    source = await session.scalar(
        select(Member.id).where(Member.tenant_id == actor.tenant_id, Member.id == from_member_id)
    )
    if source is None:
        raise AdvisorNotFound(member_id=str(from_member_id))
    await check_members(session, actor, [to_member_id])
    moved, added = await _move(session, actor, from_member_id, to_member_id)
    result = Reassigned(moved=moved, already_assigned=moved - added)
    await audit.record(
        session,
        actor,
        "clients.contact.advisors_reassigned",
        target_type="member",
        target_id=from_member_id,
        data={
            "fromMemberId": str(from_member_id),
            "toMemberId": str(to_member_id),
            "contactCount": result.moved,
            "alreadyAssignedCount": result.already_assigned,
        },
    )
    event = events.AdvisorsReassigned(
        from_member_id=from_member_id,
        to_member_id=to_member_id,
        contact_count=result.moved,
        already_assigned_count=result.already_assigned,
    )
    await jobs.emit(session, events.CONTACT_ADVISORS_REASSIGNED, event, tenant_id=actor.tenant_id)
    return result


CANDIDATE_LIMIT = 500


async def candidates(session: AsyncSession, actor: Actor) -> list[Member]:
    """Active members who may be assigned, by name (a form's choices; the API takes any id)."""
    found = await session.scalars(
        select(Member)
        .where(Member.tenant_id == actor.tenant_id, Member.disabled_at.is_(None))
        .order_by(Member.display_name, Member.id)
        .limit(CANDIDATE_LIMIT)
    )
    return list(found)
