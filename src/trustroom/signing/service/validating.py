"""`POST /signing/validate`: any PDF's signatures judged offline, bounded and rate-limited.

Why bounded: pyHanko's validation is pure Python and costs about a second of CPU for a
finished dossier document (ADR 0016, consequences). It runs on worker threads, as many as
TRUSTROOM_SIGNING__VALIDATION_CONCURRENCY, each with an event loop of its own, so the
server's event loop goes on answering; each tenant may ask TRUSTROOM_SIGNING__VALIDATIONS_PER_MINUTE
times a minute. Nothing is fetched (`validation.validate` reads only the PDF's DSS), so a
foreign document cannot make the server call out.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import Executor

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...auth.service import rate_limits
from ...errors import TooManyRequests
from ...settings import Settings
from .. import pades, pdf, validation
from ..errors import BrokenPdf, TooManySignatures
from ..schemas.validation import ValidationRead, validation_read
from . import authority

MAX_SIGNATURES = 100
RATE_WINDOW_SECONDS = 60


async def admit(session: AsyncSession, actor: Actor, settings: Settings) -> pades.Trust:
    """Count the request against the tenant's limit and read what it trusts (before the upload)."""
    wait = await rate_limits.hit(
        session,
        f"signing.validate:{actor.tenant_id}",
        limit=settings.signing.validations_per_minute,
        window_seconds=RATE_WINDOW_SECONDS,
    )
    if wait is not None:
        raise TooManyRequests(wait)
    return await authority.validation_trust(session, settings, actor.tenant_id)


def _validate_here(data: bytes, trust: pades.Trust) -> list[validation.SignatureReport]:
    return asyncio.run(validation.validate(data, trust))


async def validate(data: bytes, trust: pades.Trust, executor: Executor, *, file: str = "document") -> ValidationRead:
    """Every signature and document timestamp of `data`; NotAPdf, EncryptedPdf or BrokenPdf for what is no PDF."""
    reader = pdf.open_reader(data, file=file)
    try:
        count = len(reader.embedded_signatures)
    except Exception as error:  # pyHanko's errors of a malformed signature dictionary vary
        raise BrokenPdf(f"its signatures cannot be read: {error}", file=file) from error
    if count > MAX_SIGNATURES:
        raise TooManySignatures(count=count, limit=MAX_SIGNATURES)
    loop = asyncio.get_running_loop()
    try:
        reports = await loop.run_in_executor(executor, _validate_here, data, trust)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise BrokenPdf(f"a signature cannot be read: {error}", file=file) from error
    return validation_read(hashlib.sha256(data).hexdigest(), reports)
