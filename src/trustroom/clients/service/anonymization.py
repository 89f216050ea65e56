"""Anonymizing contacts (GDPR erasure), and the retention holds that forbid it.

Anonymization is irreversible. For each contact: every personal-data field (and any field
the current schema no longer knows) leaves the details, mandatory ones keep a tombstone;
the username becomes `anonymized-<id>`; history and change requests lose the old and new
values of those fields and every comment; pending change requests are cancelled; waiting
verification keys, queued messages, the profile picture, external ids, legal-entity links
and stored idempotent answers (which repeat the details) are deleted. The audit entry and
the `contact.anonymized` event carry the id only.

A retention hold (AML/KYC record keeping) set on a contact refuses the whole request while
it lasts, so nothing is anonymized half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...db import IdempotencyRecord, utcnow
from ...jobs import service as jobs
from ...messaging import service as messaging
from .. import events, fields
from ..errors import ContactNotFound, RetentionHoldActive, RetentionHoldNotFound
from ..models import (
    ChangeRequest,
    ChangeRequestItem,
    ChangeRequestStatus,
    ChannelVerification,
    ClientRecord,
    DetailChange,
    ExternalConnection,
    LegalEntityAccess,
    ProfilePicture,
    RecordKind,
    RetentionHold,
)
from . import access, definitions, writes
from .definitions import LoadedSchema

TOMBSTONE = "Anonymized"


def _scrubbed(schema: LoadedSchema, details: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The details without personal data, and the pointers that were removed or replaced."""
    kept: dict[str, Any] = {}
    gone: list[str] = []
    for pointer, value in fields.leaves(details):
        policy = schema.fields.get(pointer)
        if policy is not None and not policy.is_personal_data:
            fields.put(kept, pointer, value)
            continue
        gone.append(pointer)
        if policy is not None and policy.is_mandatory and isinstance(value, str):
            fields.put(kept, pointer, TOMBSTONE)
    return kept, gone


def _is_active(hold: RetentionHold, now: datetime) -> bool:
    return hold.until is None or hold.until > now


async def anonymize(session: AsyncSession, actor: Actor, contact_ids: Sequence[UUID]) -> list[UUID]:
    """Anonymize every named contact, or none; answers those anonymized now (not before)."""
    wanted = list(dict.fromkeys(contact_ids))
    found = {
        record.id: record
        for record in await session.scalars(
            select(ClientRecord)
            .where(
                ClientRecord.tenant_id == actor.tenant_id,
                ClientRecord.kind == RecordKind.CONTACT,
                ClientRecord.id.in_(wanted),
                access.visible(actor),
            )
            .with_for_update()
        )
    }
    missing = [contact_id for contact_id in wanted if contact_id not in found]
    if missing:
        raise ContactNotFound()
    now = utcnow()
    holds = await session.scalars(
        select(RetentionHold).where(RetentionHold.tenant_id == actor.tenant_id, RetentionHold.record_id.in_(wanted))
    )
    held = sorted(str(hold.record_id) for hold in holds if _is_active(hold, now))
    if held:
        raise RetentionHoldActive(ids=", ".join(held))
    schema = await definitions.for_kind(session, actor, RecordKind.CONTACT)
    done = []
    for contact_id in wanted:
        record = found[contact_id]
        if record.anonymized_at is None:
            await _anonymize(session, actor, schema, record, now)
            done.append(contact_id)
    if done:
        await jobs.emit(session, events.CONTACT_ANONYMIZED, {"contact_ids": done}, tenant_id=actor.tenant_id)
    return done


async def _anonymize(
    session: AsyncSession, actor: Actor, schema: LoadedSchema, record: ClientRecord, now: datetime
) -> None:
    details, gone = _scrubbed(schema, record.details)
    record.details = details
    record.username = f"anonymized-{record.id}"
    record.sort_name = ""
    record.search_text = ""  # found by no part of what it was
    record.anonymized_at = now
    await session.flush()
    tenant, record_id = actor.tenant_id, record.id
    personal = or_(DetailChange.path.in_(gone), DetailChange.path.not_in(list(schema.fields)))
    await session.execute(
        update(DetailChange)
        .where(DetailChange.tenant_id == tenant, DetailChange.record_id == record_id, personal)
        .values(old_value=None, new_value=None)
    )
    await session.execute(
        update(DetailChange)
        .where(DetailChange.tenant_id == tenant, DetailChange.record_id == record_id)
        .values(comment=None)
    )
    requests = select(ChangeRequest.id).where(ChangeRequest.tenant_id == tenant, ChangeRequest.record_id == record_id)
    await session.execute(
        update(ChangeRequestItem)
        .where(
            ChangeRequestItem.tenant_id == tenant,
            ChangeRequestItem.change_request_id.in_(requests),
            or_(ChangeRequestItem.path.in_(gone), ChangeRequestItem.path.not_in(list(schema.fields))),
        )
        .values(old_value=None, new_value=None)
    )
    await session.execute(
        update(ChangeRequest)
        .where(ChangeRequest.tenant_id == tenant, ChangeRequest.record_id == record_id)
        .values(initiator_comment=None, review_comment=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ChangeRequest)
        .where(
            ChangeRequest.tenant_id == tenant,
            ChangeRequest.record_id == record_id,
            ChangeRequest.status == ChangeRequestStatus.PENDING,
        )
        .values(status=ChangeRequestStatus.CANCELLED, version=ChangeRequest.version + 1)
        .execution_options(synchronize_session=False)
    )
    for table, column in (
        (ChannelVerification, ChannelVerification.record_id),
        (ProfilePicture, ProfilePicture.record_id),
        (ExternalConnection, ExternalConnection.record_id),
        (LegalEntityAccess, LegalEntityAccess.contact_id),
    ):
        await session.execute(delete(table).where(table.tenant_id == tenant, column == record_id))
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant,
            IdempotencyRecord.location.endswith(f"/contacts/{record_id}"),  # the stored create answer
        )
    )
    await messaging.purge_about(session, tenant, record_id)
    await writes.audit_contact(session, actor, "anonymized", record_id)


# --- retention holds ----------------------------------------------------------------------


async def get_hold(session: AsyncSession, actor: Actor, contact_id: UUID) -> RetentionHold:
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id)
    hold = await session.get(RetentionHold, record.id)
    if hold is None or hold.tenant_id != actor.tenant_id:
        raise RetentionHoldNotFound()
    return hold


async def set_hold(
    session: AsyncSession, actor: Actor, contact_id: UUID, *, reason: str, until: datetime | None
) -> RetentionHold:
    record = await access.load(session, actor, RecordKind.CONTACT, contact_id, for_update=True)
    hold = await session.get(RetentionHold, record.id)
    if hold is None:
        hold = RetentionHold(tenant_id=actor.tenant_id, record_id=record.id, reason=reason, until=until)
        session.add(hold)
    else:
        hold.reason, hold.until = reason, until
    await session.flush()
    await writes.audit_contact(session, actor, "hold_set", record.id, {"until": until.isoformat() if until else None})
    return hold


async def release_hold(session: AsyncSession, actor: Actor, contact_id: UUID) -> None:
    hold = await get_hold(session, actor, contact_id)
    await session.delete(hold)
    await session.flush()
    await writes.audit_contact(session, actor, "hold_released", contact_id)
