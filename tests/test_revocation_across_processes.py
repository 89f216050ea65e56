"""Two real `trustroom serve` processes on one database: a key revoked through one fails in
the other on the very next request, although both cache authentication (ADR 0012)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from uuid import UUID

import httpx

from trustroom.auth.service import api_keys
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from .conftest import TEST_SECRET
from .factories import make_tenant

TRUSTROOM = Path(sys.executable).with_name("trustroom")
MEMBERS = "/api/v1/members?pageSize=10"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _server(settings: Settings, log_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "TRUSTROOM_DATABASE_URL": settings.resolved_database_url,
        "TRUSTROOM_DATA_DIR": str(settings.data_dir),
        "TRUSTROOM_SECRET_KEY": TEST_SECRET,
        "TRUSTROOM_LOG_JSON": "true",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        command = [str(TRUSTROOM), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
        process = subprocess.Popen(command, env=env, stderr=log, stdout=log)
        try:
            deadline = time.monotonic() + 180  # a loaded test machine starts slowly
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _issue(database: Database, keys: ServerKeys, tenant_id: UUID) -> tuple[str, str]:
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        issued = await api_keys.issue(session, tenant_id, keys, name="victim", scopes=["members:read"], expires_in=None)
        await session.commit()
    return str(issued.api_key.id), issued.secret


async def test_a_key_revoked_through_one_process_fails_at_once_in_the_other(
    settings: Settings, database: Database, keys: ServerKeys, tmp_path: Path
) -> None:
    tenant = await make_tenant(database, keys)
    with ExitStack() as stack:
        first = stack.enter_context(_server(settings, tmp_path / "first.log"))
        second = stack.enter_context(_server(settings, tmp_path / "second.log"))
        async with httpx.AsyncClient(timeout=10) as http:
            for _round in range(3):
                key_id, secret = await _issue(database, keys, tenant.id)
                victim = {"Authorization": f"Bearer {secret}"}
                for base in (first, second, first, second):  # both processes have it cached
                    assert (await http.get(base + MEMBERS, headers=victim)).status_code == 200
                revoked = await http.delete(f"{first}/api/v1/api-keys/{key_id}", headers=tenant.headers)
                assert revoked.status_code == 204
                refused = await http.get(second + MEMBERS, headers=victim)
                assert refused.status_code == 401, refused.text
                assert refused.json()["subCode"] == "ApiKeyRevoked"
                assert (await http.get(first + MEMBERS, headers=victim)).status_code == 401
            # The other keys of the tenant keep working (from a refilled cache).
            for base in (first, second):
                assert (await http.get(base + MEMBERS, headers=tenant.headers)).status_code == 200
