"""A real `trustroom serve` process: graceful shutdown, and logs that carry correlation ids
but never secrets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustroom.settings import Settings

from .conftest import TEST_SECRET

TRUSTROOM = Path(sys.executable).with_name("trustroom")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "TRUSTROOM_DATABASE_URL": settings.resolved_database_url,
        "TRUSTROOM_DATA_DIR": str(settings.data_dir),
        "TRUSTROOM_SECRET_KEY": TEST_SECRET,
        "TRUSTROOM_LOG_JSON": "true",
    }


def _cli(env: dict[str, str], *args: str) -> dict[str, str]:
    done = subprocess.run([str(TRUSTROOM), *args, "--json"], env=env, capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TRUSTROOM), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stderr=log, stdout=log
        )
        deadline = time.monotonic() + 90  # a loaded machine starts slowly
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, log_path.read_bytes()[-2000:]
                time.sleep(0.1)
        yield process, port, log_path
        if process.poll() is None:
            process.kill()
            process.wait()


def _unread_bytes(local: int, remote: int) -> int | None:
    """The receive queue of the server's end of a loopback connection (Linux's /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        here, there, queues = fields[1], fields[2], fields[4]
        if int(here.split(":")[1], 16) == local and int(there.split(":")[1], 16) == remote:
            return int(queues.split(":")[1], 16)
    return None


def _wait_until_the_server_has_read(connection: socket.socket) -> None:
    """Until uvicorn has read what was sent: from then on the request has its cycle, which a
    graceful shutdown lets finish; a connection whose bytes are still unread is just closed.
    A fixed sleep lost that race on a loaded machine."""
    client_port, server_port = connection.getsockname()[1], connection.getpeername()[1]
    deadline = time.monotonic() + 30
    while _unread_bytes(server_port, client_port) != 0:
        assert time.monotonic() < deadline, "the server never read the request"
        time.sleep(0.02)
    time.sleep(0.1)  # the parsed head reaches the app in the same loop turn; a margin all the same


def test_sigterm_finishes_the_request_in_flight_then_exits(
    server: tuple[subprocess.Popen[bytes], int, Path], env: dict[str, str]
) -> None:
    process, port, log_path = server
    tenant = _cli(env, "tenant", "create", "Shutdown Bank")
    key = _cli(env, "api-key", "create", "--tenant", tenant["id"], "--scope", "api-keys:write")["key"]
    body = json.dumps({"name": "made during shutdown", "scopes": ["api-keys:write"]}).encode()
    head = (
        f"POST /api/v1/api-keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nX-Correlation-Id: shutdown-1\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head + body[:10])
        _wait_until_the_server_has_read(connection)  # the request is in the app, waiting for its body
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 201 Created", answer
    created = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    # uvicorn re-raises the signal once shut down, so the exit status says "ended by SIGTERM".
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)

    log_text = log_path.read_text()
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("route") == "/api/v1/api-keys"]
    assert access and access[0]["correlationId"] == "shutdown-1" and access[0]["status"] == 201
    assert any(line["message"] == "worker stopped" for line in lines)
    for secret in (key, created["key"], TEST_SECRET):
        assert secret not in log_text
