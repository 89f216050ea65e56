"""Errors of blob storage."""

from __future__ import annotations

from ..errors import N_, AppError


class BlobUnreadable(AppError):
    """The stored content failed authentication: altered, truncated, or its key is gone."""

    status = 500
    code = "InternalError"
    sub_code = "BlobUnreadable"
    message = N_("A stored file could not be read back intact.")
