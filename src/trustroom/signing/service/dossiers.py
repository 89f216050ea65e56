"""Creating, reading, changing, deleting and cancelling dossiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...clients.errors import AdvisorDisabled, AdvisorNotFound, ContactNotFound
from ...clients.models import RecordKind
from ...clients.service import access as client_access
from ...clients.service import advisors
from ...db import paginate, scoped, utcnow, uuid7
from ...errors import ConcurrencyTokenMismatch
from ...exchange.errors import ExchangeNotFound
from ...exchange.models import Exchange
from ...exchange.service import access as exchange_access
from ...jobs import service as jobs
from ...schemas import Paging, Slice, SortOrder
from .. import events
from ..errors import (
    DossierNotDraft,
    DossierNotPending,
    ExchangeContactMismatch,
    MethodNotAvailable,
    OwnerMemberRequired,
    at,
)
from ..models import AVAILABLE_METHODS, Dossier, DossierState, Invitee, Method
from ..schemas.common import DEFAULT_EXPIRES_IN
from ..schemas.dossiers import DossierCreate, DossierUpdate
from . import access, documents, invitees, lifecycle
from .locales import canonical_locale, tenant_default


@dataclass(frozen=True)
class DossierFilter:
    state: DossierState | None = None
    contact_id: UUID | None = None
    owner_member_id: UUID | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive


def _check_method(method: Method) -> None:
    if method not in AVAILABLE_METHODS:
        raise MethodNotAvailable("/method", method=str(method))


async def _owner(session: AsyncSession, actor: Actor, owner_member_id: UUID | None) -> UUID:
    """The named owner (an active member; naming another member needs contacts:assign, as
    for exchanges, ADR 0013), else the acting member; an app acting for nobody must name one."""
    if owner_member_id is None:
        if actor.member_id is None:
            raise OwnerMemberRequired("/ownerMemberId")
        return actor.member_id
    if owner_member_id != actor.member_id:
        advisors.require_assign(actor)
        try:
            await advisors.check_members(session, actor, [owner_member_id])
        except (AdvisorNotFound, AdvisorDisabled) as error:
            raise at(error, "/ownerMemberId") from None
    return owner_member_id


async def _links(
    session: AsyncSession,
    actor: Actor,
    contact_id: UUID | None,
    exchange_id: UUID | None,
    *,
    check_contact: bool,
    check_exchange: bool,
) -> tuple[UUID | None, UUID | None]:
    """The dossier's contact and exchange, each one the actor sees when it is new. An
    exchange of a contact makes that contact the dossier's: the signed documents go to
    that client's room, so the dossier cannot name anyone else."""
    exchange_contact = None
    if exchange_id is not None:
        if check_exchange:
            try:
                exchange = await exchange_access.load_exchange(session, actor, exchange_id)
            except ExchangeNotFound as error:
                raise at(error, "/exchangeId") from None
            exchange_contact = exchange.contact_id
        else:
            exchange_contact = await session.scalar(
                scoped(select(Exchange.contact_id), actor).where(Exchange.id == exchange_id)
            )
    if contact_id is not None and check_contact:
        try:
            await client_access.load(session, actor, RecordKind.CONTACT, contact_id)
        except ContactNotFound as error:
            raise at(error, "/contactId") from None
    if exchange_contact is not None:
        if contact_id is None:
            contact_id = exchange_contact
        elif contact_id != exchange_contact:
            raise ExchangeContactMismatch("/exchangeId")
    return contact_id, exchange_id


def _event(dossier: Dossier, actor: Actor) -> events.DossierChanged:
    return events.DossierChanged(
        dossier_id=dossier.id,
        state=dossier.state,
        owner_member_id=dossier.owner_member_id,
        contact_id=dossier.contact_id,
        exchange_id=dossier.exchange_id,
        by=actor.principal,
    )


def _ids(dossier: Dossier) -> dict[str, str | None]:
    return {
        "ownerMemberId": str(dossier.owner_member_id),
        "contactId": str(dossier.contact_id) if dossier.contact_id else None,
        "exchangeId": str(dossier.exchange_id) if dossier.exchange_id else None,
    }


async def create(session: AsyncSession, actor: Actor, body: DossierCreate) -> tuple[Dossier, list[Invitee]]:
    """A draft with its invitees, waiting."""
    _check_method(body.method)
    locale = canonical_locale(body.locale, "/locale") if body.locale else await tenant_default(session, actor)
    owner_member_id = await _owner(session, actor, body.owner_member_id)
    contact_id, exchange_id = await _links(
        session, actor, body.contact_id, body.exchange_id, check_contact=True, check_exchange=True
    )
    people = await invitees.resolve_all(session, actor, body.invitees)
    invitees.check_method(body.method, people)
    now = utcnow()
    dossier = Dossier(
        id=uuid7(),
        tenant_id=actor.tenant_id,
        name=body.name,
        method=body.method,
        locale=locale,
        reminder_in=body.reminder_in,
        expires_in=body.expires_in,
        state=DossierState.DRAFT,
        state_changed_at=now,
        owner_member_id=owner_member_id,
        contact_id=contact_id,
        exchange_id=exchange_id,
        created_by=actor.principal,
        created_at=now,
        updated_at=now,
    )
    session.add(dossier)
    await session.flush()
    added = invitees.add(session, actor, dossier, people)
    await session.flush()
    await audit.record(
        session,
        actor,
        "signing.dossier.created",
        target_type="dossier",
        target_id=dossier.id,
        data={**_ids(dossier), "method": str(dossier.method), "invitees": len(added)},
    )
    await jobs.emit(session, events.DOSSIER_CREATED, _event(dossier, actor), tenant_id=actor.tenant_id)
    return dossier, added


async def get(session: AsyncSession, actor: Actor, dossier_id: UUID) -> tuple[Dossier, list[Invitee]]:
    dossier = await access.load_dossier(session, actor, dossier_id)
    return dossier, await invitees.of_dossier(session, actor, dossier)


async def list_dossiers(
    session: AsyncSession, actor: Actor, paging: Paging, criteria: DossierFilter
) -> Slice[tuple[Dossier, list[Invitee]]]:
    """The dossiers the actor sees, newest first unless Ascending (UUIDv7: creation order)."""
    stmt = scoped(select(Dossier), actor).where(access.visible_dossiers(actor))
    if criteria.state is not None:
        stmt = stmt.where(Dossier.state == criteria.state)
    if criteria.contact_id is not None:
        stmt = stmt.where(Dossier.contact_id == criteria.contact_id)
    if criteria.owner_member_id is not None:
        stmt = stmt.where(Dossier.owner_member_id == criteria.owner_member_id)
    if criteria.created_from is not None:
        stmt = stmt.where(Dossier.created_at >= criteria.created_from)
    if criteria.created_to is not None:
        stmt = stmt.where(Dossier.created_at < criteria.created_to)
    order = Dossier.id.asc() if paging.sort_order is SortOrder.ASCENDING else Dossier.id.desc()
    found = await paginate(session, stmt, paging, order)
    dossiers: list[Dossier] = found.items
    people = await access.invitees_of(session, actor, [dossier.id for dossier in dossiers])
    return paging.page_of([(dossier, people[dossier.id]) for dossier in dossiers], found.total_count)


def _require_draft(dossier: Dossier) -> None:
    if dossier.state != DossierState.DRAFT:
        raise DossierNotDraft(state=str(dossier.state))


UPDATE_LABELS = (
    "name",
    "method",
    "locale",
    "reminderIn",
    "expiresIn",
    "contactId",
    "exchangeId",
    "ownerMemberId",
)


def _snapshot(dossier: Dossier) -> tuple[object, ...]:
    return (
        dossier.name,
        dossier.method,
        dossier.locale,
        dossier.reminder_in,
        dossier.expires_in,
        dossier.contact_id,
        dossier.exchange_id,
        dossier.owner_member_id,
    )


async def update(
    session: AsyncSession, actor: Actor, dossier_id: UUID, body: DossierUpdate, *, concurrency_token: str | None
) -> tuple[Dossier, list[Invitee]]:
    """Change a draft; fields left out stay. `invitees` replaces the list (kept by id)."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    ConcurrencyTokenMismatch.check(concurrency_token, dossier.concurrency_token)
    _require_draft(dossier)
    given = body.model_fields_set
    before = _snapshot(dossier)
    if "name" in given and body.name is not None:
        dossier.name = body.name
    if "method" in given and body.method is not None:
        _check_method(body.method)
        dossier.method = body.method
    if "locale" in given:
        locale = body.locale
        dossier.locale = canonical_locale(locale, "/locale") if locale else await tenant_default(session, actor)
    if "reminder_in" in given:
        dossier.reminder_in = body.reminder_in
    if "expires_in" in given:
        dossier.expires_in = body.expires_in or DEFAULT_EXPIRES_IN
    if "owner_member_id" in given and body.owner_member_id != dossier.owner_member_id:
        if body.owner_member_id is None:
            raise OwnerMemberRequired("/ownerMemberId")
        dossier.owner_member_id = await _owner(session, actor, body.owner_member_id)
    if "contact_id" in given or "exchange_id" in given:
        dossier.contact_id, dossier.exchange_id = await _links(
            session,
            actor,
            body.contact_id if "contact_id" in given else dossier.contact_id,
            body.exchange_id if "exchange_id" in given else dossier.exchange_id,
            check_contact="contact_id" in given,
            check_exchange="exchange_id" in given,
        )
    current = await invitees.of_dossier(session, actor, dossier)
    replaced = None
    if body.invitees is not None:
        people = await invitees.resolve_all(session, actor, body.invitees)
        invitees.check_method(Method(dossier.method), people)
        replaced = await invitees.replace(session, actor, dossier, current, people)
        current = replaced.invitees
    elif before[1] != dossier.method:
        invitees.check_method(Method(dossier.method), current, "/method")
    changed = [label for label, old, new in zip(UPDATE_LABELS, before, _snapshot(dossier), strict=True) if old != new]
    moved = replaced is not None and (replaced.added or replaced.changed or replaced.removed)
    if not changed and not moved:
        return dossier, current
    # A change to the invitees alone must still move the dossier's concurrency token.
    dossier.updated_at = utcnow()
    await session.flush()
    data: dict[str, object] = {"changed": changed}
    if replaced is not None:
        data["invitees"] = {"added": replaced.added, "changed": replaced.changed, "removed": replaced.removed}
    await audit.record(
        session, actor, "signing.dossier.updated", target_type="dossier", target_id=dossier.id, data=data
    )
    return dossier, current


async def delete(session: AsyncSession, actor: Actor, dossier_id: UUID, *, concurrency_token: str | None) -> None:
    """Delete a draft, with its invitees and documents."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    ConcurrencyTokenMismatch.check(concurrency_token, dossier.concurrency_token)
    _require_draft(dossier)
    event = _event(dossier, actor)
    ids = _ids(dossier)
    await documents.discard_all(session, actor, dossier)
    session.expunge(dossier)
    # The invitees and documents go with it (ON DELETE CASCADE), and whatever hangs on them.
    await session.execute(scoped(delete_rows(Dossier), actor).where(Dossier.id == dossier_id))
    await audit.record(session, actor, "signing.dossier.deleted", target_type="dossier", target_id=dossier_id, data=ids)
    await jobs.emit(session, events.DOSSIER_DELETED, event, tenant_id=actor.tenant_id)


async def cancel(
    session: AsyncSession, actor: Actor, dossier_id: UUID, reason: str, *, concurrency_token: str | None
) -> tuple[Dossier, list[Invitee]]:
    """pending → cancelled, with the reason; the invitees can no longer act on it."""
    dossier = await access.load_dossier(session, actor, dossier_id, for_update=True)
    ConcurrencyTokenMismatch.check(concurrency_token, dossier.concurrency_token)
    if dossier.state != DossierState.PENDING:
        raise DossierNotPending(state=str(dossier.state))
    dossier.cancel_reason = reason
    await lifecycle.transition(session, actor, dossier, DossierState.CANCELLED, data={"reason": reason})
    return dossier, await invitees.of_dossier(session, actor, dossier)
