"""A real `trustroom serve` process on 127.0.0.1 with a database and data directory of its
own (so its worker runs no other test's jobs), a tenant and an API key made by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..auth.test_portal_browser import TRUSTROOM, _cli_result, _free_port, _healthy, _start_cli
from ..conftest import ON_POSTGRES, TEST_SECRET, scratch_postgres


@dataclass
class Served:
    base_url: str
    port: int
    env: dict[str, str]
    data_dir: Path
    database_url: str
    tenant_id: str = ""
    api_key: str = ""
    created: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self) -> None:
        log_path = self.data_dir / "serve.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(TRUSTROOM), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not _healthy(f"{self.base_url}/healthz"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up:\n{log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def peak_memory_bytes(self) -> int:
        """The server's peak resident memory so far (VmHWM)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(kilobytes) * 1024

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.base_url}/api/v1", headers=self.headers, timeout=120)


@contextmanager
def served(
    data_dir: Path, *, env: dict[str, str] | None = None, cli: list[list[str]] | None = None
) -> Iterator[Served]:
    """The server, started; `cli` runs (with `{tenant}` filled in) land in `created` by their first word."""
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{data_dir / 'served.db'}"
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        full_env = {key: value for key, value in os.environ.items() if not key.startswith("TRUSTROOM_")}
        full_env |= {
            "TRUSTROOM_DATABASE_URL": url,
            "TRUSTROOM_DATA_DIR": str(data_dir),
            "TRUSTROOM_SECRET_KEY": TEST_SECRET,
            "TRUSTROOM_PUBLIC_URL": base_url,
            "TRUSTROOM_AUTH__COOKIE_SECURE": "false",
            "TRUSTROOM_WORKER_POLL_SECONDS": "0.2",
            **(env or {}),
        }
        server = Served(base_url, port, full_env, data_dir, url)
        _cli_result(_start_cli(full_env, "migrate"))
        tenant_args = next((run[2:] for run in cli or [] if run[:2] == ["tenant", "create"]), ["Served Bank"])
        server.tenant_id = _cli_result(_start_cli(full_env, "tenant", "create", *tenant_args))["id"]
        runs = [_start_cli(full_env, "api-key", "create", "--tenant", server.tenant_id)]
        others = [run for run in cli or [] if run[:2] != ["tenant", "create"]]
        runs += [_start_cli(full_env, *[part.format(tenant=server.tenant_id) for part in run]) for run in others]
        stack.callback(server.stop)
        server.start()
        results = [_cli_result(run) for run in runs]
        server.api_key = results[0]["key"]
        for run, result in zip(others, results[1:], strict=True):
            server.created[run[0]] = result
        yield server
