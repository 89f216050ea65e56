"""The invite token: the credential in an invite's link (`<public url>/s/<token>`) and the
bearer of the signer's JSON API.

It is derived, never stored (ADR 0017): the invite's id followed by an HMAC-SHA256, under a
key of its own derived from the server secret, over the tenant, dossier, invitee and invite
ids and the invite's random salt. So a reminder can send the very link of the invitation
(the server computes it again), a copy of the database alone yields no working link, and a
token names exactly one invite of one invitee of one dossier of one tenant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from ...keys import ServerKeys
from ..models import Invite

KEY_PURPOSE = "invite-token"
ID_BYTES = 16
MAC_BYTES = 32
SALT_BYTES = 16
TOKEN_LENGTH = 64  # base64url of 48 bytes, no padding
LINK_PATH = "/s/"


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def _message(invite: Invite) -> bytes:
    parts = (invite.tenant_id, invite.dossier_id, invite.invitee_id, invite.id, invite.token_salt)
    return "|".join(["v1", *(str(part) for part in parts)]).encode()


def token_of(keys: ServerKeys, invite: Invite) -> str:
    """The invite's token under the current server secret."""
    raw = invite.id.bytes + hmac.new(keys.derive(KEY_PURPOSE), _message(invite), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def link_of(keys: ServerKeys, invite: Invite, public_url: str) -> str:
    return f"{public_url.rstrip('/')}{LINK_PATH}{token_of(keys, invite)}"


def invite_id_of(token: str) -> tuple[UUID, bytes] | None:
    """The invite id a token names and the MAC it carries; None when it cannot be a token."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if len(raw) != ID_BYTES + MAC_BYTES:
        return None
    return UUID(bytes=raw[:ID_BYTES]), raw[ID_BYTES:]


def matches(keys: ServerKeys, invite: Invite | None, mac: bytes) -> bool:
    """Whether `mac` is the invite's under any configured secret (current or previous), in
    time that depends neither on where it differs nor on whether the invite exists."""
    message = _message(invite) if invite is not None else b""
    found = False
    for key in keys.derive_all(KEY_PURPOSE):
        found |= hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), mac)
    return found and invite is not None
