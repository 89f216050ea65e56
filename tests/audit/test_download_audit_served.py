"""A real `trustroom serve` process: downloads are audited in the background, and a
graceful stop (SIGTERM, nothing killed) writes what is still in memory; the chain verifies."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from uuid import UUID

from pydantic import SecretStr
from sqlalchemy import select

from trustroom.audit.models import AuditEvent
from trustroom.db import Database, bind_tenant
from trustroom.settings import Settings

from ..auth.test_portal_browser import TRUSTROOM
from ..conftest import TEST_SECRET
from ..exchange.conftest import exchange_body
from ..exchange.serving import served

DOWNLOADS = 40
CONTENT = b"statement of assets " * 500


async def _downloads_audited(data_dir: Path, database_url: str, tenant_id: UUID) -> list[AuditEvent]:
    settings = Settings(data_dir=data_dir, database_url=database_url, secret_key=SecretStr(TEST_SECRET))
    database = Database(settings.resolved_database_url)
    try:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant_id)
            rows = await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.tenant_id == tenant_id, AuditEvent.action == "exchange.document.downloaded"
                )
            )
            return list(rows)
    finally:
        await database.dispose()


def test_every_download_is_audited_after_a_graceful_stop(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        with server.api() as api:
            exchange = api.post("/exchanges", json=exchange_body())
            assert exchange.status_code == 201, exchange.text
            room = exchange.json()["id"]
            folder = api.post(f"/exchanges/{room}/folders", json={"name": "Reports"}).json()["id"]
            uploaded = api.post(
                f"/exchanges/{room}/folders/{folder}/documents", files={"file": ("assets.txt", CONTENT, "text/plain")}
            )
            assert uploaded.status_code == 201, uploaded.text
            url = f"/exchanges/{room}/documents/{uploaded.json()['id']}/content"
            for n in range(DOWNLOADS):
                ranged = {"Range": f"bytes={n}-{n + 99}"} if n % 4 == 0 else {}
                answer = api.get(url, headers={"X-Correlation-Id": f"download-{n}", **ranged})
                assert answer.status_code == (206 if ranged else 200), answer.text
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once shut down, so the exit status says "ended by SIGTERM".
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)

        rows = asyncio.run(_downloads_audited(tmp_path, server.database_url, UUID(server.tenant_id)))
        by_correlation = {row.correlation_id: row for row in rows}
        assert len(rows) == DOWNLOADS
        assert set(by_correlation) == {f"download-{n}" for n in range(DOWNLOADS)}
        assert by_correlation["download-4"].data["bytes"] == 100
        assert by_correlation["download-5"].data["bytes"] == len(CONTENT)
        assert {row.ip for row in rows} == {"127.0.0.1"}

        verified = subprocess.run(
            [str(TRUSTROOM), "audit", "verify", "--json"], env=server.env, capture_output=True, text=True, check=False
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["intact"] is True
