"""Keys at rest: how the long-lived PKI keys (CAs, seal, TSA, OCSP responders) are stored.

Private keys leave the PKI only as PKCS#8 DER bytes (`export_key`), which are sealed with the
server keys (`keys.ServerKeys.seal_bytes`, bound to a context naming the row and to the
certificate's fingerprint); `seal_authority` / `open_authority` do exactly that for a CA.
Per-signer keys are never exported: `pki.issue_signer` returns a `SignerCredential` that is
used once inside a `with` block and dropped at its end.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..keys import ServerKeys
from .pki import Authority, Credential, IssuerUrls


def export_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 DER, unencrypted: the plaintext the caller hands to `ServerKeys.seal_bytes`."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def import_key(der: bytes) -> ec.EllipticCurvePrivateKey:
    """The inverse of `export_key` (after `ServerKeys.unseal_bytes`)."""
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def _seal_context(context: str, certificate: x509.Certificate) -> str:
    # Binding the certificate's fingerprint means a sealed key only opens beside its own
    # certificate: swapping the stored certificate makes the key unreadable, not misused.
    return f"{context}:{certificate.fingerprint(hashes.SHA256()).hex()}"


def seal_key(keys: ServerKeys, credential: Authority | Credential, *, context: str) -> bytes:
    """The credential's key sealed with the current server secret; store it beside the certificate."""
    return keys.seal_bytes(export_key(credential.key), context=_seal_context(context, credential.certificate))


def unseal_key(
    keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str
) -> ec.EllipticCurvePrivateKey:
    """The key sealed by `seal_key` for this certificate (checked to match it)."""
    key = import_key(keys.unseal_bytes(sealed, context=_seal_context(context, certificate)))
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError("the sealed key does not belong to this certificate")
    return key


def seal_authority(keys: ServerKeys, authority: Authority, *, context: str) -> tuple[bytes, bytes]:
    """(certificate DER, sealed key) to store for a CA; `context` names where (e.g. `signing-ca:<tenant>`)."""
    return authority.certificate.public_bytes(serialization.Encoding.DER), seal_key(keys, authority, context=context)


def resealed_key(keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str) -> bytes | None:
    """The key sealed anew under the current server secret, or None if it already is (`trustroom keys reseal`)."""
    bound = _seal_context(context, certificate)
    if keys.is_current_seal_bytes(sealed, context=bound):
        return None
    return keys.seal_bytes(keys.unseal_bytes(sealed, context=bound), context=bound)


def key_is_current(keys: ServerKeys, certificate: x509.Certificate, sealed: bytes, *, context: str) -> bool:
    """True if the key is sealed under the current server secret (`trustroom keys status`)."""
    return keys.is_current_seal_bytes(sealed, context=_seal_context(context, certificate))


def open_authority(
    keys: ServerKeys,
    certificate_der: bytes,
    sealed_key: bytes,
    *,
    context: str,
    urls: IssuerUrls,
    chain: Sequence[x509.Certificate] = (),
) -> Authority:
    certificate = x509.load_der_x509_certificate(certificate_der)
    key = unseal_key(keys, certificate, sealed_key, context=context)
    return Authority(certificate=certificate, key=key, urls=urls, chain=tuple(chain))
