"""File downloads over HTTP: single byte ranges (RFC 9110 §14), a safe Content-Disposition,
and headers that keep a browser from reading a download as a page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

from starlette.responses import StreamingResponse

from .errors import N_, AppError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(AppError):
    status = 416
    code = "RangeNotSatisfiable"
    sub_code = "RangeNotSatisfiable"
    message = N_("The requested range is outside the file.")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) of the one range asked for, or None for the whole file.

    A header we do not understand, or several ranges, is ignored (the whole file answers,
    as RFC 9110 allows); a range that starts past the end is RangeNotSatisfiable.
    """
    if not header:
        return None
    found = _RANGE.match(header.strip().replace(" ", ""))
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size
    start = int(first)
    stop = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, stop


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    error = RangeNotSatisfiable()
    error.headers["Content-Range"] = f"bytes */{size}"
    return error


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact one in RFC 8187 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def file_response(
    chunks: Callable[[int, int], AsyncIterator[bytes]],
    *,
    size: int,
    media_type: str,
    name: str,
    etag: str,
    range_header: str | None,
    if_range: str | None,
    served: Callable[[int, int], None] | None = None,
) -> StreamingResponse:
    """The whole file (200) or the range asked for (206), streamed from `chunks(start, stop)`.

    The first chunk is read before the answer starts, so content that cannot be opened
    (a damaged header, a destroyed key) is a clean error response; damage found later
    can only break off the transfer, short of its Content-Length, never alter it.
    `served(start, stop)` is told which bytes the answer carries once it is ready to go.
    """
    wanted = byte_range(range_header, size) if if_range in (None, etag) else None
    start, stop = wanted or (0, size)
    # X-Content-Type-Options: nosniff comes with every answer (web.SecurityHeaders).
    headers = {
        "Content-Length": str(stop - start),
        "Content-Disposition": content_disposition(name),
        # Should a browser ever render it, nothing in it may run or load. (No `sandbox`:
        # Chromium then refuses the download itself.)
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, no-store",
        "Accept-Ranges": "bytes",
        "ETag": etag,
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    body = chunks(start, stop)
    first = await anext(body, b"")
    if served is not None:
        served(start, stop)
    return StreamingResponse(
        _prepend(first, body), status_code=206 if wanted else 200, media_type=media_type, headers=headers
    )


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
