"""What every invite channel is: something that checks it can reach an invitee and then
delivers their invite or a reminder, inside the caller's transaction (nothing leaves before
it commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ... import i18n
from ...keys import ServerKeys
from ..models import Dossier, Invite, InviteChannel, Invitee


class Kind(StrEnum):
    INVITE = "invite"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Letter:
    """One delivery: the invite or its `reminder`-th reminder, with the link and the names
    the text shows."""

    kind: Kind
    dossier: Dossier
    invitee: Invitee
    invite: Invite
    link: str
    sender: str  # the member responsible for the dossier
    organisation: str  # the tenant
    expires_at: datetime
    reminder: int = 0

    @property
    def language(self) -> str:
        """The invitee's language, else the dossier's: de, en, fr or it."""
        return i18n.normalize(self.invitee.locale or self.dossier.locale) or "en"


class Channel(Protocol):
    name: InviteChannel
    # Whether the API answers the invite's `inviteUri` (the provider delivers it itself).
    shows_link: bool

    def check(self, invitee: Invitee, pointer: str) -> None:
        """Refuse (an AtField error at `pointer`) when the invitee cannot be reached this way."""

    async def deliver(self, session: AsyncSession, keys: ServerKeys, letter: Letter) -> UUID | None:
        """Deliver the letter; the outbound message's id when one was queued."""
