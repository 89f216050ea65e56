"""Short numeric one-time codes sent by email or SMS: the client's sign-in, a contact's new
email or mobile number, a signer's authentication.

A code is kept only as a keyed hash (ServerKeys.keyed_hash under the caller's purpose),
bound to the row it was sent for, so a code is worth nothing anywhere else. Checking
compares in constant time against the hash under every server secret, so a code sent just
before a key rotation still works.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from ...db import utcnow
from ...keys import ServerKeys

DIGITS = 6


def new_code(digits: int = DIGITS) -> str:
    """A uniformly random code of `digits` decimal digits, leading zeros kept."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def _bound(bound_to: UUID | str, code: str) -> str:
    return f"{bound_to}:{code}"


def code_hash(keys: ServerKeys, purpose: str, bound_to: UUID | str, code: str) -> str:
    """What is stored for `code` sent for the row `bound_to`."""
    return keys.keyed_hash(purpose, _bound(bound_to, code))


def normalized(given: str) -> str:
    """What a person typed, without the spaces and dashes people put into codes."""
    return given.strip().replace(" ", "").replace("-", "")


def code_matches(keys: ServerKeys, purpose: str, bound_to: UUID | str, stored: str | None, given: str) -> bool:
    """Whether `given` is the code whose hash is `stored` (False when none is stored)."""
    if stored is None:
        return False
    candidates = keys.keyed_hashes(purpose, _bound(bound_to, normalized(given)))
    # Every candidate is compared, so the time taken does not say which secret matched.
    return any([hmac.compare_digest(candidate, stored) for candidate in candidates])  # noqa: C419


def seconds_until(moment: datetime, now: datetime | None = None) -> int | None:
    """Whole seconds (at least 1) until `moment`, or None when it has passed."""
    remaining = (moment - (now or utcnow())).total_seconds()
    return max(1, int(remaining + 0.999)) if remaining > 0 else None


def resend_wait(sent_at: datetime | None, resend_seconds: int, now: datetime | None = None) -> int | None:
    """Seconds until another code may follow one sent at `sent_at`; None when it may now."""
    if sent_at is None:
        return None
    return seconds_until(sent_at + timedelta(seconds=resend_seconds), now)
