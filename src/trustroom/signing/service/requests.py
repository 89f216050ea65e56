"""An invitee's "sign" (or "approve"), as the signer's side submits it (ADR 0018).

`submit` checks what the invitee may do, then records a `SigningRequest` in the caller's
transaction and queues the signing step (`signing.apply_step`) under the dossier's
concurrency key; no cryptography and no TSA on this path, so the signer's request stays
fast and does not fail when a TSA is down. The dossier's row lock orders submissions, and
the request is unique per invitee, so a double click, or two tabs at once, signs once:
the second call returns the first request.

What the invitee sends is checked against their own fields: text fields take text,
checkboxes true or false, a required one must be filled (a required checkbox ticked);
dates are set by the server when the step signs; a signer with a signature field signs
with a drawn picture (a PNG, at most `MAX_SIGNATURE_BYTES`) or a typed name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped, utcnow, uuid7
from ...errors import N_
from ...i18n import translations
from ...jobs import service as jobs
from ...jobs.service import TaskRef
from ...keys import ServerKeys
from ...settings import SigningSettings
from .. import stamp_image
from ..errors import (
    AuthenticationRequired,
    DossierEnded,
    InviteeAlreadyFinished,
    InviteeCannotSign,
    InviteNotOpenYet,
    SignatureImageInvalid,
    SignatureMissing,
    SubmittedFieldInvalid,
    SubmittedFieldRequired,
    SubmittedFieldUnknown,
)
from ..fieldkinds import FieldKind
from ..models import (
    STEP_TASK,
    DocumentField,
    Dossier,
    DossierDocument,
    DossierState,
    Invitee,
    InviteeRole,
    SigningRequest,
    dossier_concurrency_key,
)
from . import codes, delivery
from . import invitees as invitee_rows
from .locales import language_of

STEP = TaskRef(STEP_TASK)
SUBMITTED = "signing.invitee.submitted"
MAX_SIGNATURE_BYTES = stamp_image.MAX_BYTES
MAX_TEXT = 500
MAX_TYPED_NAME = 200
PNG_MAGIC = stamp_image.PNG_MAGIC

# What the invitee agrees to by signing; its SHA-256 in the consent language is recorded.
CONSENT_TEXT = N_(
    "I have read the documents and sign them electronically. I agree that my electronic signature "
    "binds me as my handwritten signature would."
)
APPROVAL_CONSENT_TEXT = N_("I have read the documents and approve them electronically.")

Values = Mapping[UUID, str | bool]


def consent_text(role: InviteeRole, locale: str) -> str:
    """The consent sentence the invitee of `role` agrees to, in the language of `locale`."""
    text = APPROVAL_CONSENT_TEXT if role == InviteeRole.APPROVER else CONSENT_TEXT
    return str(translations(language_of(locale)).gettext(text))


def consent_sha256(role: InviteeRole, locale: str) -> str:
    return hashlib.sha256(consent_text(role, locale).encode()).hexdigest()


async def find(session: AsyncSession, actor: Actor, invitee_id: UUID) -> SigningRequest | None:
    found: SigningRequest | None = await session.scalar(
        scoped(select(SigningRequest), actor).where(SigningRequest.invitee_id == invitee_id)
    )
    return found


async def fields_of_invitee(session: AsyncSession, actor: Actor, invitee: Invitee) -> list[DocumentField]:
    """The invitee's fields over every document of the dossier, in document then field order."""
    rows = await session.scalars(
        scoped(select(DocumentField), actor)
        .join(DossierDocument, DossierDocument.id == DocumentField.document_id)
        .where(DocumentField.invitee_id == invitee.id, DossierDocument.dossier_id == invitee.dossier_id)
        .order_by(DossierDocument.ordinal, DocumentField.ordinal)
    )
    return list(rows)


async def _lock(session: AsyncSession, actor: Actor, dossier_id: UUID) -> Dossier:
    # The signer reaches the dossier through the invite, not the members' access rule.
    locked: Dossier | None = await session.scalar(
        scoped(select(Dossier), actor).where(Dossier.id == dossier_id).with_for_update()
    )
    if locked is None:
        raise DossierEnded(state="deleted")
    return locked


async def _check_turn(session: AsyncSession, actor: Actor, dossier: Dossier, invitee: Invitee) -> None:
    state = DossierState(dossier.state)
    if state == DossierState.PENDING and dossier.expires_at is not None and dossier.expires_at <= utcnow():
        state = DossierState.EXPIRED  # its expiry job has not run yet
    if state != DossierState.PENDING:
        raise DossierEnded(state=str(state))
    if invitee.role not in (InviteeRole.SIGNER, InviteeRole.APPROVER):
        raise InviteeCannotSign()
    if delivery.is_done(invitee):
        raise InviteeAlreadyFinished(state=str(invitee.state))
    people = await invitee_rows.of_dossier(session, actor, dossier)
    if invitee.id not in delivery.reachable(people):
        raise InviteNotOpenYet()


def _checked_values(fields: list[DocumentField], values: Values) -> dict[str, str | bool]:
    """The values, keyed by field id, checked against the invitee's own fields."""
    by_id = {field.id: field for field in fields}
    kept: dict[str, str | bool] = {}
    for field_id, value in values.items():
        where = f"/values/{field_id}"
        field = by_id.get(field_id)
        if field is None or field.kind in (FieldKind.SIGNATURE, FieldKind.INITIALS, FieldKind.DATE):
            raise SubmittedFieldUnknown(where)
        if field.kind == FieldKind.CHECKBOX and not isinstance(value, bool):
            raise SubmittedFieldInvalid(where)
        if field.kind == FieldKind.TEXT:
            if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
                raise SubmittedFieldInvalid(where)
            value = value.strip()
        kept[str(field_id)] = value
    for field in fields:
        fillable = field.kind in (FieldKind.TEXT, FieldKind.CHECKBOX)
        if field.required and fillable and kept.get(str(field.id)) in (None, "", False):
            raise SubmittedFieldRequired(f"/values/{field.id}")
    return kept


def check_signature_image(data: bytes) -> None:
    """A drawn signature must really be a PNG, small enough to stamp (`stamp_image.check`)."""
    try:
        stamp_image.check(data)
    except stamp_image.NotASignatureImage as error:
        raise SignatureImageInvalid("/signaturePng", limit=MAX_SIGNATURE_BYTES) from error


def _signature(fields: list[DocumentField], typed_name: str | None, png: bytes | None) -> str | None:
    """The typed name to keep (stripped), after checking that a signer who signs has a way to."""
    name = typed_name.strip() if typed_name is not None else None
    if name is not None and (len(name) > MAX_TYPED_NAME or not name.isprintable()):
        raise SubmittedFieldInvalid("/typedName")
    if png is not None:
        check_signature_image(png)
    signs = any(field.kind in (FieldKind.SIGNATURE, FieldKind.INITIALS) for field in fields)
    if signs and png is None and not name:
        raise SignatureMissing("/typedName")
    return name or None


async def _authentication(
    session: AsyncSession, actor: Actor, settings: SigningSettings, invitee: Invitee
) -> list[dict[str, Any]]:
    passed = await codes.passed(session, actor, settings, invitee)
    return [
        {
            "method": str(method),
            "destination": row.destination_hint,
            "verifiedAt": row.verified_at.isoformat() if row.verified_at else None,
        }
        for method, row in sorted(passed.items())
    ]


async def submit(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: SigningSettings,
    dossier: Dossier,
    invitee: Invitee,
    *,
    values: Values,
    typed_name: str | None,
    signature_png: bytes | None,
    consent_locale: str,
    user_agent: str | None,
) -> SigningRequest:
    """Record the invitee's signature (or approval) and queue its step; the first request
    again if there is one. Refusals change nothing."""
    dossier = await _lock(session, actor, dossier.id)
    existing = await find(session, actor, invitee.id)
    if existing is not None:
        return existing
    await session.refresh(invitee)
    await _check_turn(session, actor, dossier, invitee)
    if not await codes.authenticated(session, actor, settings, invitee):
        raise AuthenticationRequired()
    fields = await fields_of_invitee(session, actor, invitee)
    kept = _checked_values(fields, values)
    name = _signature(fields, typed_name, signature_png)
    request_id = uuid7()
    request = SigningRequest(
        id=request_id,
        tenant_id=dossier.tenant_id,
        dossier_id=dossier.id,
        invitee_id=invitee.id,
        sealed_input=keys.seal(
            json.dumps({"values": kept, "typedName": name}), context=SigningRequest.input_context(request_id)
        ),
        sealed_image=(
            keys.seal_bytes(signature_png, context=SigningRequest.image_context(request_id))
            if signature_png is not None
            else None
        ),
        consent_sha256=consent_sha256(InviteeRole(invitee.role), consent_locale),
        consent_locale=consent_locale[:35],
        ip=actor.ip,
        user_agent=(user_agent or "")[:300] or None,
        authentication=await _authentication(session, actor, settings, invitee),
    )
    try:
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError:
        # Another transaction recorded this invitee's request first (the lock makes it rare).
        winner = await find(session, actor, invitee.id)
        assert winner is not None
        return winner
    event = await audit.record(
        session,
        actor,
        SUBMITTED,
        target_type="invitee",
        target_id=invitee.id,
        data={
            "dossierId": str(dossier.id),
            "requestId": str(request.id),
            "fields": sorted(kept),
            "signature": "drawn" if signature_png is not None else ("typed" if name else None),
            "consentSha256": request.consent_sha256,
            "consentLocale": request.consent_locale,
            "authentication": request.authentication,
            "userAgent": request.user_agent or "",
        },
    )
    request.audit_event_id = event.id
    await jobs.enqueue(
        session,
        STEP,
        tenant_id=dossier.tenant_id,
        concurrency_key=dossier_concurrency_key(dossier.id),
        concurrency_limit=1,
        dossierId=str(dossier.id),
        inviteeId=str(invitee.id),
    )
    await session.flush()
    return request


def opened_input(keys: ServerKeys, request: SigningRequest) -> tuple[dict[str, str | bool], str | None]:
    """The values and typed name a pending request keeps sealed."""
    if request.sealed_input is None:
        return {}, None
    opened = json.loads(keys.unseal(request.sealed_input, context=SigningRequest.input_context(request.id)))
    return dict(opened["values"]), opened.get("typedName")


def opened_image(keys: ServerKeys, request: SigningRequest) -> bytes | None:
    if request.sealed_image is None:
        return None
    return keys.unseal_bytes(request.sealed_image, context=SigningRequest.image_context(request.id))
