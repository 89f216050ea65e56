"""Password checks for both portals' sign-ins: argon2id, off the event loop.

An argon2id verification takes tens of milliseconds of CPU; on the event loop it would
stall every other request of the process, so it runs on a worker thread. A sign-in with
no matching account verifies against a dummy hash, so an unknown name costs as much as
a wrong password and the answer's timing tells nothing.
"""

from __future__ import annotations

import secrets
from functools import cache

import anyio
from argon2.exceptions import VerificationError

from .members import password_hasher


async def matches(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(_matches, password_hash, password)


async def spend_like_a_check(password: str) -> None:
    """Cost what a check costs when there is no account to check against."""
    await matches(_dummy_hash(), password)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except VerificationError:
        return False


@cache
def _dummy_hash() -> str:
    return password_hasher.hash(secrets.token_urlsafe(16))
