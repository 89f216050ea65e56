"""A dossier's invitees as given: completed from their contacts, checked against the
dossier's method, and written as the dossier's list (kept by id while it is a draft)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...clients.errors import ContactNotFound
from ...clients.models import RecordKind
from ...clients.service import access as client_access
from ...clients.service import cards
from ...db import scoped, utcnow, uuid7
from ...errors import json_pointer
from ..errors import (
    AuthenticationMethodRequired,
    EmailRequired,
    InviteeNameRequired,
    InviteeNotFound,
    InviteeRepeated,
    PhoneNumberRequired,
    at,
)
from ..models import AuthenticationMethod, Dossier, Invitee, InviteeRole, Method
from ..schemas.dossiers import InviteeWrite
from .locales import canonical_locale


@dataclass(frozen=True)
class Person:
    """An invitee's values, ready for its row."""

    id: UUID | None
    name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone_number: str | None
    locale: str | None
    role: InviteeRole
    position: int
    authentication_methods: list[str]
    reference: str | None
    contact_id: UUID | None


def pointer(index: int, *field: str) -> str:
    return json_pointer("invitees", index, *field)


async def resolve(session: AsyncSession, actor: Actor, given: InviteeWrite, index: int) -> Person:
    """The invitee as given, with what it leaves out taken from its contact's verified card
    (what the body gives wins, as for exchanges)."""
    first, last = given.first_name, given.last_name
    email = str(given.email) if given.email else None
    phone = given.phone_number
    if given.contact_id is not None:
        try:
            record = await client_access.load(session, actor, RecordKind.CONTACT, given.contact_id)
        except ContactNotFound as error:
            raise at(error, pointer(index, "contactId")) from None
        card = await cards.card(session, actor, record)
        if given.name is None:
            first = first or (card.first_name or "")[:100] or None
            last = last or (card.last_name or "")[:100] or None
        email = email or card.email
        phone = phone or card.mobile_number
    name = given.name or (f"{first} {last}" if first and last else None)
    if name is None:
        raise InviteeNameRequired(pointer(index, "name"))
    methods = [str(method) for method in given.authentication_methods]
    if AuthenticationMethod.OTP_EMAIL in methods and not email:
        raise EmailRequired(pointer(index, "email"))
    if AuthenticationMethod.OTP_SMS in methods and not phone:
        raise PhoneNumberRequired(pointer(index, "phoneNumber"))
    return Person(
        id=given.id,
        name=name[:200],
        first_name=first,
        last_name=last,
        email=email,
        phone_number=phone,
        locale=canonical_locale(given.locale, pointer(index, "locale")) if given.locale else None,
        role=given.role,
        position=given.position,
        authentication_methods=methods,
        reference=given.reference,
        contact_id=given.contact_id,
    )


async def resolve_all(session: AsyncSession, actor: Actor, given: Sequence[InviteeWrite]) -> list[Person]:
    return [await resolve(session, actor, invitee, index) for index, invitee in enumerate(given)]


def check_method(method: Method, people: Sequence[Person | Invitee], where: str | None = None) -> None:
    """An aes signer proves who they are before signing: at least one authentication method.
    `where` names the place to blame when the invitees were not in the request."""
    if method is not Method.AES:
        return
    for index, person in enumerate(people):
        if person.role == InviteeRole.SIGNER and not person.authentication_methods:
            raise AuthenticationMethodRequired(where if where is not None else pointer(index, "authenticationMethods"))


def _fill(invitee: Invitee, person: Person, ordinal: int) -> None:
    invitee.ordinal = ordinal
    invitee.name = person.name
    invitee.first_name = person.first_name
    invitee.last_name = person.last_name
    invitee.email = person.email
    invitee.phone_number = person.phone_number
    invitee.locale = person.locale
    invitee.role = person.role
    invitee.position = person.position
    invitee.authentication_methods = list(person.authentication_methods)
    invitee.reference = person.reference
    invitee.contact_id = person.contact_id


def add(session: AsyncSession, actor: Actor, dossier: Dossier, people: Sequence[Person]) -> list[Invitee]:
    """New invitees of a new dossier, waiting, in the order given."""
    if any(person.id is not None for person in people):
        index = next(i for i, person in enumerate(people) if person.id is not None)
        raise InviteeNotFound(pointer(index, "id"))
    now = utcnow()
    added = []
    for ordinal, person in enumerate(people):
        invitee = Invitee(id=uuid7(), tenant_id=actor.tenant_id, dossier_id=dossier.id, state_changed_at=now)
        _fill(invitee, person, ordinal)
        session.add(invitee)
        added.append(invitee)
    return added


@dataclass(frozen=True)
class Replaced:
    invitees: list[Invitee]
    added: int
    changed: int
    removed: int


async def replace(
    session: AsyncSession, actor: Actor, dossier: Dossier, current: Sequence[Invitee], people: Sequence[Person]
) -> Replaced:
    """The draft's invitees become `people`: those with an id are kept (their id, state and
    whatever hangs on them) and changed, those without are added, the others removed."""
    existing = {invitee.id: invitee for invitee in current}
    seen: set[UUID] = set()
    now = utcnow()
    kept, added, changed = [], 0, 0
    for ordinal, person in enumerate(people):
        before: tuple[object, ...] | None = None
        if person.id is None:
            invitee = Invitee(id=uuid7(), tenant_id=actor.tenant_id, dossier_id=dossier.id, state_changed_at=now)
            session.add(invitee)
            added += 1
        elif person.id in seen:
            raise InviteeRepeated(pointer(ordinal, "id"))
        elif person.id not in existing:
            raise InviteeNotFound(pointer(ordinal, "id"))
        else:
            invitee = existing[person.id]
            before = _values(invitee)
            seen.add(person.id)
        _fill(invitee, person, ordinal)
        if before is not None and _values(invitee) != before:
            changed += 1
        kept.append(invitee)
    gone = [invitee.id for invitee in current if invitee.id not in seen]
    if gone:
        for invitee in current:
            if invitee.id in gone:
                session.expunge(invitee)
        await session.execute(scoped(delete(Invitee), actor).where(Invitee.id.in_(gone)))
    await session.flush()
    return Replaced(kept, added, changed, len(gone))


def _values(invitee: Invitee) -> tuple[object, ...]:
    return (
        invitee.ordinal,
        invitee.name,
        invitee.first_name,
        invitee.last_name,
        invitee.email,
        invitee.phone_number,
        invitee.locale,
        invitee.role,
        invitee.position,
        tuple(invitee.authentication_methods),
        invitee.reference,
        invitee.contact_id,
    )


async def of_dossier(session: AsyncSession, actor: Actor, dossier: Dossier) -> list[Invitee]:
    return list(
        await session.scalars(
            scoped(select(Invitee), actor).where(Invitee.dossier_id == dossier.id).order_by(Invitee.ordinal)
        )
    )
