"""Contacts and legal entities: create, read, update details, usernames, external ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...auth.models import Tenant
from ...errors import ConcurrencyTokenMismatch, FieldProblem
from ...jobs import service as jobs
from .. import events, fields, validation
from ..errors import (
    ContactTypeUnknown,
    DetailsInvalid,
    ExternalConnectionNotFound,
    ExternalIdNotUnique,
    RecordAnonymized,
    UsernameCoupled,
    UsernameNotUnique,
    UsernameRequired,
)
from ..models import (
    ChangeRequest,
    ChangeRequestStatus,
    ChannelVerification,
    ClientRecord,
    ExternalConnection,
    RecordKind,
)
from . import access, advisors, channels, definitions, lists, writes
from .channels import Verifier
from .writes import Outcome

CREATED_EVENT = {RecordKind.CONTACT: events.CONTACT_CREATED, RecordKind.LEGAL_ENTITY: events.LEGAL_ENTITY_CREATED}


@dataclass(frozen=True)
class RecordView:
    record: ClientRecord
    has_pending_change_request: bool
    has_pending_email: bool
    has_pending_mobile: bool


async def create(
    session: AsyncSession,
    actor: Actor,
    kind: RecordKind,
    details: dict[str, Any],
    *,
    contact_type_id: int | None = None,
    username: str | None = None,
    correlation_id: str | None = None,
    advisor_ids: Sequence[UUID] | None = None,
    emit: bool = True,
) -> ClientRecord:
    """A new record; `advisor_ids` are its advisors, else a member who creates one is."""
    schema = await definitions.for_kind(session, actor, kind)
    problems = await writes.check_details(session, actor, schema, details)
    if problems:
        raise DetailsInvalid(problems)
    writes.check_permitted(actor, schema, fields.diff({}, details))
    if kind == RecordKind.CONTACT:
        username = await _new_username(session, actor, schema, details, username)
        ids = await lists.resolver(session, actor)
        known_types = ids(lists.CONTACT_TYPES) or {}
        if contact_type_id is None or str(contact_type_id) not in known_types:
            raise ContactTypeUnknown(contact_type_id=contact_type_id)
    record = ClientRecord(
        tenant_id=actor.tenant_id,
        kind=kind,
        contact_type_id=contact_type_id if kind == RecordKind.CONTACT else None,
        username=username if kind == RecordKind.CONTACT else None,
        details={},
        schema_version=schema.version,
        correlation_id=correlation_id or actor.correlation_id,
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise UsernameNotUnique() from exc
    if advisor_ids is not None:
        await advisors.assign_new(session, actor, record, advisor_ids)
    elif actor.kind is ActorKind.MEMBER and actor.id is not None:
        await access.assign(session, actor, record, actor.id)
    await writes.apply(session, actor, record, schema, fields.diff({}, details), creating=True)
    if emit:
        assigned = {"advisorIds": [str(member_id) for member_id in dict.fromkeys(advisor_ids)]} if advisor_ids else {}
        await audit.record(
            session, actor, f"clients.{kind}.created", target_type=str(kind), target_id=record.id, data=assigned
        )
        data = {
            **writes.subject_ids(record),
            "paths": sorted(pointer for pointer, _ in fields.leaves(details)),
            "correlation_id": record.correlation_id,
        }
        await jobs.emit(session, CREATED_EVENT[kind], data, tenant_id=actor.tenant_id)
    return record


async def _new_username(
    session: AsyncSession,
    actor: Actor,
    schema: definitions.LoadedSchema,
    details: dict[str, Any],
    username: str | None,
) -> str:
    tenant = await session.get(Tenant, actor.tenant_id)
    email_policy = writes.email_field(schema)
    if tenant is not None and tenant.username_from_email and email_policy is not None:
        email = fields.get(details, email_policy.pointer)
        if not isinstance(email, str):
            raise DetailsInvalid(
                [FieldProblem(f"{validation.DETAILS}{email_policy.pointer}", writes.MANDATORY, "required")]
            )
        username = email.lower()
    if not username:
        raise UsernameRequired()
    if await writes.username_taken(session, actor, username, other_than=None):
        raise UsernameNotUnique()
    return username


async def view(session: AsyncSession, actor: Actor, record: ClientRecord) -> RecordView:
    return (await views(session, actor, [record]))[0]


async def views(session: AsyncSession, actor: Actor, found: Sequence[ClientRecord]) -> list[RecordView]:
    """The records with what is pending on them, in two queries however many there are."""
    ids = [record.id for record in found]
    requested = set(
        await session.scalars(
            select(ChangeRequest.record_id).where(
                ChangeRequest.tenant_id == actor.tenant_id,
                ChangeRequest.record_id.in_(ids),
                ChangeRequest.status == ChangeRequestStatus.PENDING,
            )
        )
    )
    rows = await session.execute(
        select(ChannelVerification.record_id, ChannelVerification.channel).where(
            ChannelVerification.tenant_id == actor.tenant_id, ChannelVerification.record_id.in_(ids)
        )
    )
    waiting = {(record_id, channel) for record_id, channel in rows}
    return [
        RecordView(
            record,
            record.id in requested,
            has_pending_email=(record.id, channels.EMAIL) in waiting,
            has_pending_mobile=(record.id, channels.MOBILE) in waiting,
        )
        for record in found
    ]


async def get(session: AsyncSession, actor: Actor, kind: RecordKind, record_id: UUID) -> RecordView:
    return await view(session, actor, await access.load(session, actor, kind, record_id))


async def update_details(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    kind: RecordKind,
    record_id: UUID,
    details: dict[str, Any],
    *,
    partial: bool,
    comment: str | None,
    concurrency_token: str | None,
) -> Outcome:
    """PUT replaces the details; PATCH merges (RFC 7396: null removes, arrays are replaced whole)."""
    record = await access.load(session, actor, kind, record_id, for_update=True)
    await access.check_acts_for(session, actor, record)
    ConcurrencyTokenMismatch.check(concurrency_token, record.concurrency_token)
    schema = await definitions.for_kind(session, actor, kind)
    candidate = fields.merge_patch(record.details, details) if partial else details
    return await writes.submit(session, actor, verifier, record, schema, candidate, comment=comment)


# --- usernames ---------------------------------------------------------------------------


async def change_username(session: AsyncSession, actor: Actor, record_id: UUID, username: str) -> ClientRecord:
    record = await access.load(session, actor, RecordKind.CONTACT, record_id, for_update=True)
    if record.anonymized_at is not None:
        raise RecordAnonymized()
    tenant = await session.get(Tenant, actor.tenant_id)
    if tenant is not None and tenant.username_from_email:
        raise UsernameCoupled()
    if username == record.username:
        return record
    if await writes.username_taken(session, actor, username, other_than=record.id):
        raise UsernameNotUnique()
    previous = record.username
    record.username = username
    await session.flush()
    await audit.record(
        session,
        actor,
        "clients.contact.username_changed",
        target_type="contact",
        target_id=record.id,
        data={"changed": previous is not None},
    )
    return record


# --- external connections -----------------------------------------------------------------


async def connections(session: AsyncSession, actor: Actor, record_id: UUID) -> list[ExternalConnection]:
    record = await access.load(session, actor, RecordKind.CONTACT, record_id)
    return list(
        await session.scalars(
            select(ExternalConnection)
            .where(ExternalConnection.tenant_id == actor.tenant_id, ExternalConnection.record_id == record.id)
            .order_by(ExternalConnection.system, ExternalConnection.external_id)
        )
    )


async def connect(
    session: AsyncSession, actor: Actor, record: ClientRecord, system: str, external_id: str
) -> ExternalConnection:
    if record.anonymized_at is not None:
        raise RecordAnonymized()
    taken = await session.scalar(
        select(ExternalConnection).where(
            ExternalConnection.tenant_id == actor.tenant_id,
            ExternalConnection.record_kind == record.kind,
            ExternalConnection.system == system,
            ExternalConnection.external_id == external_id,
        )
    )
    if taken is not None:
        if taken.record_id == record.id:
            return taken
        raise ExternalIdNotUnique()
    connection = ExternalConnection(
        tenant_id=actor.tenant_id, record_id=record.id, record_kind=record.kind, system=system, external_id=external_id
    )
    session.add(connection)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ExternalIdNotUnique() from exc
    await audit.record(
        session,
        actor,
        "clients.external_connection.added",
        target_type=str(record.kind),
        target_id=record.id,
        data={"system": system},
    )
    return connection


async def add_connection(
    session: AsyncSession, actor: Actor, record_id: UUID, system: str, external_id: str
) -> ExternalConnection:
    record = await access.load(session, actor, RecordKind.CONTACT, record_id)
    return await connect(session, actor, record, system, external_id)


async def find_by_external_id(
    session: AsyncSession, actor: Actor, kind: RecordKind, system: str, external_id: str
) -> ClientRecord:
    found = await find_by_external_ids(session, actor, kind, system, [external_id])
    if external_id not in found:
        raise ExternalConnectionNotFound()
    return found[external_id]


async def find_by_external_ids(
    session: AsyncSession, actor: Actor, kind: RecordKind, system: str, external_ids: Sequence[str]
) -> dict[str, ClientRecord]:
    """The records the actor sees with these ids in `system`, by external id.

    Two index-driven queries (the unique external-id index, then primary keys) rather
    than one join, whose generic prepared plan can scan every record of the table.
    """
    connected = await session.execute(
        select(ExternalConnection.external_id, ExternalConnection.record_id).where(
            ExternalConnection.tenant_id == actor.tenant_id,
            ExternalConnection.record_kind == kind,
            ExternalConnection.system == system,
            ExternalConnection.external_id.in_(list(external_ids)),
        )
    )
    record_ids = dict(connected.all())
    if not record_ids:
        return {}
    found = await session.scalars(
        select(ClientRecord).where(
            ClientRecord.tenant_id == actor.tenant_id,
            ClientRecord.id.in_(list(record_ids.values())),
            access.visible(actor),
        )
    )
    by_id = {record.id: record for record in found}
    return {external_id: by_id[record_id] for external_id, record_id in record_ids.items() if record_id in by_id}
