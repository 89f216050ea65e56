"""What a signer does after opening their invite, for the pages under `/s/` and the
signer's JSON API alike: start (marks them viewed), see the dossier as they may (their own
fields editable, the others' as placeholders only), read its pages, decline with a reason,
follow their signature, and download the signed documents once the dossier is completed.
Signing itself is `requests.submit` (ADR 0018); the codes are `codes`.

Every action is audited with the signer's IP (on the actor) and user agent (in the data).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...auth.models import Member
from ...db import scoped, utcnow
from ...errors import N_
from ...i18n import translations
from ...jobs import service as jobs
from ...keys import ServerKeys
from ...messaging import service as messaging
from ...messaging.models import Channel
from ...settings import SigningSettings
from ...storage import service as storage
from ...storage.blobs import BlobStore
from ...storage.keyring import Keyring
from .. import events
from ..errors import (
    AlreadySubmitted,
    DossierNotFound,
    PageNotFound,
    SignatureImageInvalid,
    SignedDocumentsNotReady,
    SignerConsentRequired,
    ViewerCannotAct,
)
from ..models import (
    AuthenticationMethod,
    DocumentField,
    Dossier,
    DossierDocument,
    DossierState,
    Invite,
    Invitee,
    InviteeRole,
    InviteeState,
    InviteState,
    SigningRequest,
    SigningRequestState,
)
from . import codes, delivery, documents, invites, lifecycle, requests
from .locales import language_of
from .page_images import PageImages, render
from .signer_access import SignerAccess, check_open

NOTICE_PURPOSE = "signing.declined"
DECLINED_SUBJECT = N_("\u201c%(dossier)s\u201d was declined")
DECLINED_TEXT = N_(
    "Hello %(name)s,\n\n%(signer)s declined to sign \u201c%(dossier)s\u201d. The dossier is closed: nothing "
    "more will be signed in it, and you need not do anything."
)
DECLINED_TEXT_OWNER = N_(
    "Hello %(name)s,\n\n%(signer)s declined to sign \u201c%(dossier)s\u201d. The dossier is closed.\n\n"
    "Their reason: %(reason)s"
)


def language(found: SignerAccess) -> str:
    """The signer's language: the invitee's locale, else the dossier's."""
    return language_of(found.invitee.locale or found.dossier.locale)


def _facts(found: SignerAccess, user_agent: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "dossierId": str(found.dossier.id),
        "inviteId": str(found.invite.id),
        "userAgent": (user_agent or "")[:300],
        **extra,
    }


async def start(session: AsyncSession, actor: Actor, found: SignerAccess, *, user_agent: str | None) -> None:
    """The signer went on from the invite (an explicit action, never the link's GET):
    invited → viewed the first time, announced as `dossier.invite.viewed`."""
    check_open(found, utcnow())
    await audit.record(
        session,
        actor,
        "signing.invitee.opened",
        target_type="invitee",
        target_id=found.invitee.id,
        data=_facts(found, user_agent),
    )
    if found.invitee.state != InviteeState.INVITED:
        return
    await lifecycle.move_invitee(session, actor, found.invitee, InviteeState.VIEWED)
    await jobs.emit(session, events.INVITE_VIEWED, delivery.event(found.invite), tenant_id=actor.tenant_id)
    if found.invitee.role == InviteeRole.VIEWER:
        # A viewer's part ends at viewed; the next group may be waiting for nobody else.
        await invites.advance(session, actor, found.dossier)


@dataclass
class Placed:
    """A field as the signer's page draws it: where, what, and whether it is theirs."""

    field: DocumentField
    page: int
    x: float
    y: float
    width: float
    height: float
    own: bool


@dataclass
class DocumentView:
    document: DossierDocument
    fields: list[Placed] = field(default_factory=list)


@dataclass
class SignerView:
    found: SignerAccess
    documents: list[DocumentView]
    passed: set[AuthenticationMethod]
    request: SigningRequest | None

    @property
    def authenticated(self) -> bool:
        return all(AuthenticationMethod(m) in self.passed for m in self.found.invitee.authentication_methods)

    @property
    def own_fields(self) -> list[Placed]:
        return [placed for view in self.documents for placed in view.fields if placed.own]


def _place(document: DossierDocument, row: DocumentField, own: bool) -> Placed | None:
    if row.page is not None and row.x is not None and row.y is not None and row.width and row.height:
        return Placed(row, row.page, row.x, row.y, row.width, row.height, own)
    # An existing /Sig field: its place was read at upload.
    for known in document.signature_fields:
        if known.get("name") == row.field_name:
            return Placed(row, int(known["page"]), known["x"], known["y"], known["width"], known["height"], own)
    return None


async def request_of(session: AsyncSession, actor: Actor, invitee: Invitee) -> SigningRequest | None:
    found: SigningRequest | None = await session.scalar(
        scoped(select(SigningRequest), actor).where(SigningRequest.invitee_id == invitee.id)
    )
    return found


async def view(session: AsyncSession, actor: Actor, settings: SigningSettings, found: SignerAccess) -> SignerView:
    """The dossier as this signer may see it. Other invitees' fields are placeholders: where
    and what kind, never who or what they typed (nothing of theirs is stored until signed)."""
    shown = []
    for document, rows in await documents.documents_with_fields(session, actor, found.dossier):
        placed = [_place(document, row, row.invitee_id == found.invitee.id) for row in rows]
        shown.append(DocumentView(document, [p for p in placed if p is not None]))
    passed = set(await codes.passed(session, actor, settings, found.invitee))
    return SignerView(found, shown, passed, await request_of(session, actor, found.invitee))


async def page_image(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    store: BlobStore,
    images: PageImages,
    found: SignerAccess,
    document_id: UUID,
    page: int,
    width: int,
) -> tuple[DossierDocument, bytes]:
    """A page of one of the signer's dossier's documents, as the members' page route renders it."""
    document = await documents.load_document(session, actor, found.dossier, document_id)
    if page > document.page_count:
        raise PageNotFound(page=page, pages=document.page_count)
    return document, await render(session, actor, keyring, store, images, document, page, width)


async def _locked(session: AsyncSession, actor: Actor, found: SignerAccess) -> SignerAccess:
    """The signer's rows again, under the dossier's row lock (requests and jobs on one
    dossier go one after the other), checked still open."""
    dossier: Dossier | None = await session.scalar(
        scoped(select(Dossier), actor).where(Dossier.id == found.dossier.id).with_for_update()
    )
    if dossier is None:
        raise DossierNotFound()
    await session.refresh(found.invitee)
    await session.refresh(found.invite)
    locked = SignerAccess(dossier, found.invitee, found.invite)
    check_open(locked, utcnow())
    return locked


async def decline(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    found: SignerAccess,
    reason: str,
    *,
    user_agent: str | None,
) -> None:
    """The invitee declines: they and the dossier are `declined`, every other open invite
    is closed, and the others who were invited and the dossier's owner are told by email."""
    found = await _locked(session, actor, found)
    if found.invitee.role == InviteeRole.VIEWER:
        raise ViewerCannotAct()
    if await request_of(session, actor, found.invitee) is not None:
        raise AlreadySubmitted()
    await audit.record(
        session,
        actor,
        "signing.invitee.decline_submitted",
        target_type="invitee",
        target_id=found.invitee.id,
        data=_facts(found, user_agent),
    )
    await lifecycle.move_invitee(session, actor, found.invitee, InviteeState.DECLINED, reason=reason)
    found.dossier.cancel_reason = None
    await lifecycle.transition(
        session, actor, found.dossier, DossierState.DECLINED, data={"inviteeId": str(found.invitee.id)}
    )
    now = utcnow()
    for invite in await delivery.open_invites(session, actor, found.dossier.id):
        await delivery.end(session, actor, invite, InviteState.REVOKED, now)
    await _tell_others(session, actor, keys, found, reason)


async def _tell_others(session: AsyncSession, actor: Actor, keys: ServerKeys, found: SignerAccess, reason: str) -> None:
    dossier, decliner = found.dossier, found.invitee
    invited_ids = set(
        await session.scalars(
            scoped(select(Invite.invitee_id), actor).where(Invite.dossier_id == dossier.id, Invite.sent_at.is_not(None))
        )
    )
    others = await session.scalars(
        scoped(select(Invitee), actor).where(
            Invitee.dossier_id == dossier.id, Invitee.id != decliner.id, Invitee.id.in_(invited_ids)
        )
    )
    letters: list[tuple[str, str, str, str]] = [
        (person.email, person.name, language_of(person.locale or dossier.locale), DECLINED_TEXT)
        for person in others
        if person.email
    ]
    owner = await session.scalar(scoped(select(Member), actor).where(Member.id == dossier.owner_member_id))
    if owner is not None and owner.email:
        letters.append((owner.email, owner.display_name, language_of(dossier.locale), DECLINED_TEXT_OWNER))
    for address, name, lang, text in letters:
        gettext = translations(lang).gettext
        params = {"name": name, "signer": decliner.name, "dossier": dossier.name, "reason": reason}
        content = messaging.Content(address, gettext(DECLINED_SUBJECT) % params, gettext(text) % params)
        await messaging.queue(
            session,
            keys,
            tenant_id=actor.tenant_id,
            channel=Channel.EMAIL,
            content=content,
            purpose=NOTICE_PURPOSE,
            about_id=dossier.id,
        )


def decoded_signature(encoded: str | None) -> bytes | None:
    """The drawn signature's PNG bytes from base64 (a `data:image/png;base64,` prefix, as a
    canvas exports it, is accepted); what the bytes are is `requests.submit`'s check."""
    if encoded is None or not encoded.strip():
        return None
    payload = encoded.strip().removeprefix("data:image/png;base64,")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureImageInvalid("/signaturePng", limit=requests.MAX_SIGNATURE_BYTES) from error


async def sign(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    settings: SigningSettings,
    found: SignerAccess,
    *,
    values: requests.Values,
    typed_name: str | None,
    signature_png: str | None,
    consent: bool,
    consent_locale: str | None,
    user_agent: str | None,
) -> SigningRequest:
    """The signer signs (or approves): consent first, then `requests.submit` records the
    request and queues its step; a second submission answers the first request."""
    if not consent:
        raise SignerConsentRequired()
    return await requests.submit(
        session,
        actor,
        keys,
        settings,
        found.dossier,
        found.invitee,
        values=values,
        typed_name=typed_name,
        signature_png=decoded_signature(signature_png),
        consent_locale=consent_locale or language(found),
        user_agent=user_agent,
    )


@dataclass(frozen=True)
class Status:
    dossier_state: DossierState
    invitee_state: InviteeState
    request_state: SigningRequestState | None


async def status(session: AsyncSession, actor: Actor, found: SignerAccess) -> Status:
    request = await request_of(session, actor, found.invitee)
    return Status(
        DossierState(found.dossier.state),
        InviteeState(found.invitee.state),
        SigningRequestState(request.state) if request is not None else None,
    )


async def open_signed(
    session: AsyncSession, actor: Actor, keyring: Keyring, store: BlobStore, found: SignerAccess, document_id: UUID
) -> tuple[DossierDocument, storage.OpenedBlob]:
    """A signed document of a completed dossier, ready to stream (the caller notes the
    download in the audit log)."""
    document = await documents.load_document(session, actor, found.dossier, document_id)
    if found.dossier.state != DossierState.COMPLETED:
        raise SignedDocumentsNotReady()
    return document, await storage.open_blob(session, keyring, store, actor.tenant_id, document.blob_id)
