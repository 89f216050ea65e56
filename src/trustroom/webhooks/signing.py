"""Standard Webhooks signatures (spec v1): the pure core of delivery.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; each active secret
(`whsec_` + base64 key) contributes one `v1,<base64 HMAC-SHA256>` entry to the
space-separated `webhook-signature` header, so receivers holding either the old or the new
secret verify during a rotation. Our own code never verifies signatures in tests: the
`standardwebhooks` library does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,` entry per secret, current secret first."""
    content = f"{message_id}.{timestamp}.".encode() + body
    entries = (
        "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()
        for secret in secrets
    )
    return " ".join(entries)


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt (custom headers come on top)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secrets, message_id, timestamp, body),
        "content-type": "application/json",
    }
