"""Trustroom's request overhead against a peer: a minimal FastAPI app on a copy of the same data.

Seeds a fresh data directory (`trustroom demo`), copies its database for the peer
(`benchmarks/peer_app.py`), and serves both the same way (uvicorn's CLI, same flags, with
1 and then 2 worker processes). The same load generator then loads four endpoints in turn:

- Trustroom's bare `GET /healthz` and its authenticated `GET /api/v1/members?pageSize=10`
  (API key, tenant binding, scope check, a page with its total, JSON);
- the peer's bare `GET /bare` and its equivalent authenticated read `GET /members?pageSize=10`
  (API-key lookup by keyed hash, one 10-row SELECT, a Pydantic response; sync `sqlite3` on
  SQLite, psycopg with one pool on PostgreSQL).

It prints requests/s (p50/p99) of all four and the ratios against the goals: Trustroom's
authenticated read >= 0.5 x the peer's, Trustroom's /healthz >= 0.7 x the peer's bare
route. The last line is one JSON object with every figure.

The load generator is `wrk` when installed, else a pure-Python asyncio generator on raw
sockets (keep-alive HTTP/1.1); it shares the two cores with the servers, so it measures
less precisely and flatters slower routes.

    .venv/bin/python benchmarks/api_overhead.py [--duration 10] [--connections 32] [--processes 1 2]
    .venv/bin/python benchmarks/api_overhead.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
      (PostgreSQL: two scratch databases on that server, dropped afterwards)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from common import (
    PROJECT_ROOT,
    BenchmarkError,
    free_port,
    http_get,
    scratch_postgres,
    seed_demo,
    server_environment,
    stop,
    terminate,
    trustroom_command,
    wait_until_healthy,
)
from psycopg import sql

BASELINE_PATH = "/healthz"
AUTHENTICATED_PATH = "/api/v1/members?pageSize=10"
PEER_BARE_PATH = "/bare"
PEER_AUTHENTICATED_PATH = "/members?pageSize=10"
AUTHENTICATED_GOAL = 0.5  # Trustroom's authenticated read / the peer's
BARE_GOAL = 0.7  # Trustroom's /healthz / the peer's bare route
TRUSTROOM_FACTORY = "trustroom.app:create_app"
PEER_FACTORY = "peer_app:create_app"
PAGE_ROWS = 10


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


# --- the servers ----------------------------------------------------------------------------


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


def uvicorn_command(factory: str, port: int, processes: int, app_dir: Path | None = None) -> list[str]:
    """Both apps are served by uvicorn's CLI with the same flags (as `trustroom serve` sets them)."""
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(processes), "--no-proxy-headers", "--no-access-log", "--log-level", "warning"]
    command += ["--timeout-graceful-shutdown", "20"]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    return command


@contextmanager
def running_server(command: list[str], env: dict[str, str], port: int, log_file: Path, probe: str) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our finally, not the terminal's Ctrl-C, stops it
        )
        try:
            wait_until_healthy(base, server, log_file, path=probe)
            yield base
        finally:
            stop(server)


def derived_hash_key(command: str, env: dict[str, str]) -> str:
    """The HMAC key of API-key hashes under the seeded server secret, for the peer."""
    code = (
        "from trustroom.keys import ServerKeys; from trustroom.settings import Settings; "
        "print(ServerKeys.from_settings(Settings()).derive('hash:api-key').hex())"
    )
    python = Path(command).with_name("python")
    done = subprocess.run([str(python), "-c", code], env=env, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise BenchmarkError(f"cannot derive the API-key hash key: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def add_members(command: str, env: dict[str, str], tenant_id: str) -> None:
    """The demo has fewer members than a page: add some, so both apps read and send 10 rows."""
    for number in range(1, PAGE_ROWS):
        email = f"bench-{number}@bank.example"
        done = subprocess.run(
            [command, "member", "create", "--tenant", tenant_id, "--email", email, "--role", "advisor", "--json"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise BenchmarkError(f"`trustroom member create` failed: {done.stdout}{done.stderr}")


def copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
        original.backup(copy)


@contextmanager
def postgres_copy(url: str) -> Iterator[str]:
    """A copy of the seeded database (CREATE DATABASE ... TEMPLATE), dropped afterwards."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(f"{name}_peer"), sql.Identifier(name))
        )
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}_peer"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(f"{name}_peer"))
            )


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
    """Keep-alive HTTP/1.1 on raw asyncio streams: lighter than an HTTP client library."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while (now := time.perf_counter()) < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append(time.perf_counter() - now)
                errors += status >= 400
        finally:
            writer.close()

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
    return f"{name:<44} {result.requests_per_second:9.1f} req/s{latency}  ({result.requests} requests)"


def check(base: str, path: str, headers: dict[str, str]) -> None:
    status, body = http_get(base + path, headers)
    if status != 200:
        raise BenchmarkError(f"GET {base}{path} answered {status}: {body[:500]!r}")
    items = json.loads(body).get("items")
    count = len(items) if isinstance(items, list) else "?"
    print(f"check: GET {base}{path} -> 200 with {count} item(s)")


def run_processes(
    args: argparse.Namespace,
    wrk: str | None,
    processes: int,
    envs: tuple[dict[str, str], dict[str, str]],
    auth: dict[str, str],
    data_dir: Path,
) -> dict[str, Any]:
    trustroom_env, peer_env = envs
    ports = free_port(), free_port()
    logs = data_dir / f"trustroom-{processes}.log", data_dir / f"peer-{processes}.log"
    with ExitStack() as stack:
        ours = stack.enter_context(
            running_server(
                uvicorn_command(TRUSTROOM_FACTORY, ports[0], processes), trustroom_env, ports[0], logs[0], BASELINE_PATH
            )
        )
        peer = stack.enter_context(
            running_server(
                uvicorn_command(PEER_FACTORY, ports[1], processes, Path(__file__).parent),
                peer_env,
                ports[1],
                logs[1],
                PEER_BARE_PATH,
            )
        )
        check(ours, AUTHENTICATED_PATH, auth)
        check(peer, PEER_AUTHENTICATED_PATH, auth)
        try:
            peer_bare = measure(args, wrk, peer + PEER_BARE_PATH, {})
            print(describe(f"peer       GET {PEER_BARE_PATH}", peer_bare))
            bare = measure(args, wrk, ours + BASELINE_PATH, {})
            print(describe(f"trustroom  GET {BASELINE_PATH}", bare))
            peer_read = measure(args, wrk, peer + PEER_AUTHENTICATED_PATH, auth)
            print(describe(f"peer       GET {PEER_AUTHENTICATED_PATH}", peer_read))
            read = measure(args, wrk, ours + AUTHENTICATED_PATH, auth)
            print(describe(f"trustroom  GET {AUTHENTICATED_PATH}", read))
        except BenchmarkError as exc:
            raise BenchmarkError(f"{exc}\nserver errors:\n{server_errors(logs[0])}") from exc
    bare_ratio = bare.requests_per_second / peer_bare.requests_per_second
    read_ratio = read.requests_per_second / peer_read.requests_per_second
    for name, ratio, goal in (
        ("/healthz / peer bare", bare_ratio, BARE_GOAL),
        ("members / peer read", read_ratio, AUTHENTICATED_GOAL),
    ):
        print(
            f"{processes} process(es): {name} = {ratio:.3f} (goal >= {goal:g}: {'met' if ratio >= goal else 'NOT met'})"
        )
    return {
        "processes": processes,
        "peerBareRps": round(peer_bare.requests_per_second, 1),
        "healthzRps": round(bare.requests_per_second, 1),
        "peerReadRps": round(peer_read.requests_per_second, 1),
        "membersRps": round(read.requests_per_second, 1),
        "bareRatio": round(bare_ratio, 3),
        "readRatio": round(read_ratio, 3),
        "goalsMet": bare_ratio >= BARE_GOAL and read_ratio >= AUTHENTICATED_GOAL,
    }


def benchmark(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    wrk = None if args.load_generator == "python" else find_wrk(install=not args.no_install)
    if wrk is None and args.load_generator == "wrk":
        raise BenchmarkError("wrk is not available")
    generator = f"wrk ({args.threads} threads)" if wrk else "python (asyncio, raw sockets)"
    with ExitStack() as stack:
        database_url = stack.enter_context(scratch_postgres(args.database_url)) if args.database_url else None
        command = trustroom_command()
        env = server_environment(data_dir, database_url)
        env["TRUSTROOM_RUN_WORKER_IN_PROCESS"] = "false"
        demo = seed_demo(command, env)
        add_members(command, env, demo["tenantId"])
        peer_env = {**env, "PEER_HASH_KEY": derived_hash_key(command, env)}
        if database_url:
            peer_env["PEER_DATABASE"] = stack.enter_context(postgres_copy(database_url))
        else:
            copy_sqlite(data_dir / "trustroom.db", data_dir / "peer.db")
            peer_env["PEER_DATABASE"] = str(data_dir / "peer.db")
        database = "postgresql" if database_url else "sqlite"
        print(
            f"{database}; load generator {generator}, {args.connections} connections, "
            f"{args.warmup:g} s warm-up + {args.duration:g} s per endpoint"
        )
        if wrk is None:
            print("note: the Python load generator shares the CPU with the servers; fast routes are under-measured")
        auth = {"Authorization": f"Bearer {demo['apiKey']}"}
        runs = [run_processes(args, wrk, n, (env, peer_env), auth, data_dir) for n in args.processes]
    return {"database": database, "loadGenerator": "wrk" if wrk else "python", "runs": runs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per endpoint (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="server processes (default: 1 2)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to use instead of SQLite (scratch databases are made beside the one named), "
        "e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument(
        "--load-generator", choices=["auto", "wrk", "python"], default="auto", help="default: wrk if available"
    )
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--fail-under-goal", action="store_true", help="exit 1 when a ratio misses its goal")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("--duration and --connections/--threads must be positive, --warmup not negative")
    if any(n < 1 for n in args.processes):
        parser.error("--processes must be positive")
    args.threads = min(args.threads, args.connections)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)  # so the finally blocks stop the servers
    data_dir = Path(tempfile.mkdtemp(prefix="trustroom-bench-"))
    try:
        summary = benchmark(args, data_dir)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(summary))
    return 1 if args.fail_under_goal and not all(run["goalsMet"] for run in summary["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
