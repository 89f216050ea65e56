"""Server keys derived from the one configured secret.

Each purpose gets its own key (HKDF-SHA256 with the purpose as info), so a keyed hash of
an API key can never be confused with a CSRF token or a sealed TOTP secret. Changing
`TRUSTROOM_SECRET_KEY` invalidates API keys, sessions and sealed secrets (README,
Operations).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cached_property

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServerKeys:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def derive(self, purpose: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"trustroom", info=purpose.encode()).derive(self._secret)

    @cached_property
    def _hash_keys(self) -> dict[str, bytes]:
        return {}

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of `value` under the purpose's key, hex; used to store keys and codes."""
        key = self._hash_keys.get(purpose)
        if key is None:
            key = self._hash_keys[purpose] = self.derive(f"hash:{purpose}")
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    @cached_property
    def _aead(self) -> AESGCM:
        return AESGCM(self.derive("seal"))

    def seal(self, plaintext: str, *, context: str) -> str:
        """Encrypt a small secret; `context` (e.g. the row id) binds it to where it is stored."""
        nonce = os.urandom(NONCE_BYTES)
        return _b64(nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode()))

    def unseal(self, sealed: str, *, context: str) -> str:
        raw = _unb64(sealed)
        return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
