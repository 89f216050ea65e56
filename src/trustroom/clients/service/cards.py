"""What another domain may take from a contact to reach the person: names and the email
and mobile that were verified (a new value waits in `channel_verifications` until its key
comes back, so the details hold only confirmed ones, or those the provider's systems set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from .. import fields
from ..models import ClientRecord, RecordKind
from . import channels, definitions


@dataclass(frozen=True)
class ContactCard:
    first_name: str | None
    last_name: str | None
    email: str | None  # verified, or None
    mobile_number: str | None  # verified, or None


def _named(details: dict[str, Any], key: str) -> str | None:
    found = next((value for pointer, value in fields.leaves(details) if pointer.rpartition("/")[2] == key), None)
    return (found.strip() or None) if isinstance(found, str) else None


async def card(session: AsyncSession, actor: Actor, record: ClientRecord) -> ContactCard:
    schema = await definitions.for_kind(session, actor, RecordKind.CONTACT)
    verified: dict[str, str] = {}
    for policy in schema.fields.values():
        value = fields.get(record.details, policy.pointer)
        # The first field of each channel that must be verified (the schema's order).
        if policy.channel and isinstance(value, str) and value:
            verified.setdefault(policy.channel, value)
    return ContactCard(
        first_name=_named(record.details, "firstName"),
        last_name=_named(record.details, "lastName"),
        email=verified.get(channels.EMAIL),
        mobile_number=verified.get(channels.MOBILE),
    )
