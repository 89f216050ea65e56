"""Channels that carry invites and reminders to invitees, chosen by name (`InviteChannel`).

`email` sends through the outbound messages; `link` leaves delivery to the provider. SMS
and WhatsApp (a later issue) are more implementations of `base.Channel` added to
`CHANNELS`; nothing else changes.
"""

from __future__ import annotations

from ..models import InviteChannel
from .base import Channel, Kind, Letter
from .email import MESSAGE_OUTCOME, EmailChannel
from .link import LinkChannel

CHANNELS: dict[InviteChannel, Channel] = {
    InviteChannel.EMAIL: EmailChannel(),
    InviteChannel.LINK: LinkChannel(),
}


def by_name(name: str) -> Channel:
    return CHANNELS[InviteChannel(name)]


__all__ = ["CHANNELS", "MESSAGE_OUTCOME", "Channel", "Kind", "Letter", "by_name"]
