"""Who reaches which dossier.

The rule is the one of exchanges (ADR 0013), applied to the dossier's own columns through
`clients.service.access.follows_contact`: apps without an acting member and members who
read every contact (admins) reach every dossier of the tenant; any other member reaches a
dossier that they, or anyone who reports to them, own, and one whose contact they see. Any
other dossier answers 404, with everything in it. Signers reach their dossier through
their invite, never through this rule.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...clients.service import access as client_access
from ...db import scoped
from ..errors import DossierNotFound
from ..models import Dossier, Invitee


def visible_dossiers(actor: Actor) -> Any:
    """A condition on `Dossier` keeping the dossiers the actor may reach."""
    return client_access.follows_contact(actor, Dossier.contact_id, Dossier.owner_member_id)


async def load_dossier(session: AsyncSession, actor: Actor, dossier_id: UUID, *, for_update: bool = False) -> Dossier:
    stmt = scoped(select(Dossier), actor).where(Dossier.id == dossier_id, visible_dossiers(actor))
    if for_update:
        stmt = stmt.with_for_update()
    dossier: Dossier | None = await session.scalar(stmt)
    if dossier is None:
        raise DossierNotFound()
    return dossier


async def invitees_of(session: AsyncSession, actor: Actor, dossier_ids: list[UUID]) -> dict[UUID, list[Invitee]]:
    """Each dossier's invitees in their list order, in one query."""
    found: dict[UUID, list[Invitee]] = {dossier_id: [] for dossier_id in dossier_ids}
    if not dossier_ids:
        return found
    rows = await session.scalars(
        scoped(select(Invitee), actor)
        .where(Invitee.dossier_id.in_(dossier_ids))
        .order_by(Invitee.dossier_id, Invitee.ordinal)
    )
    for invitee in rows:
        found[invitee.dossier_id].append(invitee)
    return found
