"""The facts of a dossier's audit report and evidence bundle, read from the tables.

Everything is read in the caller's tenant (`scoped`): the dossier, its documents with the
original and current SHA-256, its invitees with what their signing request recorded (the
authentication methods passed, IP address, user agent), their signatures, and the audit
events about the dossier and its invitees, documents and invites, in chain order. The
times of views, signatures and declines come from those events, so the report says what
the hash-chained log says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit.models import AuditEvent
from ...auth.models import ApiKey, Member, Tenant
from ...db import scoped, utcnow
from ..evidence.facts import (
    AuditRecord,
    Authentication,
    DocumentFacts,
    DossierFacts,
    InviteeFacts,
    ReportFacts,
    SignatureFacts,
    StateChange,
)
from ..models import (
    AuthenticationMethod,
    Dossier,
    DossierDocument,
    DossierState,
    Invite,
    Invitee,
    SignatureRecord,
    SigningRequest,
)
from . import invitees as invitee_rows
from .lifecycle import DOSSIER_ACTIONS

# The audit action of reaching each dossier state (the inverse of lifecycle.DOSSIER_ACTIONS).
_STATE_OF_ACTION = {action: str(state) for state, action in DOSSIER_ACTIONS.items()}
PLATFORM_NAME = "Trustroom"  # who the system actor (the jobs) is, as people know it


async def dossier_events(session: AsyncSession, actor: Actor, dossier: Dossier) -> list[AuditEvent]:
    """The audit events about the dossier and its invitees, documents and invites, by `seq`."""
    targets = [("dossier", [dossier.id])]
    targets.append(("invitee", list(await session.scalars(_ids(Invitee, actor, dossier)))))
    targets.append(("dossierDocument", list(await session.scalars(_ids(DossierDocument, actor, dossier)))))
    targets.append(("invite", list(await session.scalars(_ids(Invite, actor, dossier)))))
    conditions = [
        (AuditEvent.target_type == kind) & AuditEvent.target_id.in_([str(i) for i in ids])
        for kind, ids in targets
        if ids
    ]
    rows = await session.scalars(scoped(select(AuditEvent), actor).where(or_(*conditions)).order_by(AuditEvent.seq))
    return list(rows)


def _ids(model: Any, actor: Actor, dossier: Dossier) -> Any:
    return scoped(select(model.id), actor).where(model.dossier_id == dossier.id)


async def _actor_names(session: AsyncSession, actor: Actor, events: Sequence[AuditEvent]) -> dict[tuple[str, str], str]:
    """(actor kind, actor id) → a name people know: a member's, an invitee's, an API key's."""
    wanted: dict[str, set[UUID]] = {}
    for event in events:
        if event.actor_id is not None:
            wanted.setdefault(event.actor_kind, set()).add(UUID(event.actor_id))
        if event.api_key_id is not None:
            wanted.setdefault(ActorKind.APP, set()).add(UUID(event.api_key_id))
    names: dict[tuple[str, str], str] = {}
    sources = (
        (ActorKind.MEMBER, Member.id, Member.display_name),
        (ActorKind.SIGNER, Invitee.id, Invitee.name),
        (ActorKind.APP, ApiKey.id, ApiKey.name),
    )
    for kind, id_column, name_column in sources:
        if wanted.get(kind):
            found = await session.execute(
                scoped(select(id_column, name_column), actor).where(id_column.in_(wanted[kind]))
            )
            names.update({(str(kind), str(row_id)): name for row_id, name in found})
    return names


def _actor_name(event: AuditEvent, names: dict[tuple[str, str], str]) -> str:
    if event.actor_kind == ActorKind.SYSTEM:
        return PLATFORM_NAME
    own = names.get((event.actor_kind, event.actor_id or ""))
    key = names.get((str(ActorKind.APP), event.api_key_id or ""))
    if own and key and event.actor_kind == ActorKind.MEMBER:
        return f"{own} ({key})"  # an app acting for a member
    return own or key or event.actor_kind


def _state_changes(dossier: Dossier, events: Iterable[AuditEvent]) -> tuple[StateChange, ...]:
    changes = [StateChange(dossier.created_at, str(DossierState.DRAFT))]
    changes += [
        StateChange(event.occurred_at, _STATE_OF_ACTION[event.action], event.data.get("reason"))
        for event in events
        if event.target_type == "dossier" and event.action in _STATE_OF_ACTION
    ]
    return tuple(changes)


def _moment(events: Iterable[AuditEvent], invitee: Invitee, *actions: str) -> datetime | None:
    """When the invitee first reached one of `actions` (`signing.invitee.viewed`, …)."""
    for event in events:
        if event.target_type == "invitee" and event.target_id == str(invitee.id) and event.action in actions:
            return event.occurred_at
    return None


def _authentications(invitee: Invitee, request: SigningRequest | None) -> tuple[Authentication, ...]:
    """The methods passed for the signature; the address in full (the report masks it)."""
    passed = []
    for entry in request.authentication if request is not None else []:
        method = str(entry.get("method"))
        full = invitee.phone_number if method == AuthenticationMethod.OTP_SMS else invitee.email
        at = datetime.fromisoformat(entry["verifiedAt"]) if entry.get("verifiedAt") else request.created_at  # type: ignore[union-attr]
        passed.append(Authentication(method, full or str(entry.get("destination") or ""), at))
    return tuple(passed)


def _invitee(
    invitee: Invitee,
    request: SigningRequest | None,
    signatures: list[SignatureFacts],
    events: Sequence[AuditEvent],
) -> InviteeFacts:
    declined = _moment(events, invitee, "signing.invitee.declined")
    return InviteeFacts(
        name=invitee.name,
        role=str(invitee.role),
        state=str(invitee.state),
        position=invitee.position,
        email=invitee.email,
        phone=invitee.phone_number,
        authentications=_authentications(invitee, request),
        ip=request.ip if request is not None else None,
        user_agent=request.user_agent if request is not None else None,
        viewed_at=_moment(events, invitee, "signing.invitee.viewed"),
        signed_at=_moment(events, invitee, "signing.invitee.signed", "signing.invitee.approved"),
        declined_at=declined,
        decline_reason=invitee.decline_reason if declined is not None else None,
        signatures=tuple(signatures),
    )


async def _owner(session: AsyncSession, actor: Actor, dossier: Dossier) -> str:
    found = (
        await session.execute(
            scoped(select(Member.display_name, Member.email), actor).where(Member.id == dossier.owner_member_id)
        )
    ).first()
    return f"{found[0]} <{found[1]}>" if found else str(dossier.owner_member_id)


async def report_facts(
    session: AsyncSession, actor: Actor, dossier: Dossier, *, generated_at: datetime | None = None
) -> ReportFacts:
    """Everything the audit report and the evidence bundle say about `dossier`, as of now."""
    events = await dossier_events(session, actor, dossier)
    names = await _actor_names(session, actor, events)
    provider = await session.scalar(select(Tenant.name).where(Tenant.id == dossier.tenant_id))
    documents = list(
        await session.scalars(
            scoped(select(DossierDocument), actor)
            .where(DossierDocument.dossier_id == dossier.id)
            .order_by(DossierDocument.ordinal)
        )
    )
    people = await invitee_rows.of_dossier(session, actor, dossier)
    requests = {
        row.invitee_id: row
        for row in await session.scalars(
            scoped(select(SigningRequest), actor).where(SigningRequest.dossier_id == dossier.id)
        )
    }
    file_names = {document.id: document.file_name for document in documents}
    signed: dict[UUID, list[SignatureFacts]] = {}
    for row in await session.scalars(
        scoped(select(SignatureRecord), actor)
        .where(SignatureRecord.dossier_id == dossier.id)
        .order_by(SignatureRecord.signed_at, SignatureRecord.id)
    ):
        signed.setdefault(row.invitee_id, []).append(
            SignatureFacts(
                document=file_names.get(row.document_id, str(row.document_id)),
                field=row.field_name,
                certificate_serial=row.certificate_serial.upper(),
                certificate_fingerprint=row.certificate_fingerprint,
                sealed=row.sealed,
            )
        )
    completed = dossier.state_changed_at if dossier.state == DossierState.COMPLETED else None
    return ReportFacts(
        dossier=DossierFacts(
            id=str(dossier.id),
            name=dossier.name,
            method=str(dossier.method),
            locale=dossier.locale,
            owner=await _owner(session, actor, dossier),
            provider=provider or str(dossier.tenant_id),
            state=str(dossier.state),
            created_at=dossier.created_at,
            sent_at=dossier.sent_at,
            completed_at=completed,
            state_changes=_state_changes(dossier, events),
        ),
        documents=tuple(
            DocumentFacts(
                name=document.file_name,
                pages=document.page_count,
                original_sha256=document.original_sha256,
                final_sha256=document.sha256 if completed is not None else None,
            )
            for document in documents
        ),
        invitees=tuple(
            _invitee(person, requests.get(person.id), signed.get(person.id, []), events) for person in people
        ),
        events=tuple(AuditRecord.of(event, actor=_actor_name(event, names)) for event in events),
        generated_at=generated_at or utcnow(),
    )
