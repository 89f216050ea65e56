"""The link channel: the provider delivers `inviteUri` itself (CM.com's "include invite in
your own system"). Trustroom sends nothing: the API answer carries the link, and the events
(`dossier.invitee.state.updated` to invited, `dossier.reminder.sent` with channel `link`)
tell the provider when to deliver it or remind, through whatever channel it has."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...keys import ServerKeys
from ..models import InviteChannel, Invitee
from .base import Letter


class LinkChannel:
    name = InviteChannel.LINK
    shows_link = True

    def check(self, invitee: Invitee, pointer: str) -> None:
        return None  # anyone can be handed a link

    async def deliver(self, session: AsyncSession, keys: ServerKeys, letter: Letter) -> UUID | None:
        return None
