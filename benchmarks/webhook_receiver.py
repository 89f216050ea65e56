"""A fast webhook receiver for the benchmarks: HTTP/1.1 with keep-alive on 127.0.0.1.

It answers every POST with 200 at once and records when each `webhook-id` arrived (wall
clock, so the benchmark can compare with commit times). `GET /stats` returns
{"requests", "distinct"}; `GET /arrivals` returns {webhook-id: first arrival}; `POST
/reset` forgets everything. Runs in a process of its own, so its work never competes with
the sender's event loop.

    python benchmarks/webhook_receiver.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class Records:
    def __init__(self) -> None:
        self.requests = 0
        self.arrivals: dict[str, float] = {}

    def answer(self, method: bytes, path: bytes, headers: dict[bytes, bytes]) -> bytes:
        if method == b"POST" and path == b"/reset":
            self.requests, self.arrivals = 0, {}
            return OK
        if method == b"POST":
            self.requests += 1
            webhook_id = headers.get(b"webhook-id", b"").decode()
            self.arrivals.setdefault(webhook_id, time.time())
            return OK
        if path == b"/stats":
            body = json.dumps({"requests": self.requests, "distinct": len(self.arrivals)}).encode()
        else:
            body = json.dumps(self.arrivals).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\ncontent-type: application/json\r\n\r\n"
        return head.encode() + body


async def serve_connection(records: Records, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head[:-4].split(b"\r\n")
            method, path, _ = request_line.split(b" ", 2)
            headers = {}
            for line in lines:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if length:
                await reader.readexactly(length)
            writer.write(records.answer(method, path, headers))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    records = Records()
    server = await asyncio.start_server(lambda r, w: serve_connection(records, r, w), "127.0.0.1", port, limit=1 << 20)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
