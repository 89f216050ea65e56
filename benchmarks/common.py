"""What the benchmarks share: finding the `trustroom` command, free ports, the server's
environment, stopping processes, and a PostgreSQL database of their own."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESERVED_DATABASES = frozenset({"test"})  # the test suite owns it


class BenchmarkError(Exception):
    """The benchmark could not run; the message says why."""


def trustroom_command() -> str:
    for candidate in (PROJECT_ROOT / ".venv" / "bin" / "trustroom", Path(sys.executable).parent / "trustroom"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("trustroom")
    if found is None:
        raise BenchmarkError("the `trustroom` command is not installed; run `make install`")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTROOM_")}
    env.update(TRUSTROOM_DATA_DIR=str(data_dir), TRUSTROOM_DEV="1", TRUSTROOM_LOG_LEVEL="WARNING")
    if database_url:
        env["TRUSTROOM_DATABASE_URL"] = database_url
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's database when missing (never the test suite's)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise BenchmarkError("--database-url must name a database, e.g. postgresql://postgres@127.0.0.1:5432/bench")
    if name in RESERVED_DATABASES:
        raise BenchmarkError(f"the database {name!r} belongs to the test suite; use another, e.g. 'bench'")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise BenchmarkError(f"unexpected database name {name!r}")
    psql = shutil.which("psql")
    if psql is None:
        raise BenchmarkError("psql is needed to create the benchmark database")
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    admin = urlunsplit((scheme, parts.netloc, "/postgres", "", ""))
    listed = subprocess.run([psql, admin, "-lqtA"], capture_output=True, text=True, timeout=30, check=False)
    if listed.returncode != 0:
        raise BenchmarkError(f"cannot reach PostgreSQL at {admin}: {listed.stderr.strip()}")
    if name not in {line.split("|", 1)[0] for line in listed.stdout.splitlines()}:
        print(f"creating PostgreSQL database {name}")
        subprocess.run([psql, admin, "-qc", f'CREATE DATABASE "{name}"'], timeout=60, check=True)


def terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A database of the benchmark's own on the server of `admin_url`, dropped afterwards."""
    name = f"trustroom_bench_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base, _, _ = admin_url.rpartition("/")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed_demo(command: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [command, "demo", "--json"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchmarkError(f"`trustroom demo --json` failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    demo: dict[str, Any] = json.loads(lines[-1])
    if "apiKey" not in demo or "tenantId" not in demo:
        raise BenchmarkError(f"`trustroom demo --json` printed no apiKey/tenantId: {lines[-1]}")
    return demo


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own http://127.0.0.1 URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until_healthy(
    base: str, server: subprocess.Popen[bytes], log_file: Path, timeout: float = 60.0, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(f"the server exited with {server.returncode}:\n{tail(log_file)}")
        try:
            if http_get(base + path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"the server did not answer {path} within {timeout:.0f} s:\n{tail(log_file)}")
