"""Which records an actor may see.

Apps (not acting for anyone), the operator and the system see every record of the tenant;
so does a member holding `contacts:read-all` (admins). Any other member sees the records
assigned to them and, through the member hierarchy, those assigned to anyone who reports
to them, directly or not; `exclude_hierarchy` keeps only their own. A contact sees itself
and the legal entities whose access policies name it; it acts only for those that say `Act`.

What belongs to a contact (exchanges, and dossiers) follows the contact: `follows_contact`
is the one rule, a SQL condition the higher domains put in their queries (ADR 0013).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind, Scope
from ...auth.service.members import subordinate_ids
from ...db import scoped
from ..errors import ContactNotFound, LegalEntityNotFound, NotActingFor
from ..models import ClientRecord, LegalEntityAccess, RecordAssignment, RecordKind


def sees_everything(actor: Actor) -> bool:
    if actor.kind in (ActorKind.OPERATOR, ActorKind.SYSTEM):
        return True
    if actor.kind is ActorKind.APP:
        return True
    return actor.kind is ActorKind.MEMBER and actor.can(Scope.CONTACTS_READ_ALL)


def visible(actor: Actor, *, exclude_hierarchy: bool = False) -> Any:
    """A condition on `ClientRecord.id` that keeps the records the actor may see."""
    if sees_everything(actor):
        return true()
    if actor.kind is ActorKind.CONTACT:
        # Itself, and the legal entities whose access policies name it.
        entities = select(LegalEntityAccess.legal_entity_id).where(
            LegalEntityAccess.tenant_id == actor.tenant_id, LegalEntityAccess.contact_id == actor.id
        )
        return or_(ClientRecord.id == actor.id, ClientRecord.id.in_(entities))
    if actor.kind is not ActorKind.MEMBER or actor.id is None:
        return false()
    assigned = select(RecordAssignment.record_id).where(RecordAssignment.tenant_id == actor.tenant_id)
    if exclude_hierarchy:
        assigned = assigned.where(RecordAssignment.member_id == actor.id)
    else:
        team = subordinate_ids(actor, actor.id)
        assigned = assigned.where(RecordAssignment.member_id.in_(select(team.c.id)))
    return ClientRecord.id.in_(assigned)


def follows_contact(actor: Actor, contact_id: Any, owner_member_id: Any) -> Any:
    """A condition keeping the rows that belong to a contact (an exchange, a dossier) that the
    actor may see: those whose contact it sees, or that it owns. `contact_id` and
    `owner_member_id` are the row's columns. A member owns what they or anyone reporting to
    them owns, as with contacts; apps without an acting member and members who read every
    contact (admins) see every row. Client-side actors are the caller's to handle."""
    if sees_everything(actor):
        return true()
    if actor.kind is not ActorKind.MEMBER or actor.id is None:
        return false()
    team = select(subordinate_ids(actor, actor.id).c.id)
    assigned = select(RecordAssignment.record_id).where(
        RecordAssignment.tenant_id == actor.tenant_id, RecordAssignment.member_id.in_(team)
    )
    return or_(contact_id.in_(assigned), owner_member_id.in_(team))


VIEW = "View"
ACT = "Act"

NOT_FOUND = {RecordKind.CONTACT: ContactNotFound, RecordKind.LEGAL_ENTITY: LegalEntityNotFound}


async def load(
    session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID, *, for_update: bool = False
) -> ClientRecord:
    """The record, if the actor may see it; otherwise NotFound (not Forbidden: no probing)."""
    stmt = scoped(select(ClientRecord), actor).where(
        ClientRecord.id == record_id, ClientRecord.kind == kind, visible(actor)
    )
    if for_update:
        stmt = stmt.with_for_update()
    record: ClientRecord | None = await session.scalar(stmt)
    if record is None:
        raise NOT_FOUND[kind]()
    return record


async def assign(session: AsyncSession, actor: Actor, record: ClientRecord, member_id: UUID) -> None:
    existing = await session.get(RecordAssignment, (record.id, member_id))
    if existing is None:
        session.add(RecordAssignment(tenant_id=actor.tenant_id, record_id=record.id, member_id=member_id))
        await session.flush()


async def check_acts_for(session: AsyncSession, actor: Actor, record: ClientRecord) -> None:
    """A contact changes a legal entity only under an `Act` policy (seeing it is not enough)."""
    if actor.kind is not ActorKind.CONTACT or record.kind != RecordKind.LEGAL_ENTITY:
        return
    level = await session.scalar(
        select(LegalEntityAccess.access).where(
            LegalEntityAccess.tenant_id == actor.tenant_id,
            LegalEntityAccess.legal_entity_id == record.id,
            LegalEntityAccess.contact_id == actor.id,
        )
    )
    if level != ACT:
        raise NotActingFor()
