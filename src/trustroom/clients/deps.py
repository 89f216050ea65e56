"""What the client-records routes take from the application besides session and actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..http import get_keys, get_settings
from .service.channels import Verifier


def get_verifier(request: Request) -> Verifier:
    return Verifier(get_keys(request), get_settings(request).clients)


VerifierDep = Annotated[Verifier, Depends(get_verifier)]
