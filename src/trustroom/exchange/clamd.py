"""A client for ClamAV's daemon (clamd): PING, and INSTREAM scans of content streamed to it.

Only what clamd answers OK counts as clean: anything else (a signature found, a size limit
hit, an error, an answer we do not know) is not. clamd must run with `AlertExceedsMax yes`,
or files over its limits come back OK unscanned.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNK_BYTES = 64 * 1024
PING_SECONDS = 5.0
BROKEN_OFF = "the scanner broke off the stream (over its size limits)"


class ScannerDown(Exception):
    """clamd could not be reached, or broke off without an answer."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    # The signature found, or why the scan failed; None when clean.
    finding: str | None = None
    failed: bool = False


def verdict(answer: str) -> Verdict:
    """What a clamd INSTREAM answer means, e.g. `stream: OK`, `stream: X FOUND`, `… ERROR`."""
    if answer == "stream: OK":
        return Verdict(clean=True)
    if answer.startswith("stream: ") and answer.endswith(" FOUND"):
        return Verdict(clean=False, finding=answer.removeprefix("stream: ").removesuffix(" FOUND")[:200])
    return Verdict(clean=False, finding=answer[:200] or "no answer", failed=True)


@dataclass(frozen=True)
class Clamd:
    url: str
    scan_seconds: float = 120.0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self.url)
        try:
            if parts.scheme == "unix":
                return await asyncio.open_unix_connection(parts.path)
            if parts.scheme == "tcp" and parts.hostname and parts.port:
                return await asyncio.open_connection(parts.hostname, parts.port)
        except OSError as exc:
            raise ScannerDown(str(exc) or type(exc).__name__) from exc
        raise ScannerDown(f"not a clamd address: {self.url}")

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> str:
        try:
            raw = await reader.readuntil(b"\0")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise ScannerDown(str(exc) or type(exc).__name__) from exc
        return raw.rstrip(b"\0").decode("utf-8", "replace")

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(PING_SECONDS):
                reader, writer = await self._connect()
                try:
                    writer.write(b"zPING\0")
                    await writer.drain()
                    return await self._answer(reader) == "PONG"
                finally:
                    writer.close()
        except (ScannerDown, OSError, TimeoutError):
            return False

    async def scan(self, content: AsyncIterator[bytes]) -> Verdict:
        try:
            async with asyncio.timeout(self.scan_seconds):
                reader, writer = await self._connect()
                try:
                    sent_all = await self._send(writer, content)
                    try:
                        return verdict(await self._answer(reader))
                    except ScannerDown:
                        # It hung up mid-stream and its answer (if any) was lost with the
                        # connection: alive, it refused the stream (over StreamMaxLength).
                        if not sent_all and await self.ping():
                            return Verdict(clean=False, finding=BROKEN_OFF, failed=True)
                        raise
                finally:
                    writer.close()
        except TimeoutError as exc:
            raise ScannerDown("the scan took too long") from exc

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, content: AsyncIterator[bytes]) -> bool:
        """Stream the content; False when clamd hung up before it had all of it."""
        try:
            writer.write(b"zINSTREAM\0")
            async for chunk in content:
                for start in range(0, len(chunk), CHUNK_BYTES):
                    piece = chunk[start : start + CHUNK_BYTES]
                    writer.write(struct.pack(">I", len(piece)) + piece)
                    await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
        except OSError:
            # clamd hangs up once a stream passes its StreamMaxLength, after saying so.
            return False
        return True
