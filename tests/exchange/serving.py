"""A real `trustroom serve` process on 127.0.0.1 with a database and data directory of its
own (so its worker runs no other test's jobs), a tenant, an API key and advisors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from trustroom.auth.models import ALL_SCOPES, Role
from trustroom.auth.service import api_keys, tenants
from trustroom.auth.service import members as member_service
from trustroom.cli import migrate
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..auth.test_portal_browser import TRUSTROOM, _free_port, _healthy
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
        # Generous: on a loaded 2-core machine, imports (pyHanko, PDFium) and start-up checks
        # alone have taken over 30 s.
        deadline = time.monotonic() + 90
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


async def _seed(settings: Settings, tenant_name: str, client_codes: str, members: list[str]) -> Served:
    """A tenant with an all-scopes API key and advisors, written straight to the database
    (each CLI run would cost seconds of imports)."""
    keys = ServerKeys.from_settings(settings)
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            tenant = await tenants.create_tenant(session, tenant_name, client_code_channel=client_codes)
            issued = await api_keys.issue(session, tenant.id, keys, name="test", scopes=ALL_SCOPES, expires_in=None)
            made = {}
            for email in members:
                new = await member_service.add(session, tenant.id, keys, email=email, role=Role.ADVISOR)
                made[email] = {
                    "id": str(new.member.id),
                    "email": email,
                    "password": new.password,
                    "totpSecret": new.totp_secret,
                }
            await session.commit()
    finally:
        await database.dispose()
    served = Served("", 0, {}, settings.data_dir, "")
    served.tenant_id, served.api_key, served.created = str(tenant.id), issued.secret, made
    return served


@contextmanager
def served(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    client_codes: str = "sms",
    members: list[str] | None = None,
) -> Iterator[Served]:
    """The server, started, with a tenant (`tenant_id`, `api_key`) and `members` (advisors,
    their credentials in `created` by email)."""
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{data_dir / 'served.db'}"
        settings = Settings(data_dir=data_dir, database_url=url, secret_key=SecretStr(TEST_SECRET))

        def prepare() -> Served:
            migrate(settings)
            return asyncio.run(_seed(settings, "Served Bank", client_codes, members or []))

        # In a thread of its own: Playwright's sync API keeps an event loop in this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            seeded = pool.submit(prepare).result()
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
        server = Served(base_url, port, full_env, data_dir, url, seeded.tenant_id, seeded.api_key, seeded.created)
        stack.callback(server.stop)
        server.start()
        yield server
