"""Errors of the jobs domain."""

from __future__ import annotations

from ..errors import N_, NotFound


class JobNotFound(NotFound):
    sub_code = "JobNotFound"
    message = N_("There is no job with this id.")
