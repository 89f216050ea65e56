"""The `trustroom` command, run as a real process with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trustroom.settings import Settings

from .conftest import TEST_SECRET


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "TRUSTROOM_DATABASE_URL": settings.resolved_database_url,
        "TRUSTROOM_DATA_DIR": str(settings.data_dir),
        "TRUSTROOM_SECRET_KEY": TEST_SECRET,
    }


def trustroom(env: dict[str, str], *args: str, expect: int = 0, flag_first: bool = False) -> dict[str, Any]:
    """Run the command with --json, after the command or (a global flag) before it."""
    argv = ["--json", *args] if flag_first else [*args, "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "trustroom", *argv], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == expect, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_tenant_key_and_member_from_the_command_line(env: dict[str, str]) -> None:
    tenant = trustroom(env, "tenant", "create", "CLI Bank", "--language", "de", flag_first=True)
    key = trustroom(
        env, "api-key", "create", "--tenant", tenant["id"], "--scope", "members:read", "--expires-in", "3600"
    )
    assert key["key"].startswith("trk_") and key["scopes"] == ["members:read"]
    member = trustroom(
        env, "member", "create", "--tenant", tenant["id"], "--email", "cli@bank.example", "--role", "reviewer"
    )
    assert {"id", "password", "totpSecret"} <= member.keys()
    # The member signs in on their tenant's own page (under TRUSTROOM_PUBLIC_URL).
    assert member["advisorPortal"].endswith(f"/portal/t/{tenant['id']}/login")
    duplicate = trustroom(
        env, "member", "create", "--tenant", tenant["id"], "--email", "cli@bank.example", "--role", "admin", expect=2
    )
    assert duplicate["error"] == "EmailTaken"
    verified = trustroom(env, "audit", "verify", "--tenant", tenant["id"])
    assert verified == {"intact": True, "tenants": 1, "rows": 3}


def test_demo_is_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    demo_env = {
        **env,
        "TRUSTROOM_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "TRUSTROOM_DATA_DIR": str(tmp_path),
        "TRUSTROOM_PUBLIC_URL": "http://127.0.0.1:8010",  # what `make run PORT=8010` sets
    }
    first = trustroom(demo_env, "demo")
    second = trustroom(demo_env, "demo")
    assert first == second
    assert set(first) == {"tenantId", "apiKey", "member", "client", "urls"}
    assert set(first["member"]) == {"email", "password", "totpSecret"}
    assert set(first["client"]) == {"username", "password", "codes"}
    assert all(url.startswith("http://127.0.0.1:8010/") for url in first["urls"].values())
    tenant_id = first["tenantId"]
    assert first["urls"]["advisorPortal"] == f"http://127.0.0.1:8010/portal/t/{tenant_id}/login"
    assert first["urls"]["clientPortal"] == f"http://127.0.0.1:8010/x/t/{tenant_id}/login"
    assert trustroom(demo_env, "audit", "verify")["intact"] is True


def test_configuration_errors_are_clear(env: dict[str, str]) -> None:
    no_secret = {k: v for k, v in env.items() if k != "TRUSTROOM_SECRET_KEY"}
    result = trustroom(no_secret, "api-key", "create", "--tenant", "0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d", expect=2)
    assert "TRUSTROOM_SECRET_KEY" in result["message"]
    unknown = trustroom(env, "api-key", "create", "--tenant", "0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d", expect=2)
    assert unknown["error"] == "TenantNotFound"


def test_import_contacts_from_the_command_line(env: dict[str, str], tmp_path: Path) -> None:
    tenant = trustroom(env, "tenant", "create", "Import Bank")
    person = {"firstName": "Eva", "lastName": "Keller", "language": "DE"}
    records = [
        {"externalId": "X1", "contactTypeId": 1, "username": "cli.one", "details": {"personalInformation": person}},
        {"externalId": "X2", "contactTypeId": 1, "username": "cli.two", "details": {}},
    ]
    file = tmp_path / "clients.json"
    file.write_text(json.dumps(records))
    first = trustroom(env, "import", "contacts", "--tenant", tenant["id"], str(file), expect=1)
    assert (first["status"], first["created"], first["failed"]) == ("PartiallySucceeded", 1, 1)
    [failure] = first["failures"]
    assert (failure["externalId"], failure["position"], failure["code"]) == ("X2", 1, "DetailsInvalid")
    assert "personalInformation" in failure["message"]
    # Again, without --json: the bar and a summary go to the terminal, and nothing changes.
    shown = subprocess.run(
        [sys.executable, "-m", "trustroom", "import", "contacts", "--tenant", tenant["id"], str(file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "0 created, 0 updated, 1 unchanged, 1 failed" in shown.stdout
    assert "record 1 (X2): DetailsInvalid" in shown.stdout
