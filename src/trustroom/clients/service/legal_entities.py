"""Legal entities and which contacts may see them or act for them, in which role.

A legal entity's details follow the `legalEntity` schema under the same change rules as a
contact's. Its contact access policies name contacts (each at most once) with a role from
the `legalEntityRoles` list and an access level: `View` lets the contact see the entity,
`Act` also lets it change the fields a contact may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ..errors import AccessPolicyInvalid
from ..models import ClientRecord, LegalEntityAccess, RecordKind
from . import access, lists, records


@dataclass(frozen=True)
class Policy:
    contact_id: UUID
    role_id: int
    access: str


async def policies(session: AsyncSession, actor: Actor, entity: ClientRecord) -> list[Policy]:
    rows = await session.scalars(
        select(LegalEntityAccess)
        .where(LegalEntityAccess.tenant_id == actor.tenant_id, LegalEntityAccess.legal_entity_id == entity.id)
        .order_by(LegalEntityAccess.created_at, LegalEntityAccess.contact_id)
    )
    return [Policy(row.contact_id, row.role_id, row.access) for row in rows]


async def _check(session: AsyncSession, actor: Actor, wanted: list[Policy]) -> None:
    seen: set[UUID] = set()
    roles = (await lists.resolver(session, actor))(lists.LEGAL_ENTITY_ROLES) or {}
    for index, policy in enumerate(wanted):
        at = f"contacts/{index}"
        if policy.contact_id in seen:
            raise AccessPolicyInvalid(at=at, reason=AccessPolicyInvalid.DUPLICATE)
        seen.add(policy.contact_id)
        if str(policy.role_id) not in roles:
            raise AccessPolicyInvalid(at=at, reason=AccessPolicyInvalid.UNKNOWN_ROLE)
    visible = set(
        await session.scalars(
            select(ClientRecord.id).where(
                ClientRecord.tenant_id == actor.tenant_id,
                ClientRecord.kind == RecordKind.CONTACT,
                ClientRecord.id.in_(seen),
                ClientRecord.anonymized_at.is_(None),
                access.visible(actor),
            )
        )
    )
    for index, policy in enumerate(wanted):
        if policy.contact_id not in visible:
            raise AccessPolicyInvalid(at=f"contacts/{index}", reason=AccessPolicyInvalid.UNKNOWN_CONTACT)


async def replace_policies(session: AsyncSession, actor: Actor, entity: ClientRecord, wanted: list[Policy]) -> None:
    await _check(session, actor, wanted)
    await session.execute(
        delete(LegalEntityAccess).where(
            LegalEntityAccess.tenant_id == actor.tenant_id, LegalEntityAccess.legal_entity_id == entity.id
        )
    )
    session.add_all(
        LegalEntityAccess(
            tenant_id=actor.tenant_id,
            legal_entity_id=entity.id,
            contact_id=policy.contact_id,
            role_id=policy.role_id,
            access=policy.access,
        )
        for policy in wanted
    )
    await session.flush()
    await audit.record(
        session,
        actor,
        "clients.legal_entity.access_replaced",
        target_type="legalEntity",
        target_id=entity.id,
        data={"contacts": len(wanted)},
    )


async def create(
    session: AsyncSession, actor: Actor, details: dict[str, Any], wanted: list[Policy], *, correlation_id: str | None
) -> ClientRecord:
    entity = await records.create(session, actor, RecordKind.LEGAL_ENTITY, details, correlation_id=correlation_id)
    await replace_policies(session, actor, entity, wanted)
    return entity


async def set_policies(session: AsyncSession, actor: Actor, entity_id: UUID, wanted: list[Policy]) -> ClientRecord:
    entity = await access.load(session, actor, RecordKind.LEGAL_ENTITY, entity_id, for_update=True)
    await replace_policies(session, actor, entity, wanted)
    return entity
