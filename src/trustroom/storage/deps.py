"""The keyring and the blob store, for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..http import get_keys, get_settings
from .blobs import BlobStore, store_from_settings
from .keyring import Keyring, SealedKeyring


def get_keyring(request: Request) -> Keyring:
    return SealedKeyring(get_keys(request))


def get_store(request: Request) -> BlobStore:
    # One per app: an S3 store holds a client with its connection pool.
    store: BlobStore | None = getattr(request.app.state, "blob_store", None)
    if store is None:
        store = request.app.state.blob_store = store_from_settings(get_settings(request))
    return store


KeyringDep = Annotated[Keyring, Depends(get_keyring)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
