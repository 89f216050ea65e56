"""Where sealed blob content lives. Only ciphertext ever reaches a store.

A store is synchronous and file-like on purpose: the streaming AEAD writes to and reads
from file objects, and callers run it in a worker thread, off the event loop.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from ..settings import Settings


class BlobStore(Protocol):
    def create(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A file to write `name` into; visible under `name` only once the block ends without error."""

    def open(self, name: str) -> BinaryIO:
        """The stored bytes of `name`; FileNotFoundError when there are none."""

    def delete(self, name: str) -> None:
        """Remove `name`; nothing happens when it is already gone."""

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every stored name with when it was written (for the orphan sweep)."""

    def sweep_partial(self, before: datetime) -> int:
        """Drop unfinished writes last touched before `before` (a killed writer's); how many."""


class LocalBlobStore:
    """Files under one directory, two levels of fan-out, written atomically (temp + fsync + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a blob name: {name!r}")
        return self.root / name[-2:] / name[-4:-2] / name

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        final = self._path(name)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = final.with_name(f".{name}.{secrets.token_hex(4)}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory entry is.
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def open(self, name: str) -> BinaryIO:
        return self._path(name).open("rb")

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def _files(self) -> Iterator[tuple[Path, datetime]]:
        for path in self.root.glob("*/*/*"):
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                yield path, datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def stored(self) -> Iterator[tuple[str, datetime]]:
        for path, written in self._files():
            if not path.name.startswith("."):
                yield path.name, written

    def sweep_partial(self, before: datetime) -> int:
        dropped = 0
        for path, written in self._files():
            if path.name.endswith(".partial") and written < before:
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped


def store_from_settings(settings: Settings) -> BlobStore:
    if settings.storage.backend == "s3":
        from .s3 import S3BlobStore  # noqa: PLC0415 - boto3 loads only where S3 is used

        return S3BlobStore(settings.storage)
    return LocalBlobStore(settings.storage.local_path or settings.data_dir / "blobs")
