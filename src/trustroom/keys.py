"""Server keys derived from the configured secret, and from older secrets during a rotation.

Each purpose gets its own key (HKDF-SHA256 with the purpose as info), so a keyed hash of
an API key can never be confused with a CSRF token or a sealed TOTP secret.

Rotation: the current secret (`TRUSTROOM_SECRET_KEY`) hashes, seals and signs everything
new; older secrets (`TRUSTROOM_PREVIOUS_SECRET_KEYS`) are only tried when checking what was
made before. API keys move to the current secret the next time they are used, TOTP secrets
at the next sign-in or with `trustroom keys reseal` (README, Operations).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .settings import Settings

NONCE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Secret:
    """One secret and the keys derived from it, each derived once."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self.derive = cache(self._derive)
        self.aead = cache(lambda: AESGCM(self.derive("seal")))
        # A public fingerprint, stored beside what a secret hashed, so `keys status` can
        # tell what still depends on an old secret.
        self.id = self.derive("secret-id").hex()[:16]

    def _derive(self, purpose: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"trustroom", info=purpose.encode()).derive(self._secret)

    def keyed_hash(self, purpose: str, value: str) -> str:
        return hmac.new(self.derive(f"hash:{purpose}"), value.encode(), hashlib.sha256).hexdigest()


class ServerKeys:
    def __init__(self, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        self._current = _Secret(secret)
        self._ring = [self._current, *(_Secret(old) for old in previous)]

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerKeys:
        return cls(settings.secret(), settings.previous_secrets())

    @property
    def secret_id(self) -> str:
        return self._current.id

    def derive(self, purpose: str) -> bytes:
        return self._current.derive(purpose)

    def derive_all(self, purpose: str) -> list[bytes]:
        """The purpose's key under every secret, current first (to check, never to create)."""
        return [secret.derive(purpose) for secret in self._ring]

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of `value` under the purpose's key, hex; used to store keys and codes."""
        return self._current.keyed_hash(purpose, value)

    def keyed_hashes(self, purpose: str, value: str) -> list[str]:
        """The keyed hash under every secret, current first: what a stored hash may be."""
        return [secret.keyed_hash(purpose, value) for secret in self._ring]

    def seal(self, plaintext: str, *, context: str) -> str:
        """Encrypt a small secret; `context` (e.g. the row id) binds it to where it is stored."""
        nonce = os.urandom(NONCE_BYTES)
        return _b64(nonce + self._current.aead().encrypt(nonce, plaintext.encode(), context.encode()))

    def seal_bytes(self, plaintext: bytes, *, context: str) -> bytes:
        """Like `seal`, for binary content (a picture): nonce and ciphertext, raw."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._current.aead().encrypt(nonce, plaintext, context.encode())

    def unseal_bytes(self, sealed: bytes, *, context: str) -> bytes:
        return self._open(sealed, context)[0]

    def is_current_seal_bytes(self, sealed: bytes, *, context: str) -> bool:
        return self._open(sealed, context)[1]

    def unseal(self, sealed: str, *, context: str) -> str:
        return self._unseal(sealed, context)[0]

    def is_current_seal(self, sealed: str, *, context: str) -> bool:
        return self._unseal(sealed, context)[1]

    def _unseal(self, sealed: str, context: str) -> tuple[str, bool]:
        plain, current = self._open(_unb64(sealed), context)
        return plain.decode(), current

    def _open(self, raw: bytes, context: str) -> tuple[bytes, bool]:
        for secret in self._ring:
            try:
                plain = secret.aead().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
            except InvalidTag:
                continue
            return plain, secret is self._current
        raise InvalidTag("sealed with none of the configured secrets")
