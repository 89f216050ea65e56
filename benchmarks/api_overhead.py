"""What authentication, tenant scoping and a database read cost per request.

Starts a real `trustroom serve` on a free 127.0.0.1 port against a fresh data directory
(seeded with `trustroom demo`) and loads two endpoints with the same load generator:

- A, the baseline: the bare, unauthenticated `GET /healthz`;
- B: `GET /api/v1/members?pageSize=10` with the demo API key, i.e. API-key lookup,
  tenant binding, scope check, a count and a page query, and JSON serialisation.

It prints requests/s (and p50/p99 latency) of both and the ratio B/A; the goal is a ratio
of at least 0.5 on SQLite. The last line is one JSON object (baselineRps,
authenticatedRps, ratio, goal, database).

The load generator is `wrk` (installed with apt-get when missing and allowed), else a
pure-Python asyncio generator built on httpx, which is slower than the server and so
measures less precisely.

    .venv/bin/python benchmarks/api_overhead.py [--duration 10] [--connections 32]
    .venv/bin/python benchmarks/api_overhead.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    PROJECT_ROOT,
    BenchmarkError,
    ensure_postgres_database,
    free_port,
    http_get,
    seed_demo,
    server_environment,
    stop,
    terminate,
    trustroom_command,
    wait_until_healthy,
)

BASELINE_PATH = "/healthz"
AUTHENTICATED_PATH = "/api/v1/members?pageSize=10"
GOAL_RATIO = 0.5


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


# --- the server ---------------------------------------------------------------------------


def server_errors(path: Path, limit: int = 5) -> str:
    """The server's logged errors, counted by message and the exception's last line."""
    found: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("level") not in {"ERROR", "CRITICAL"}:
            continue
        last = (str(record.get("exception") or "").strip().splitlines() or [""])[-1]
        key = f"{record.get('message', '').strip()}: {last}".strip(": ")
        found[key] = found.get(key, 0) + 1
    ranked = sorted(found.items(), key=lambda item: -item[1])[:limit]
    return "\n".join(f"  {count}x {key[:300]}" for key, count in ranked) or "  (none logged)"


@contextmanager
def running_server(command: str, env: dict[str, str], port: int, log_file: Path) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            [command, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env=env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our finally, not the terminal's Ctrl-C, stops it
        )
        try:
            wait_until_healthy(base, server, log_file)
            yield base
        finally:
            stop(server)


# --- PostgreSQL -----------------------------------------------------------------------------


# --- load generators ------------------------------------------------------------------------


def find_wrk(install: bool) -> str | None:
    found = shutil.which("wrk") or (Path("/usr/bin/wrk").is_file() and "/usr/bin/wrk") or None
    if found or not install:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print("wrk is missing and cannot be installed here (needs apt-get as root)")
        return None
    print("wrk is missing: installing Debian's wrk with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([apt, "update", "-qq"], env=env, check=True, timeout=300, stdout=subprocess.DEVNULL)
        subprocess.run(
            [apt, "install", "-y", "-qq", "wrk"], env=env, check=True, timeout=300, stdout=subprocess.DEVNULL
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"installing wrk failed ({exc})")
        return None
    return shutil.which("wrk")


_DURATION_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * _DURATION_UNITS[unit]


def parse_wrk(output: str) -> Result:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if rps is None or total is None:
        raise BenchmarkError(f"cannot read wrk's output:\n{output}")
    percentiles = {
        m.group(1): _milliseconds(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    }
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result(float(rps.group(1)), int(total.group(1)), errors, percentiles.get("50"), percentiles.get("99"))


def run_wrk(wrk: str, url: str, headers: dict[str, str], seconds: float, connections: int, threads: int) -> Result:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


async def _python_load(url: str, headers: dict[str, str], seconds: float, connections: int) -> Result:
    import httpx  # noqa: PLC0415 - only the fallback needs it (a dev dependency)

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10.0) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def connection() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < deadline:
                try:
                    response = await client.get(url)
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - now)
                errors += not ok

        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    if len(latencies) < 2:
        raise BenchmarkError(f"the Python load generator completed {len(latencies)} request(s)")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(len(latencies) / elapsed, len(latencies), errors, cuts[49] * 1000, cuts[98] * 1000)


def run_python(url: str, headers: dict[str, str], seconds: float, connections: int) -> Result:
    return asyncio.run(_python_load(url, headers, seconds, connections))


# --- the benchmark --------------------------------------------------------------------------


def measure(args: argparse.Namespace, wrk: str | None, url: str, headers: dict[str, str]) -> Result:
    def load(seconds: float) -> Result:
        if wrk is not None:
            return run_wrk(wrk, url, headers, seconds, args.connections, args.threads)
        return run_python(url, headers, seconds, args.connections)

    if args.warmup > 0:
        load(args.warmup)
    result = load(args.duration)
    if result.errors:
        raise BenchmarkError(f"{result.errors} of {result.requests} requests to {url} failed")
    return result


def describe(name: str, result: Result) -> str:
    latency = ""
    if result.p50_ms is not None and result.p99_ms is not None:
        latency = f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
    return f"{name:<34} {result.requests_per_second:9.1f} req/s{latency}  ({result.requests} requests)"


def check_authenticated(base: str, headers: dict[str, str]) -> None:
    status, body = http_get(base + AUTHENTICATED_PATH, headers)
    if status != 200:
        raise BenchmarkError(f"GET {AUTHENTICATED_PATH} answered {status}: {body[:500]!r}")
    items = json.loads(body).get("items")
    count = len(items) if isinstance(items, list) else "?"
    print(f"check: GET {AUTHENTICATED_PATH} -> 200 with {count} member(s)")


def benchmark(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    database = "sqlite"
    if args.database_url:
        database = "postgresql"
        ensure_postgres_database(args.database_url)
    wrk = None if args.load_generator == "python" else find_wrk(install=not args.no_install)
    if wrk is None and args.load_generator == "wrk":
        raise BenchmarkError("wrk is not available")
    generator = "wrk" if wrk else "python (httpx, asyncio)"

    command = trustroom_command()
    env = server_environment(data_dir, args.database_url)
    demo = seed_demo(command, env)
    port = free_port()
    with running_server(command, env, port, data_dir / "server.log") as base:
        auth = {"Authorization": f"Bearer {demo['apiKey']}"}
        check_authenticated(base, auth)
        threads = f"{args.threads} threads, " if wrk else ""
        print(
            f"server {base} ({database}); load generator {generator}: {threads}{args.connections} connections, "
            f"{args.warmup:g} s warm-up + {args.duration:g} s per endpoint"
        )
        try:
            baseline = measure(args, wrk, base + BASELINE_PATH, {})
            print(describe(f"A  GET {BASELINE_PATH}", baseline))
            authenticated = measure(args, wrk, base + AUTHENTICATED_PATH, auth)
            print(describe(f"B  GET {AUTHENTICATED_PATH}", authenticated))
        except BenchmarkError as exc:
            raise BenchmarkError(f"{exc}\nserver errors:\n{server_errors(data_dir / 'server.log')}") from exc

    ratio = authenticated.requests_per_second / baseline.requests_per_second
    if wrk is None:
        print("note: the Python load generator likely limits A more than the server does; the ratio is flattered")
    verdict = "met" if ratio >= args.goal else "NOT met"
    print(f"ratio B/A = {ratio:.3f} (goal >= {args.goal:g}: {verdict})")
    return {
        "baselineRps": round(baseline.requests_per_second, 1),
        "authenticatedRps": round(authenticated.requests_per_second, 1),
        "ratio": round(ratio, 3),
        "goal": args.goal,
        "database": database,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per endpoint (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--database-url",
        help="run against this database instead of SQLite, e.g. postgresql://postgres@127.0.0.1:5432/bench",
    )
    parser.add_argument(
        "--load-generator", choices=["auto", "wrk", "python"], default="auto", help="default: wrk if available"
    )
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--goal", type=float, default=GOAL_RATIO, help="wanted ratio B/A (default 0.5)")
    parser.add_argument("--fail-under-goal", action="store_true", help="exit 1 when the ratio misses the goal")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("--duration and --connections/--threads must be positive, --warmup not negative")
    args.threads = min(args.threads, args.connections)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)  # so the finally blocks stop the server
    data_dir = Path(tempfile.mkdtemp(prefix="trustroom-bench-"))
    try:
        summary = benchmark(args, data_dir)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(summary))
    return 1 if args.fail_under_goal and summary["ratio"] < summary["goal"] else 0


if __name__ == "__main__":
    sys.exit(main())
