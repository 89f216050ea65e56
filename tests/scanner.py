"""A real ClamAV daemon (Debian's clamd) on 127.0.0.1, with a signature database of the
tests' own: a marker string counts as a virus, streams over 1 MiB are over its limit."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from .outbound import free_port

CLAMD = Path("/usr/sbin/clamd")
MARKER = b"TRUSTROOM-TEST-VIRUS-7f3c9a"
SIGNATURE = "Trustroom.Test.Marker.UNOFFICIAL"
STREAM_MAX = 1024 * 1024

# `make test` installs it (target `browser-tools`); missing, the tests fail rather than skip.
assert CLAMD.exists(), "needs Debian's clamav-daemon: run `make browser-tools`"


class ClamdServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        database = directory / "db"
        database.mkdir(parents=True, exist_ok=True)
        (database / "trustroom-test.ndb").write_text(f"Trustroom.Test.Marker:0:*:{MARKER.hex()}\n")
        config = directory / "clamd.conf"
        config.write_text(
            "\n".join(
                [
                    "Foreground yes",
                    f"DatabaseDirectory {database}",
                    f"TCPSocket {self.port}",
                    "TCPAddr 127.0.0.1",
                    f"StreamMaxLength {STREAM_MAX}",
                    "AlertExceedsMax yes",  # over the limits is not clean
                    "SelfCheck 0",
                    f"LogFile {directory / 'clamd.log'}",
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(
            [str(CLAMD), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while not self._pong():
            assert self.process.poll() is None, (directory / "clamd.log").read_text()
            assert time.monotonic() < deadline, "clamd did not come up"
            time.sleep(0.2)

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"zPING\0")
                return connection.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
