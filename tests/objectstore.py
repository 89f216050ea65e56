"""A real S3 server for the S3 blob store: moto's server mode, in its own process on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3

from trustroom.settings import StorageSettings

from .outbound import free_port

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
ACCESS = {"s3_access_key_id": "testing", "s3_secret_access_key": "testing", "s3_region": "us-east-1"}


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Its log (every request, and tracebacks) is kept for a failing test to show.
        self.log_path = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not self._up():
            assert self.process.poll() is None, "moto_server exited"
            assert time.monotonic() < deadline, "moto_server did not come up"
            time.sleep(0.1)

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - 127.0.0.1
                return True
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log, without the requests it answered 200."""
        kept = [line for line in self.log_path.read_text(errors="replace").splitlines() if '" 200 ' not in line]
        return "\n".join(kept[-lines:])

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_bucket(self) -> StorageSettings:
        """Storage settings for a fresh, empty bucket of this server."""
        bucket = f"trustroom-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        return StorageSettings.model_validate(
            {"backend": "s3", "s3_bucket": bucket, "s3_endpoint_url": self.url, "s3_prefix": "blobs/", **ACCESS}
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
