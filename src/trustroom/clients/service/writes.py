"""Changing details: who may change which field, what waits for approval, and applying.

Every write goes through `submit` (an update) or `apply` (creation, import, an approved
change request). The rules, in order:

1. The candidate document must fit the schema, keep every mandatory field and name no
   field the schema lacks.
2. Disabled fields change for nobody. An app may change any other field. A member may
   not change read-only fields. A contact may change only isContactUpdatable fields.
3. A member's changes to isApprovalRequired fields go into one change request for a
   second member to review; the rest apply at once. If applying only the rest would leave
   the details invalid (say a new country without its new region), the whole change waits.
4. A new value of a requiresVerification field (email, mobile) waits until the key sent
   to it comes back (`channels.py`, `verification.py`); after approval, if it needed one.
5. Applying writes the details, one history row per field (one change set per write),
   marks stale every pending change request whose base value moved, and emits the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...auth.models import Tenant
from ...db import utcnow, uuid7
from ...errors import N_, FieldProblem
from ...jobs import service as jobs
from .. import events, fields, validation
from ..errors import (
    DetailsInvalid,
    FieldNotUpdatable,
    PendingChangeRequestExists,
    RecordAnonymized,
    UsernameNotUnique,
)
from ..fields import MISSING, Change, FieldPolicy
from ..lists import fold
from ..models import (
    ChangeRequest,
    ChangeRequestItem,
    ChangeRequestStatus,
    ChannelVerification,
    ClientRecord,
    DetailChange,
    RecordKind,
)
from ..searchtext import search_text
from . import channels, lists
from .channels import Verifier
from .definitions import LoadedSchema

DISABLED = N_("This field is disabled.")
READ_ONLY = N_("This field is read-only.")
NOT_CONTACT_UPDATABLE = N_("Contacts may not change this field themselves.")
MANDATORY = N_("This field is required.")

UPDATED_EVENT = {RecordKind.CONTACT: events.CONTACT_UPDATED, RecordKind.LEGAL_ENTITY: events.LEGAL_ENTITY_UPDATED}


@dataclass(frozen=True)
class Author:
    """Who a change is recorded under (the initiator, also when a reviewer applies it)."""

    kind: str
    id: UUID | None
    api_key_id: UUID | None

    @classmethod
    def of(cls, actor: Actor) -> Author:
        return cls(str(actor.kind), actor.id, actor.api_key_id)


@dataclass
class Outcome:
    applied: list[Change] = field(default_factory=list)
    change_request: ChangeRequest | None = None
    awaiting_verification: list[Change] = field(default_factory=list)

    @property
    def is_approval_required(self) -> bool:
        return self.change_request is not None


def subject_ids(record: ClientRecord) -> dict[str, UUID | None]:
    """`contact_id` or `legal_entity_id`, as events name the record."""
    if record.kind == RecordKind.CONTACT:
        return {"contact_id": record.id, "legal_entity_id": None}
    return {"contact_id": None, "legal_entity_id": record.id}


def display_name(details: dict[str, Any]) -> str:
    """How a record is named: a display name, else first and last name, else a name."""
    found = {pointer.rpartition("/")[2]: value for pointer, value in fields.leaves(details) if isinstance(value, str)}
    name = found.get("displayName") or " ".join(filter(None, (found.get("firstName"), found.get("lastName"))))
    return name or found.get("name", "")


def sort_name(details: dict[str, Any]) -> str:
    """The name a record sorts and is searched by: its display name, folded."""
    return fold(display_name(details))[:200]


async def check_details(
    session: AsyncSession, actor: Actor, schema: LoadedSchema, document: dict[str, Any]
) -> list[FieldProblem]:
    """Schema, mandatory fields and list values; an empty list means the document is fine."""
    problems = validation.validate(document, schema.text, schema.map, await lists.resolver(session, actor))
    reported = {problem.pointer or "" for problem in problems}
    for policy in schema.fields.values():
        at = f"{validation.DETAILS}{policy.pointer}"
        if policy.is_mandatory and fields.get(document, policy.pointer) is MISSING and at not in reported:
            problems.append(FieldProblem(at, MANDATORY, "required"))
    return problems


def refusal(actor: Actor, policy: FieldPolicy) -> str | None:
    """Why this actor may not change this field, or None when it may."""
    if policy.is_disabled:
        return DISABLED
    if actor.kind is ActorKind.MEMBER and policy.is_read_only:
        return READ_ONLY
    if actor.kind is ActorKind.CONTACT and not policy.is_contact_updatable:
        return NOT_CONTACT_UPDATABLE
    return None


def check_permitted(actor: Actor, schema: LoadedSchema, changes: Sequence[Change]) -> None:
    problems = []
    for change in changes:
        reason = refusal(actor, schema.fields[change.pointer])
        if reason is not None:
            problems.append(FieldProblem(f"{validation.DETAILS}{change.pointer}", reason, "not_updatable"))
    if problems:
        raise FieldNotUpdatable(problems)


def needs_approval(actor: Actor, policy: FieldPolicy) -> bool:
    return actor.kind is ActorKind.MEMBER and policy.is_approval_required


async def audit_contact(
    session: AsyncSession, actor: Actor, verb: str, contact_id: UUID, data: dict[str, Any] | None = None
) -> None:
    """An audit entry `clients.contact.<verb>` about one contact."""
    await audit.record(
        session, actor, f"clients.contact.{verb}", target_type="contact", target_id=contact_id, data=data or {}
    )


def needs_verification(schema: LoadedSchema, change: Change) -> bool:
    """A new email or mobile (not its removal) waits for the key sent to it."""
    return schema.fields[change.pointer].channel is not None and isinstance(change.new, str)


async def submit(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    record: ClientRecord,
    schema: LoadedSchema,
    candidate: dict[str, Any],
    *,
    comment: str | None,
) -> Outcome:
    """Update a record's details to `candidate`, under the rules above."""
    if record.anonymized_at is not None:
        raise RecordAnonymized()
    problems = await check_details(session, actor, schema, candidate)
    if problems:
        raise DetailsInvalid(problems)
    changes = fields.diff(record.details, candidate)
    check_permitted(actor, schema, changes)
    await check_username_free(session, actor, record, schema, candidate)
    held = [change for change in changes if needs_approval(actor, schema.fields[change.pointer])]
    now = [change for change in changes if change not in held]
    if held and now and await check_details(session, actor, schema, fields.apply(record.details, now)):
        held, now = changes, []  # the part alone would not be valid: everything waits
    outcome = Outcome()
    if held:
        outcome.change_request = await open_change_request(session, actor, record, held, comment=comment)
    if now:
        outcome.applied, outcome.awaiting_verification = await apply_verified(
            session, actor, verifier, record, schema, now, comment=comment
        )
    return outcome


async def apply_verified(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    record: ClientRecord,
    schema: LoadedSchema,
    changes: Sequence[Change],
    *,
    comment: str | None = None,
    change_request: ChangeRequest | None = None,
    author: Author | None = None,
) -> tuple[list[Change], list[Change]]:
    """Apply the changes, except new emails and mobiles: those wait for their key.

    Answers what was applied and what waits.
    """
    waiting = [change for change in changes if needs_verification(schema, change)]
    ready = [change for change in changes if change not in waiting]
    author = author or Author.of(actor)
    for change in waiting:
        await _hold(session, actor, verifier, record, schema, change, author, comment, change_request)
    applied = []
    if ready:
        applied = await apply(
            session, actor, record, schema, ready, comment=comment, change_request=change_request, author=author
        )
    return applied, waiting


async def _hold(
    session: AsyncSession,
    actor: Actor,
    verifier: Verifier,
    record: ClientRecord,
    schema: LoadedSchema,
    change: Change,
    author: Author,
    comment: str | None,
    change_request: ChangeRequest | None,
) -> None:
    channel = schema.fields[change.pointer].channel
    assert channel is not None and isinstance(change.new, str)
    # A newer value replaces one still waiting: only the latest key can confirm.
    await session.execute(
        delete(ChannelVerification).where(
            ChannelVerification.tenant_id == actor.tenant_id,
            ChannelVerification.record_id == record.id,
            ChannelVerification.channel == channel,
        )
    )
    verification = ChannelVerification(
        tenant_id=actor.tenant_id,
        record_id=record.id,
        channel=channel,
        path=change.pointer,
        pending_value=change.new,
        key_hash="",
        expires_at=utcnow(),
        actor_kind=author.kind,
        actor_id=author.id,
        api_key_id=author.api_key_id,
        change_request_id=change_request.id if change_request else None,
        correlation_id=actor.correlation_id,
        comment=comment,
    )
    session.add(verification)
    await session.flush()
    await channels.send_key(session, actor, verifier, record, schema, verification)
    await audit.record(
        session,
        actor,
        "clients.channel.pending",
        target_type=str(record.kind),
        target_id=record.id,
        data={"channel": channel, "path": change.pointer},
    )


async def open_change_request(
    session: AsyncSession, actor: Actor, record: ClientRecord, changes: Sequence[Change], *, comment: str | None
) -> ChangeRequest:
    pending = await session.scalar(
        select(ChangeRequest.id).where(
            ChangeRequest.tenant_id == actor.tenant_id,
            ChangeRequest.record_id == record.id,
            ChangeRequest.status == ChangeRequestStatus.PENDING,
        )
    )
    if pending is not None:
        raise PendingChangeRequestExists()
    assert actor.id is not None  # only members open change requests
    request = ChangeRequest(
        tenant_id=actor.tenant_id,
        record_id=record.id,
        status=ChangeRequestStatus.PENDING,
        initiator_member_id=actor.id,
        initiator_comment=comment,
        correlation_id=actor.correlation_id,
    )
    session.add(request)
    try:
        await session.flush()
    except IntegrityError as exc:  # another request was opened at the same moment
        raise PendingChangeRequestExists() from exc
    session.add_all(
        ChangeRequestItem(
            tenant_id=actor.tenant_id,
            change_request_id=request.id,
            path=change.pointer,
            old_value=fields.wire(change.old),
            new_value=fields.wire(change.new),
        )
        for change in changes
    )
    await session.flush()
    paths = [change.pointer for change in changes]
    await audit.record(
        session,
        actor,
        "clients.change_request.created",
        target_type="change_request",
        target_id=request.id,
        data={"recordId": str(record.id), "paths": paths},
    )
    await emit_change_request(session, actor, events.CHANGE_REQUEST_CREATED, request, record, paths)
    return request


async def emit_change_request(
    session: AsyncSession,
    actor: Actor,
    event_type: Any,
    request: ChangeRequest,
    record: ClientRecord,
    paths: list[str],
) -> None:
    data = {"change_request_id": request.id, "status": str(request.status), "paths": paths, **subject_ids(record)}
    await jobs.emit(session, event_type, data, tenant_id=actor.tenant_id)


def email_field(schema: LoadedSchema) -> FieldPolicy | None:
    return next((policy for policy in schema.fields.values() if policy.format == "email"), None)


async def _username_from_email(session: AsyncSession, actor: Actor, record: ClientRecord) -> bool:
    if record.kind != RecordKind.CONTACT:
        return False
    # Read once per session: a write asks before and after applying, an import for each record.
    memo_key = ("clients.username_from_email", actor.tenant_id)
    if memo_key not in session.info:
        coupled = await session.scalar(select(Tenant.username_from_email).where(Tenant.id == actor.tenant_id))
        session.info[memo_key] = bool(coupled)
    return bool(session.info[memo_key])


async def username_taken(session: AsyncSession, actor: Actor, username: str, *, other_than: UUID | None) -> bool:
    stmt = select(ClientRecord.id).where(ClientRecord.tenant_id == actor.tenant_id, ClientRecord.username == username)
    if other_than is not None:
        stmt = stmt.where(ClientRecord.id != other_than)
    return await session.scalar(stmt.limit(1)) is not None


async def check_username_free(
    session: AsyncSession, actor: Actor, record: ClientRecord, schema: LoadedSchema, candidate: dict[str, Any]
) -> None:
    """With usernames coupled to email, a new email must not be another contact's username."""
    policy = email_field(schema)
    if policy is None or not await _username_from_email(session, actor, record):
        return
    email = fields.get(candidate, policy.pointer)
    if isinstance(email, str) and await username_taken(session, actor, email.lower(), other_than=record.id):
        raise UsernameNotUnique()


async def apply(
    session: AsyncSession,
    actor: Actor,
    record: ClientRecord,
    schema: LoadedSchema,
    changes: Sequence[Change],
    *,
    comment: str | None = None,
    change_request: ChangeRequest | None = None,
    author: Author | None = None,
    creating: bool = False,
) -> list[Change]:
    """Write the changes with their history; stale pending requests they overtake.

    `creating`: the record is new, so nothing can be overtaken, and its creator announces
    it (`contact.created`) instead of an update."""
    record.details = fields.apply(record.details, list(changes))
    record.schema_version = schema.version
    record.sort_name = sort_name(record.details)
    record.search_text = search_text(record.details)
    policy = email_field(schema)
    if policy is not None and any(c.pointer == policy.pointer for c in changes):
        await _follow_email(session, actor, record, policy)
    author = author or Author.of(actor)
    change_set = uuid7()
    session.add_all(
        DetailChange(
            tenant_id=actor.tenant_id,
            record_id=record.id,
            change_set_id=change_set,
            path=change.pointer,
            old_value=fields.wire(change.old),
            new_value=fields.wire(change.new),
            actor_kind=author.kind,
            actor_id=author.id,
            api_key_id=author.api_key_id,
            change_request_id=change_request.id if change_request else None,
            correlation_id=actor.correlation_id,
            comment=comment,
        )
        for change in changes
    )
    await session.flush()
    paths = [change.pointer for change in changes]
    if not creating:
        await _stale_overtaken(session, actor, record, paths, keep=change_request)
        await audit.record(
            session,
            actor,
            f"clients.{record.kind}.updated",
            target_type=str(record.kind),
            target_id=record.id,
            data={"paths": paths, "changeRequestId": str(change_request.id) if change_request else None},
        )
        data = {
            **subject_ids(record),
            "paths": paths,
            "change_request_id": change_request.id if change_request else None,
            "correlation_id": actor.correlation_id,
        }
        await jobs.emit(session, UPDATED_EVENT[RecordKind(record.kind)], data, tenant_id=actor.tenant_id)
    return list(changes)


async def _follow_email(session: AsyncSession, actor: Actor, record: ClientRecord, policy: FieldPolicy) -> None:
    if not await _username_from_email(session, actor, record):
        return
    email = fields.get(record.details, policy.pointer)
    if isinstance(email, str):
        if await username_taken(session, actor, email.lower(), other_than=record.id):
            raise UsernameNotUnique()
        record.username = email.lower()


async def _stale_overtaken(
    session: AsyncSession, actor: Actor, record: ClientRecord, paths: list[str], *, keep: ChangeRequest | None
) -> None:
    """A pending request whose base value just moved can no longer be approved as made."""
    stmt = (
        select(ChangeRequest)
        .join(ChangeRequestItem, ChangeRequestItem.change_request_id == ChangeRequest.id)
        .where(
            ChangeRequest.tenant_id == actor.tenant_id,
            ChangeRequest.record_id == record.id,
            ChangeRequest.status == ChangeRequestStatus.PENDING,
            ChangeRequestItem.path.in_(paths),
        )
        .distinct()
    )
    for request in list(await session.scalars(stmt)):
        if keep is not None and request.id == keep.id:
            continue
        request.status = ChangeRequestStatus.STALE
        await session.flush()
        await emit_change_request(
            session, actor, events.CHANGE_REQUEST_STALE, request, record, await item_paths(session, request)
        )


async def item_paths(session: AsyncSession, request: ChangeRequest) -> list[str]:
    return list(
        await session.scalars(
            select(ChangeRequestItem.path)
            .where(ChangeRequestItem.change_request_id == request.id)
            .order_by(ChangeRequestItem.path)
        )
    )
