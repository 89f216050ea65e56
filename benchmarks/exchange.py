"""Secure exchange: 200 MB up and down through the API versus a bare endpoint.

A server process (`exchange_server.py`: the app as `trustroom serve` builds it, embedded
mode) gets, in the same run and process:

- through the API: `POST /api/v1/exchanges/{id}/folders/{id}/documents` (multipart parsed
  as it streams, name cleaned, type sniffed, SHA-256, sealed with tink's streaming AEAD,
  written atomically, recorded with audit entry and event) and `GET …/content` (opened,
  authenticated segment by segment, decrypted as it streams);
- the baseline: `POST /bench/bare` writes the same request body to a plain file and
  fsyncs it before answering (an upload must be on disk before its row commits, so
  Trustroom fsyncs too), and `GET /bench/bare/{name}` streams it back (Starlette's
  FileResponse). The same write without fsync is measured as well, for reference: on
  this class of disk the fsync, not the encryption, is what an upload mostly waits for.

Each direction runs `--rounds` times; the best time counts. Ratios are baseline time /
API time (1.0 = as fast as the bare endpoint); the goal is at least 0.7 both ways. The
server's peak memory (VmHWM) growth over the run is printed too. The last line is JSON.

    .venv/bin/python benchmarks/exchange.py [--megabytes 200] [--rounds 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from common import (
    PROJECT_ROOT,
    BenchmarkError,
    ensure_postgres_database,
    free_port,
    seed_demo,
    server_environment,
    stop,
    trustroom_command,
    wait_until_healthy,
)

GOAL = 0.7
CHUNK = 1024 * 1024
BOUNDARY = "trustroom-bench-boundary"


def body(size: int) -> Iterator[bytes]:
    """A multipart body with one file part of `size` bytes, made as it is sent."""
    block = os.urandom(CHUNK)
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for start in range(0, size, CHUNK):
        yield block[: min(CHUNK, size - start)]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def peak_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def timed_upload(client: httpx.Client, url: str, size: int) -> tuple[float, dict[str, Any]]:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    started = time.perf_counter()
    response = client.post(url, content=body(size), headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise BenchmarkError(f"upload to {url} answered {response.status_code}: {response.text[:300]}")
    answer: dict[str, Any] = response.json()
    return elapsed, answer


def timed_download(client: httpx.Client, url: str, size: int) -> float:
    started = time.perf_counter()
    received = 0
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise BenchmarkError(f"download of {url} answered {response.status_code}")
        for chunk in response.iter_raw(CHUNK):
            received += len(chunk)
    elapsed = time.perf_counter() - started
    if received < size:
        raise BenchmarkError(f"download of {url} gave {received} of {size} bytes")
    return elapsed


def run(megabytes: int, rounds: int, database_url: str | None) -> dict[str, Any]:
    size = megabytes * 1_000_000
    command = trustroom_command()
    with tempfile.TemporaryDirectory(prefix="trustroom-bench-exchange-") as tmp:
        data_dir = Path(tmp)
        env = server_environment(data_dir, database_url)
        env["TRUSTROOM_MAX_REQUEST_BYTES"] = str(2 * size)  # the bare endpoint is no upload route
        env["TRUSTROOM_EXCHANGE__UPLOAD_MAX_BYTES"] = str(2 * size)
        demo = seed_demo(command, env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_file = data_dir / "server.log"
        with log_file.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "benchmarks" / "exchange_server.py"), str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_healthy(base, server, log_file)
            headers = {"Authorization": f"Bearer {demo['apiKey']}"}
            with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                tag = uuid.uuid4().hex[:8]
                room = client.post(
                    "/api/v1/exchanges",
                    json={
                        "username": f"bench-{tag}",
                        "externalUserId": f"bench-{tag}",
                        "languageCode": "EN",
                        "password": "benchmark password",
                        "client": {"email": "bench@mail.example", "mobileNumber": "+41791234567"},
                        "externalExchangeId": f"bench-{tag}",
                        "name": "Benchmark",
                    },
                ).json()
                folder = client.post(f"/api/v1/exchanges/{room['id']}/folders", json={"name": "Bench"}).json()
                api_upload = f"/api/v1/exchanges/{room['id']}/folders/{folder['id']}/documents"
                timed_upload(client, api_upload, CHUNK)  # warm both paths up
                timed_upload(client, "/bench/bare", CHUNK)
                baseline_memory = peak_memory(server.pid)
                times: dict[str, list[float]] = {
                    "apiUp": [],
                    "bareUp": [],
                    "bareUpNoSync": [],
                    "apiDown": [],
                    "bareDown": [],
                }
                for _ in range(rounds):
                    times["bareUpNoSync"].append(timed_upload(client, "/bench/bare?durable=false", size)[0])
                    elapsed, bare = timed_upload(client, "/bench/bare", size)
                    times["bareUp"].append(elapsed)
                    times["bareDown"].append(timed_download(client, f"/bench/bare/{bare['name']}", size))
                    elapsed, document = timed_upload(client, api_upload, size)
                    times["apiUp"].append(elapsed)
                    content = f"/api/v1/exchanges/{room['id']}/documents/{document['id']}/content"
                    times["apiDown"].append(timed_download(client, content, size))
                memory_growth = peak_memory(server.pid) - baseline_memory
        finally:
            stop(server)
    best = {name: min(values) for name, values in times.items()}
    return {
        "megabytes": megabytes,
        "rounds": rounds,
        "database": "postgresql" if database_url else "sqlite",
        "apiUploadMBps": round(megabytes / best["apiUp"], 1),
        "bareUploadMBps": round(megabytes / best["bareUp"], 1),
        "bareUploadWithoutFsyncMBps": round(megabytes / best["bareUpNoSync"], 1),
        "apiDownloadMBps": round(megabytes / best["apiDown"], 1),
        "bareDownloadMBps": round(megabytes / best["bareDown"], 1),
        "uploadRatio": round(best["bareUp"] / best["apiUp"], 2),
        "downloadRatio": round(best["bareDown"] / best["apiDown"], 2),
        "peakMemoryGrowthMB": round(memory_growth / 1e6, 1),
        "goal": GOAL,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: embedded SQLite)")
    args = parser.parse_args()
    try:
        if args.database_url:
            ensure_postgres_database(args.database_url)
        result = run(args.megabytes, args.rounds, args.database_url)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(
        f"upload   API {result['apiUploadMBps']} MB/s, bare {result['bareUploadMBps']} MB/s: "
        f"ratio {result['uploadRatio']} (goal >= {GOAL})"
    )
    print(f"         (bare without fsync: {result['bareUploadWithoutFsyncMBps']} MB/s)")
    print(
        f"download API {result['apiDownloadMBps']} MB/s, bare {result['bareDownloadMBps']} MB/s: "
        f"ratio {result['downloadRatio']} (goal >= {GOAL})"
    )
    print(f"server peak memory growth over the run: {result['peakMemoryGrowthMB']} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
