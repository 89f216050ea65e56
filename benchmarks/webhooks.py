"""Sustained webhook delivery: events/s and latency from commit to receipt.

For SQLite with one worker process and for PostgreSQL with two, against a fast receiver on
127.0.0.1 (benchmarks/webhook_receiver.py, a process of its own):

- Baseline, in the same run: the rate at which the same HTTP client (httpx, as many
  connections as a worker may open to one endpoint) posts the same signed payloads
  straight to the same receiver.
- Maximum rate: a burst of events committed in transactions of 100; events/s from the
  first commit to the last receipt, and the ratio to the baseline (goal: at least 0.5).
- Latency at half the maximum rate: events committed at a steady pace for a while; p50
  and p99 from each commit to its receipt (goal: p99 under 1 s).

Events are committed by this process through Trustroom's own `jobs.emit`, as the API would;
`trustroom worker` processes deliver them. The last line is one JSON object.

    .venv/bin/python benchmarks/webhooks.py [--events 2000] [--steady-seconds 5]
    .venv/bin/python benchmarks/webhooks.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
from common import (
    PROJECT_ROOT,
    BenchmarkError,
    free_port,
    scratch_postgres,
    stop,
    tail,
    terminate,
    trustroom_command,
)

from trustroom.auth.events import MEMBER_CREATED
from trustroom.auth.service import tenants
from trustroom.cli import migrate
from trustroom.db import Database, bind_tenant
from trustroom.jobs import service as jobs
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks import service as webhooks
from trustroom.webhooks import signing
from trustroom.webhooks.schemas import EndpointCreate

GOAL_RATIO = 0.5
GOAL_P99_SECONDS = 1.0
CONNECTIONS = 16  # per endpoint, as TRUSTROOM_WEBHOOKS__ENDPOINT_CONCURRENCY below
BATCH = 100
SECRET = "benchmark-secret-key-with-enough-entropy-0123456789"  # noqa: S105 - a throwaway database


@contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "webhook_receiver.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise BenchmarkError("the receiver did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdout.close() if process.stdout else None
        stop(process)


def receiver_get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:  # noqa: S310 - our own 127.0.0.1
        return json.loads(response.read())


def receiver_reset(base: str) -> None:
    request = urllib.request.Request(base + "/reset", data=b"", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def settings_for(data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "TRUSTROOM_DATA_DIR": str(data_dir),
        "TRUSTROOM_DATABASE_URL": database_url,
        "TRUSTROOM_SECRET_KEY": SECRET,
        "TRUSTROOM_LOG_LEVEL": "INFO",
        "TRUSTROOM_WORKER_CONCURRENCY": str(CONNECTIONS),
        "TRUSTROOM_WEBHOOKS__ALLOW_HTTP": "true",
        "TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        "TRUSTROOM_WEBHOOKS__ENDPOINT_CONCURRENCY": str(CONNECTIONS),
    }


@contextmanager
def workers(count: int, env: dict[str, str], log_file: Path) -> Iterator[None]:
    processes = []
    with log_file.open("wb") as log:
        for _ in range(count):
            processes.append(
                subprocess.Popen(
                    [trustroom_command(), "worker"],
                    env={**{k: v for k, v in os.environ.items() if not k.startswith("TRUSTROOM_")}, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        try:
            deadline = time.monotonic() + 60
            while log_file.read_text(errors="replace").count("worker started") < count:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise BenchmarkError(f"the workers did not start:\n{tail(log_file)}")
                time.sleep(0.1)
            yield
        finally:
            for process in processes:
                stop(process)


async def setup(settings: Settings, url: str) -> tuple[Database, UUID, str]:
    database = Database(settings.resolved_database_url)
    keys = ServerKeys.from_settings(settings)
    async with database.session() as session:
        tenant = await tenants.create_tenant(session, "Benchmark bank")
        _, secret = await webhooks.create(
            session,
            tenants.operator(tenant.id),
            keys,
            settings.webhooks,
            {MEMBER_CREATED.name},
            EndpointCreate(url=url + "/hooks"),
        )
        await session.commit()
    return database, tenant.id, secret


async def emit(database: Database, tenant_id: UUID, count: int) -> tuple[list[str], float]:
    """`count` events in one transaction: their webhook-ids and the commit time."""
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        events = [
            await jobs.emit(session, MEMBER_CREATED, {"member_id": uuid4()}, tenant_id=tenant_id) for _ in range(count)
        ]
        await session.commit()
    return [event.event_id for event in events], time.time()


async def wait_for(base: str, expected: int, within: float) -> dict[str, float]:
    deadline = time.monotonic() + within
    while receiver_get(base, "/stats")["distinct"] < expected:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"only {receiver_get(base, '/stats')} of {expected} events arrived in {within} s")
        await asyncio.sleep(0.05)
    arrivals: dict[str, float] = receiver_get(base, "/arrivals")
    return arrivals


async def baseline(base: str, secret: str, count: int) -> float:
    """Posts per second of the same client, payloads and signatures, straight to the receiver."""
    bodies = [
        json.dumps({"type": "member.created", "timestamp": "2026-11-22T00:00:00Z", "data": {"memberId": str(uuid4())}})
        for _ in range(count)
    ]
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    gate = asyncio.Semaphore(CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=15) as client:

        async def post(index: int, body: str) -> None:
            async with gate:
                message_id = f"msg_baseline{index}"
                headers = signing.headers([secret], message_id, int(time.time()), body.encode())
                response = await client.post(base + "/hooks", content=body, headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(index, body) for index, body in enumerate(bodies)))
        elapsed = time.perf_counter() - started
    receiver_reset(base)
    return count / elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def max_rate(database: Database, tenant_id: UUID, base: str, count: int) -> tuple[float, float, float]:
    committed: dict[str, float] = {}
    for _ in range(count // BATCH):
        ids, at = await emit(database, tenant_id, BATCH)
        committed.update(dict.fromkeys(ids, at))
    arrivals = await wait_for(base, len(committed), within=600)
    receiver_reset(base)
    first_commit = min(committed.values())
    rate = len(committed) / (max(arrivals[i] for i in committed) - first_commit)
    latencies = [arrivals[i] - committed[i] for i in committed]
    return rate, statistics.median(latencies), percentile(latencies, 0.99)


async def steady(database: Database, tenant_id: UUID, base: str, rate: float, seconds: float) -> tuple[float, float]:
    """Commit `rate` events per second (in 50 ms ticks) for `seconds`; commit-to-receipt p50, p99."""
    committed: dict[str, float] = {}
    tick = 0.05
    started = time.monotonic()
    owed = 0.0
    while time.monotonic() - started < seconds:
        owed += rate * tick
        if owed >= 1:
            ids, at = await emit(database, tenant_id, int(owed))
            committed.update(dict.fromkeys(ids, at))
            owed -= int(owed)
        next_tick = started + tick * (int((time.monotonic() - started) / tick) + 1)
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    arrivals = await wait_for(base, len(committed), within=600)
    receiver_reset(base)
    latencies = [arrivals[i] - committed[i] for i in committed]
    return statistics.median(latencies), percentile(latencies, 0.99)


async def run(name: str, database_url: str, worker_count: int, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="trustroom-bench-webhooks-"))
    try:
        env = settings_for(data_dir, database_url)
        os.environ.update(env)
        settings = Settings()
        await asyncio.to_thread(migrate, settings)
        with receiver() as base:
            database, tenant_id, secret = await setup(settings, base)
            try:
                baseline_rate = await baseline(base, secret, args.events)
                with workers(worker_count, env, data_dir / "workers.log"):
                    await max_rate(database, tenant_id, base, BATCH * 2)  # warm-up
                    rate, burst_p50, burst_p99 = await max_rate(database, tenant_id, base, args.events)
                    p50, p99 = await steady(database, tenant_id, base, rate / 2, args.steady_seconds)
            finally:
                await database.dispose()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    result = {
        "database": name,
        "workers": worker_count,
        "baselineEventsPerSecond": round(baseline_rate, 1),
        "eventsPerSecond": round(rate, 1),
        "ratio": round(rate / baseline_rate, 3),
        "burstP50Ms": round(burst_p50 * 1000, 1),
        "burstP99Ms": round(burst_p99 * 1000, 1),
        "halfRateP50Ms": round(p50 * 1000, 1),
        "halfRateP99Ms": round(p99 * 1000, 1),
    }
    print(
        f"{name:10s} {worker_count} worker(s): baseline {baseline_rate:7.1f} posts/s, Trustroom {rate:7.1f} events/s,"
        f" ratio {rate / baseline_rate:.2f} (goal >= {GOAL_RATIO});"
        f" at half rate p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal < {GOAL_P99_SECONDS * 1000:.0f} ms)",
        flush=True,
    )
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as sqlite_dir:
        results.append(await run("sqlite", f"sqlite:///{sqlite_dir}/bench.db", 1, args))
    if not args.no_postgres:
        try:
            psycopg.connect(args.postgres_url, connect_timeout=3).close()
        except psycopg.Error as exc:
            print(f"PostgreSQL skipped: cannot reach {args.postgres_url} ({exc})", file=sys.stderr)
            return results
        with scratch_postgres(args.postgres_url) as url:
            results.append(await run("postgresql", url.replace("postgresql://", "postgresql+psycopg://", 1), 2, args))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events in the burst (default 2000)")
    parser.add_argument("--steady-seconds", type=float, default=5.0, help="length of the half-rate phase")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TRUSTROOM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL database to create the benchmark's own database from",
    )
    parser.add_argument("--no-postgres", action="store_true", help="only SQLite")
    args = parser.parse_args(argv)
    args.events = max(BATCH, args.events // BATCH * BATCH)
    signal.signal(signal.SIGTERM, terminate)
    try:
        results = asyncio.run(main_async(args))
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"goalRatio": GOAL_RATIO, "goalP99Ms": GOAL_P99_SECONDS * 1000, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
