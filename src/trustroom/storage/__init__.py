"""Encrypted blob storage: what a domain keeps outside the database (export files, import
files, and later documents), never stored in clear.

Envelope encryption. Each blob gets a fresh data key; its content is sealed with tink's
segmented streaming AEAD (AES256_GCM_HKDF_1MB), so it is written and read in bounded memory
and any altered byte fails the read of its segment instead of returning altered data. The
data key is stored wrapped by a key-encryption key (KEK) of the tenant and purpose, bound to
the blob id; KEKs live in the keyring (`keyring.py`), sealed with the server key.

Life cycle of a blob: its content is written (atomically visible) before the row that
points to it commits; a row may carry `expires_at`, after which the sweep deletes both the
row and the content. Destroying a KEK makes every blob under it unreadable (crypto-shredding).
"""
