"""The clamd client's edges, against small servers that misbehave the way clamd can."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from trustroom.exchange.clamd import BROKEN_OFF, Clamd, ScannerDown, verdict


async def _content(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 65536):
        yield b"x" * 65536


async def _serve(handle: object) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"tcp://127.0.0.1:{port}"


async def test_a_hang_up_mid_stream_from_a_live_scanner_is_not_clean() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = await reader.readuntil(b"\0")
        if command == b"zPING\0":
            writer.write(b"PONG\0")
            await writer.drain()
        writer.transport.abort()  # INSTREAM: hang up at once, answer lost

    server, url = await _serve(handle)
    async with server:
        found = await Clamd(url).scan(_content(8 * 1024 * 1024))
    assert (found.clean, found.failed, found.finding) == (False, True, BROKEN_OFF)


async def test_a_scanner_that_goes_silent_is_down() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    server, url = await _serve(handle)
    async with server:
        assert not await Clamd(url).ping()
        with pytest.raises(ScannerDown):
            await Clamd(url).scan(_content(1024 * 1024))
    assert not await Clamd("tcp://127.0.0.1:1").ping()
    assert not await Clamd("http://clamd.example").ping()
    with pytest.raises(ScannerDown):
        await Clamd("unix:///nonexistent/clamd.ctl").scan(_content(0))


def test_answers() -> None:
    assert verdict("stream: OK").clean
    assert verdict("stream: Eicar-Test-Signature FOUND").finding == "Eicar-Test-Signature"
    assert verdict("INSTREAM size limit exceeded. ERROR").failed
    assert verdict("").finding == "no answer"
