"""`POST /api/v1/signing/validate`: what a PDF's signatures are worth, for any PDF."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Annotated, Any

from fastapi import APIRouter, Request

from ...actor import Actor, Scope
from ...errors import MultipartInvalid, PayloadTooLarge, UnsupportedMediaType
from ...http import API_PREFIX, ApiRoute, SessionDep, SettingsDep, error_responses, require
from ...uploads import MULTIPART, read_multipart
from ..errors import BrokenPdf, EncryptedPdf, NotAPdf, PdfMissing, TooManySignatures
from ..schemas.validation import ValidationRead
from ..service import validating

PDF = "application/pdf"
SigningRead = Annotated[Actor, require(Scope.SIGNING_READ)]

router = APIRouter(
    prefix=f"{API_PREFIX}/signing", tags=["e-signatures"], route_class=ApiRoute, responses=error_responses()
)

VALIDATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            PDF: {"schema": {"type": "string", "format": "binary"}},
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                },
            },
        },
    }
}


async def _read(request: Request, limit: int) -> tuple[bytes, str]:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == MULTIPART:
        sink = _Sink(limit)
        await read_multipart(request, sink, max_parts=1)
        if not sink.body:
            raise PdfMissing()
        return bytes(sink.body), sink.name or "document"
    if content_type != PDF:
        raise UnsupportedMediaType(content_type=content_type or "-", accepted=f"{PDF}, {MULTIPART}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge()
    if not body:
        raise PdfMissing()
    return bytes(body), "document"


class _Sink:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        self.name: str | None = None

    async def begin(self, name: str, filename: str | None, content_type: str | None) -> None:
        self.name = (filename or name)[:200]

    async def data(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > self.limit:
            raise PayloadTooLarge()

    async def end(self) -> None:
        return None


@router.post(
    "/validate",
    response_model=ValidationRead,
    openapi_extra=VALIDATE_BODY,
    responses=error_responses(
        PdfMissing,
        NotAPdf,
        EncryptedPdf,
        BrokenPdf,
        TooManySignatures,
        MultipartInvalid,
        UnsupportedMediaType,
        PayloadTooLarge,
    ),
)
async def validate_pdf(
    request: Request, session: SessionDep, actor: SigningRead, settings: SettingsDep
) -> ValidationRead:
    """Judge every signature and document timestamp of a PDF (the body as `application/pdf`, or the
    `file` part of a multipart form), offline from what the PDF carries: per signature its
    field, signer, signing time, PAdES level, whether the signed bytes are intact, whether it
    is trusted (this installation's root, the tenant's CA, the configured trust roots), revoked,
    what changed after it and whether the certification allowed that. Limited per tenant and
    minute (429 with Retry-After)."""
    trust = await validating.admit(session, actor, settings)
    # The count is written and nothing is held while the upload arrives and pyHanko works
    # (on SQLite the write lock, on PostgreSQL a connection).
    await session.commit()
    data, name = await _read(request, settings.signing.validate_max_bytes)
    executor: Executor = request.app.state.validation_executor
    return await validating.validate(data, trust, executor, file=name)
