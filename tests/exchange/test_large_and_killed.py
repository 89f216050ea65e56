"""A real server process: 1 GiB up and down on the local and the S3 store in bounded
memory, and an upload cut short by SIGKILL leaves no document behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from trustroom.db import Database, cross_tenant, utcnow
from trustroom.storage import service as storage
from trustroom.storage.blobs import LocalBlobStore

from ..objectstore import MotoServer
from .conftest import exchange_body
from .serving import Served, served

pytestmark = pytest.mark.heavy
GIB = 1024**3
CHUNK = 1024 * 1024
BOUNDARY = "trustroom-test-boundary-7f3c"
MEMORY_BUDGET = 100 * 1024 * 1024


class Body:
    """A multipart body of `size` bytes of file content, made as it is sent (never held
    whole), hashed on the way; `pause_after` stops sending after that many bytes until
    `resume` is set."""

    def __init__(self, size: int, name: str = "large.bin", pause_after: int | None = None) -> None:
        self.size = size
        self.name = name
        self.pause_after = pause_after
        self.sent = 0
        self.digest = hashlib.sha256()
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._block = os.urandom(CHUNK)

    def __iter__(self) -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{self.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for index in range(0, self.size, CHUNK):
            chunk = index.to_bytes(8, "big") + self._block[8 : min(CHUNK, self.size - index)]
            chunk = chunk[: min(CHUNK, self.size - index)]
            self.digest.update(chunk)
            self.sent += len(chunk)
            yield chunk
            if self.pause_after is not None and self.sent >= self.pause_after:
                self.paused.set()
                self.resume.wait(timeout=60)
                raise ConnectionAbortedError("the test stops sending")
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _room(server: Served) -> tuple[str, str]:
    with server.api() as api:
        exchange = api.post("/exchanges", json=exchange_body()).json()
        folder = api.post(f"/exchanges/{exchange['id']}/folders", json={"name": "Large"}).json()
    return exchange["id"], folder["id"]


def _round_trip(server: Served, size: int) -> tuple[float, float, int]:
    """Upload `size` bytes and download them again; (upload s, download s, peak memory growth)."""
    exchange_id, folder_id = _room(server)
    url = f"/exchanges/{exchange_id}/folders/{folder_id}/documents"
    with server.api() as api:
        warm = api.post(url, files={"file": ("warm.bin", os.urandom(3 * CHUNK))})
        assert warm.status_code == 201, warm.text
        api.get(f"/exchanges/{exchange_id}/documents/{warm.json()['id']}/content").raise_for_status()
        baseline = server.peak_memory_bytes()
        body = Body(size)
        started = time.monotonic()
        response = api.post(url, content=iter(body), headers=body.headers, timeout=600)
        uploaded = time.monotonic() - started
        assert response.status_code == 201, response.text
        document = response.json()
        assert document["byteSize"] == size and document["sha256"] == body.digest.hexdigest()
        started = time.monotonic()
        received = hashlib.sha256()
        count = 0
        with api.stream("GET", f"/exchanges/{exchange_id}/documents/{document['id']}/content", timeout=600) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_bytes(CHUNK):
                received.update(chunk)
                count += len(chunk)
        downloaded = time.monotonic() - started
    assert count == size and received.hexdigest() == body.digest.hexdigest()
    return uploaded, downloaded, server.peak_memory_bytes() - baseline


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_one_gib_up_and_down_in_bounded_memory(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    env = {"TRUSTROOM_EXCHANGE__UPLOAD_MAX_BYTES": str(2 * GIB), "TRUSTROOM_LOG_LEVEL": "WARNING"}
    moto: MotoServer | None = None
    if backend == "s3":
        moto = request.getfixturevalue("moto")
        storage_settings = moto.new_bucket()
        env |= {
            f"TRUSTROOM_STORAGE__{name.upper()}": str(value)
            for name, value in storage_settings.model_dump(exclude_none=True).items()
            if not name.startswith("s3_secret")
        } | {"TRUSTROOM_STORAGE__S3_SECRET_ACCESS_KEY": "testing"}
    with served(tmp_path_factory.mktemp(f"large-{backend}"), env=env) as server:
        try:
            uploaded, downloaded, growth = _round_trip(server, GIB)
        except AssertionError as failure:
            if moto is None:
                raise
            raise AssertionError(f"{failure}\n--- moto_server's log ---\n{moto.log_tail()}") from failure
    rates = f"up {GIB / uploaded / 1e6:.0f} MB/s, down {GIB / downloaded / 1e6:.0f} MB/s"
    print(f"1 GiB on {backend}: {rates}, peak memory growth {growth / 1e6:.1f} MB")  # noqa: T201 - for the record
    assert growth < MEMORY_BUDGET, f"{backend}: peak memory grew {growth / 1e6:.0f} MB ({rates})"


def test_an_upload_killed_midway_leaves_no_document(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("killed")
    with served(data_dir) as server:
        exchange_id, folder_id = _room(server)
        url = f"{server.base_url}/api/v1/exchanges/{exchange_id}/folders/{folder_id}/documents"
        body = Body(64 * CHUNK, name="cut-short.bin", pause_after=20 * CHUNK)
        outcome: list[object] = []

        def send() -> None:
            try:
                outcome.append(
                    httpx.post(url, content=iter(body), headers={**server.headers, **body.headers}, timeout=60)
                )
            except (httpx.HTTPError, ConnectionAbortedError) as error:
                outcome.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        assert body.paused.wait(timeout=60), "the upload never got going"
        time.sleep(0.5)  # let the server seal and write what it has
        partial = list((data_dir / "blobs").rglob(".*.partial"))
        assert partial, "the server should be midway through writing"
        server.kill()
        body.resume.set()
        sender.join(timeout=60)
        assert outcome and not (isinstance(outcome[0], httpx.Response) and outcome[0].status_code < 300)
        server.start()
        with server.api() as api:
            listed = api.get(f"/exchanges/{exchange_id}/folders/{folder_id}/documents").json()
        assert listed["totalCount"] == 0
        named = [p for p in (data_dir / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert named == [], "no content may be stored under a name without its row"

        async def sweep() -> tuple[int, int]:
            database = Database(
                server.database_url.replace("sqlite://", "sqlite+aiosqlite://").replace(
                    "postgresql://", "postgresql+psycopg://"
                )
            )
            try:
                async with database.session() as session, cross_tenant(session):
                    found = await storage.sweep_orphans(
                        session, LocalBlobStore(data_dir / "blobs"), before=utcnow() + timedelta(seconds=5)
                    )
                    await session.commit()
                    return found
            finally:
                await database.dispose()

        assert asyncio.run(sweep()) == (0, len(partial))
        assert not list((data_dir / "blobs").rglob(".*.partial"))
