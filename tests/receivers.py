"""A real HTTP receiver on 127.0.0.1, for webhooks and the SMS gateway."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A real HTTP/1.1 server that answers from a script and records what it got: headers
    and body, arrival time, the client's port (one per connection) and the most requests
    it held at once."""

    def __init__(self, script: list[tuple[int, float]], *, pause: float = 0.0) -> None:
        self.script = script
        self.pause = pause
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrivals: list[float] = []
        # (webhook-id, arrival, answer) of every request: a message in flight twice overlaps.
        self.spans: list[tuple[str, float, float]] = []
        self.client_ports: set[int] = set()
        self.in_flight = 0
        self.most_in_flight = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows

            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was received
                    self.close_connection = True
                    return
                with lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.arrivals.append(time.monotonic())
                    receiver.client_ports.add(self.client_address[1])
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                    status, pause = receiver.script.pop(0) if receiver.script else (200, receiver.pause)
                arrived = time.monotonic()
                time.sleep(pause)
                with lock:
                    receiver.in_flight -= 1
                    receiver.spans.append((self.headers.get("webhook-id", ""), arrived, time.monotonic()))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
