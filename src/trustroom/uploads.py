"""Multipart uploads read as a stream: each part goes to a sink chunk by chunk, so an
upload of any size passes through in bounded memory and never lands on disk in clear
(Starlette's form parser would spool large parts to temporary files)."""

from __future__ import annotations

from typing import Any, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from .errors import MultipartInvalid, UnsupportedMediaType

MULTIPART = "multipart/form-data"
# The OpenAPI request body of a route that takes one file as the multipart part `file`.
FILE_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                },
            }
        },
    }
}


class PartSink(Protocol):
    async def begin(self, name: str, filename: str | None, content_type: str | None) -> None: ...

    async def data(self, chunk: bytes) -> None: ...

    async def end(self) -> None: ...


class _Events:
    """The parser's callbacks, collected per fed chunk and then replayed to the async sink."""

    def __init__(self) -> None:
        # ("begin", headers) | ("data", bytes) | ("end", None)
        self.queue: list[tuple[str, object]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self.queue.append(("data", bytes(data[start:end]))),
            "on_part_end": lambda: self.queue.append(("end", None)),
        }

    def _header_end(self) -> None:
        # Bytes as latin-1, one character each, as the header parser expects; names in
        # UTF-8 come back from it as bytes and are decoded as UTF-8 there.
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self.queue.append(("begin", dict(self._headers)))
        self._headers.clear()


async def read_multipart(request: Request, sink: PartSink, *, max_parts: int = 20) -> int:
    """Feed every part of a multipart/form-data body to `sink`; answers the number of parts."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type.decode("latin-1") != MULTIPART:
        raise UnsupportedMediaType(content_type=content_type.decode("latin-1") or "-", accepted=MULTIPART)
    boundary = params.get(b"boundary")
    if not boundary:
        raise MultipartInvalid(reason="no boundary")
    events = _Events()
    parser = MultipartParser(boundary, events.callbacks())  # type: ignore[arg-type]
    parts = 0
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            parts += await _replay(events, sink)
            if parts > max_parts:
                raise MultipartInvalid(reason=f"more than {max_parts} parts")
        parser.finalize()
    except MultipartParseError as exc:
        raise MultipartInvalid(reason=str(exc) or "malformed") from exc
    parts += await _replay(events, sink)
    return parts


async def _replay(events: _Events, sink: PartSink) -> int:
    begun = 0
    pending = bytearray()
    for kind, value in events.queue:
        if isinstance(value, bytes):
            pending += value
            continue
        if pending:
            await sink.data(bytes(pending))
            pending.clear()
        if kind == "begin":
            headers = value if isinstance(value, dict) else {}
            _, disposition = parse_options_header(headers.get("content-disposition", ""))
            name = disposition.get(b"name", b"").decode("utf-8", "replace")
            filename = disposition.get(b"filename")
            await sink.begin(
                name, filename.decode("utf-8", "replace") if filename else None, headers.get("content-type")
            )
            begun += 1
        else:
            await sink.end()
    if pending:
        await sink.data(bytes(pending))
    events.queue.clear()
    return begun
