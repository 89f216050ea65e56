"""`trustroom signing check`, start-up refusing broken signing keys, the signing settings, and
pdfsig judging a signature trusted with OCSP fetched from a running server's /pki routes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography import x509
from pydantic import SecretStr

from trustroom.cli import migrate
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import pki
from trustroom.signing.service import authorities, revocation_answers

from ..conftest import ON_POSTGRES, TEST_SECRET, scratch_postgres
from ..test_settings_check import environ, problem_lines
from .support import nss_database, pdfsig

__all__ = ["environ"]  # the fixture, used by name below

STARTUP_TIMEOUT = 60


def base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUSTROOM_")}
    return env | {
        "TRUSTROOM_DATABASE_URL": database_url,
        "TRUSTROOM_DATA_DIR": str(data_dir),
        "TRUSTROOM_SECRET_KEY": TEST_SECRET,
        "TRUSTROOM_LOG_JSON": "true",
    }


def trustroom(env: dict[str, str], *args: str, expect: int = 0, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "trustroom", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == expect, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Live:
    base_url: str
    env: dict[str, str]
    log: Path
    settings: Settings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`trustroom serve` on a free port, its certificates pointing at itself (TRUSTROOM_PUBLIC_URL).

    On a database of its own: `keys status` below reads every sealed value, and the
    session's shared database holds values other tests sealed under secrets of their own.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("live")
    with ExitStack() as stack:
        if ON_POSTGRES:
            url = stack.enter_context(scratch_postgres(os.environ["TRUSTROOM_TEST_POSTGRES_URL"]))
        else:
            url = f"sqlite:///{data_dir / 'live.db'}"
        settings = Settings(data_dir=data_dir, database_url=url, secret_key=SecretStr(TEST_SECRET), public_url=base_url)
        migrate(settings)
        yield from _serve(base_url, base_env(url, data_dir) | {"TRUSTROOM_PUBLIC_URL": base_url}, data_dir, settings)


def _serve(base_url: str, env: dict[str, str], data_dir: Path, settings: Settings) -> Iterator[Live]:
    port = int(base_url.rsplit(":", 1)[1])
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trustroom", "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2):  # noqa: S310 - our own 127.0.0.1
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not come up:\n{log.read_text()}")
                time.sleep(0.2)
        yield Live(base_url, env, log, settings)
    finally:
        process.terminate()
        process.wait(timeout=25)


async def test_check_signs_and_pdfsig_trusts_it_with_ocsp_from_the_live_routes(live: Live, tmp_path: Path) -> None:
    settings, keys = live.settings, ServerKeys.from_settings(live.settings)
    tenant_id = trustroom(live.env, "tenant", "create", "Live Bank")["id"]
    signed = tmp_path / "check.pdf"
    result = trustroom(live.env, "signing", "check", "--tenant", tenant_id, "--output", str(signed))
    assert result["ok"] is True and result["timestamping"] == "in-process"
    assert [s["level"] for s in result["signatures"]] == ["B-LTA", "DTS"]

    # The root as an operator downloads it, into an NSS database pdfsig reads.
    async with httpx.AsyncClient(timeout=60) as http:
        root = x509.load_der_x509_certificate((await http.get(f"{live.base_url}/pki/root/ca.crt")).content)
    nss = nss_database(tmp_path / "nssdb", root)
    signatures, text = pdfsig(signed, nss)
    certification = next(s for s in signatures if s.field == "Certification")
    assert certification.validation == "Signature is Valid.", text
    assert certification.certificate == "Certificate is Trusted.", text
    assert f"/pki/tenants/{tenant_id}/ocsp" in live.log.read_text()  # NSS asked our responder

    # Revoked in the table: pdfsig learns it from the live responder, not from the document.
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            await bind_tenant(session, UUID(tenant_id))
            seal = (await authorities.tenant_authority(session, keys, settings, UUID(tenant_id))).seal
            assert await revocation_answers.revoke(session, UUID(tenant_id), seal.certificate.serial_number)
            await session.commit()
    finally:
        await database.dispose()
    signatures, text = pdfsig(signed, nss)
    certification = next(s for s in signatures if s.field == "Certification")
    assert certification.certificate == "Certificate has been Revoked.", text


def test_check_fails_closed_without_a_timestamp(live: Live) -> None:
    tenant_id = trustroom(live.env, "tenant", "create", "No TSA Bank")["id"]
    dead = f"http://127.0.0.1:{free_port()}/tsa"
    env = live.env | {"TRUSTROOM_SIGNING__TSA_URLS": dead}
    failed = trustroom(env, "signing", "check", "--tenant", tenant_id, expect=2)
    assert failed["error"] == "TimestampUnavailable" and dead in failed["message"]


def test_start_up_stops_on_a_signing_key_the_secrets_cannot_open(live: Live) -> None:
    tenant_id = trustroom(live.env, "tenant", "create", "Key Bank")["id"]
    trustroom(live.env, "signing", "check", "--tenant", tenant_id)
    wrong = live.env | {"TRUSTROOM_SECRET_KEY": "a-different-secret-that-is-long-enough-98765"}
    done = subprocess.run(
        [sys.executable, "-m", "trustroom", "worker"],
        env=wrong,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("error: TRUSTROOM_SECRET_KEY: the signing key of the platform's root cannot be opened")
    assert "TRUSTROOM_PREVIOUS_SECRET_KEYS" in first
    # With the old secret kept as a previous one, the worker starts (and is stopped here).
    rotated = wrong | {"TRUSTROOM_PREVIOUS_SECRET_KEYS": TEST_SECRET}
    status = trustroom(rotated, "keys", "status")
    assert status["signingKeysOnOlderSecrets"] >= 6 and status["previousSecretsStillNeeded"] is True


def test_signing_settings_are_checked(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    leaf = tmp_path / "leaf.pem"
    root = pki.create_root("Operator Root", urls=pki.IssuerUrls.under("http://127.0.0.1/pki/root"))
    with pki.issue_signer(root, name="Not A CA") as signer:
        leaf.write_bytes(pki.pem(signer.certificate))
    good = tmp_path / "root.pem"
    good.write_bytes(pki.pem(root.certificate))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    environ.setenv("TRUSTROOM_SIGNING__TSA_URLS", "https://tsa.example/tsr,ftp://tsa.example/")
    environ.setenv("TRUSTROOM_SIGNING__TRUST_ROOTS", f"{good},{tmp_path / 'missing.pem'},{garbage},{leaf}")
    lines = problem_lines(capsys, "config", "check")
    assert lines[0].startswith('error: TRUSTROOM_SIGNING__TSA_URLS: "ftp://tsa.example/" is not an http(s) URL')
    # A long path is shortened in the message (as under pytest-xdist's deeper temporary folders).
    assert lines[1].startswith('error: TRUSTROOM_SIGNING__TRUST_ROOTS: "') and "cannot be read" in lines[1]
    assert "holds no PEM certificate" in lines[2]
    assert "CN=Not A CA" in lines[3] and "which is not a CA certificate" in lines[3]
    environ.setenv("TRUSTROOM_SIGNING__TSA_URLS", "https://tsa.example/tsr")
    environ.setenv("TRUSTROOM_SIGNING__TRUST_ROOTS", str(good))
    from trustroom import cli

    assert cli.run(["config", "check"]) == 0
