"""Start-up checks every setting and says what to fix in one line per problem (exit 2, no
traceback); `trustroom config check` prints the effective configuration, secrets masked.

One test runs the installed `trustroom` as a process; the others run the same command line
in-process (`cli.run`), which costs no second of imports each."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from trustroom import cli
from trustroom.settings import Settings

from .auth.test_portal_browser import TRUSTROOM
from .conftest import TEST_SECRET
from .test_readme import variables

SMTP_PASSWORD = "smtp-pass-word-9f3k"
DB_PASSWORD = "db-pass-word-7q2x"
GATEWAY_TOKEN = "gateway-token-5m8z"


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the settings a test sets (the test run's own TRUSTROOM_* variables removed)."""
    for name in list(os.environ):
        if name.startswith("TRUSTROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRUSTROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRUSTROOM_SECRET_KEY", TEST_SECRET)
    return monkeypatch


def run(capsys: pytest.CaptureFixture[str], *argv: str, expect: int) -> tuple[str, str]:
    assert cli.run(list(argv)) == expect
    captured = capsys.readouterr()
    return captured.out, captured.err


def problem_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    out, err = run(capsys, *argv, expect=2)
    assert out == ""
    lines = err.splitlines()
    assert all(line.startswith("error: TRUSTROOM_") and "; example: TRUSTROOM_" in line for line in lines), lines
    return lines


def test_broken_settings_stop_the_real_command_with_one_line_each(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "TRUSTROOM_DATA_DIR": str(tmp_path),
        "TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS": '["127.0.0.0/33"]',
        "TRUSTROOM_DATABASE_URL": f"postgresql+asyncpg://trustroom:{DB_PASSWORD}@db:5432/trustroom",
        "TRUSTROOM_WORKER_CONCURRENCY": "sixteen",
    }
    done = subprocess.run([str(TRUSTROOM), "migrate"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and DB_PASSWORD not in done.stderr
    assert done.stderr.splitlines() == [
        'error: TRUSTROOM_DATABASE_URL: "postgresql+asyncpg://trustroom:********@db:5432/trustroom": driver asyncpg '
        "is not supported for postgresql (use postgresql:// or postgresql+psycopg://); "
        "example: TRUSTROOM_DATABASE_URL=postgresql://trustroom:password@db.internal:5432/trustroom",
        'error: TRUSTROOM_WORKER_CONCURRENCY: "sixteen" is not a whole number; '
        "example: TRUSTROOM_WORKER_CONCURRENCY=16",
        'error: TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS: "127.0.0.0/33" is not a CIDR network (an IP address, / and a '
        "prefix length of at most 32, or 128 for IPv6); example: TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS=10.0.0.0/8,"
        "192.168.0.0/16",
    ]
    as_json = subprocess.run(
        [str(TRUSTROOM), "--json", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert as_json.returncode == 2 and as_json.stderr == ""
    answer = json.loads(as_json.stdout)
    assert answer["error"] == "SettingsInvalid"
    assert [p["variable"] for p in answer["problems"]] == [
        "TRUSTROOM_DATABASE_URL",
        "TRUSTROOM_WORKER_CONCURRENCY",
        "TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS",
    ]
    assert answer["problems"][1] == {
        "variable": "TRUSTROOM_WORKER_CONCURRENCY",
        "message": '"sixteen" is not a whole number',
        "example": "16",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "1"],
        ["worker"],
        ["migrate"],
        ["demo"],
        ["tenant", "create", "X"],
        ["api-key", "create", "--tenant", "0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"],
        ["keys", "status"],
        ["audit", "verify"],
        ["config", "check"],
    ],
)
def test_every_command_checks_every_setting_first(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    environ.setenv("TRUSTROOM_AUTH__LOCKOUT_SECONDS", "0")
    assert problem_lines(capsys, *argv) == [
        'error: TRUSTROOM_AUTH__LOCKOUT_SECONDS: must be at least 1, not "0"; '
        "example: TRUSTROOM_AUTH__LOCKOUT_SECONDS=900"
    ]


@pytest.mark.parametrize(
    ("value", "wrong"),
    [
        ("127.0.0.0/8", None),
        ("127.0.0.0/8, 10.0.0.0/8,fd00::/8", None),
        ('["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"]', None),
        ('["127.0.0.0/33"]', '"127.0.0.0/33" is not a CIDR network'),
        ("10.0.0.0/8,10.0.0.300/32", '"10.0.0.300/32" is not a CIDR network'),
        ("[127.0.0.0/8", '"[127.0.0.0/8" is not a JSON list'),
    ],
)
def test_network_lists_are_comma_separated_or_json(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, wrong: str | None
) -> None:
    environ.setenv("TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS", value)
    if wrong is None:
        given = value.strip("[]").replace('"', "").split(",")
        assert Settings().webhooks.allowed_networks == [network.strip() for network in given]
        return
    [line] = problem_lines(capsys, "config", "check")
    assert line.startswith(f"error: TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS: {wrong}")
    assert line.endswith("example: TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS=10.0.0.0/8,192.168.0.0/16")


@pytest.mark.parametrize(
    ("url", "wrong"),
    [
        ("localhost:5432/trustroom", '"localhost:5432/trustroom" is not a database URL'),
        ("postgresql://trustroom@db:port/trustroom", "has a port that is not a number from 1 to 65535"),
        (f"postgresql://trustroom:{DB_PASSWORD}@db@x/t", "has an @ in its host: write an @ in the password as %40"),
        ("sqlite://", '"sqlite://" names no database file'),
        (f"mysql://trustroom:{DB_PASSWORD}@db/trustroom", "mysql databases are not supported"),
        ("sqlite+pysqlite:///var/x.db", "driver pysqlite is not supported for sqlite"),
        (f"postgresql+asyncpg://trustroom:{DB_PASSWORD}@db/t", "driver asyncpg is not supported for postgresql"),
    ],
)
def test_database_urls_are_checked(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, wrong: str
) -> None:
    environ.setenv("TRUSTROOM_DATABASE_URL", url)
    [line] = problem_lines(capsys, "migrate")
    assert line.startswith("error: TRUSTROOM_DATABASE_URL: ") and wrong in line
    assert DB_PASSWORD not in line


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/trustroom.db",
        "sqlite+aiosqlite:////srv/trustroom.db",
        "postgresql://trustroom@db:5432/trustroom",
        "postgres://trustroom:p%40ss@db/trustroom",
        "postgresql+psycopg:///trustroom?host=/run/postgresql",
    ],
)
def test_supported_database_urls_pass(environ: pytest.MonkeyPatch, url: str) -> None:
    environ.setenv("TRUSTROOM_DATABASE_URL", url)
    assert Settings().resolved_database_url.split("://")[0] in ("sqlite+aiosqlite", "postgresql+psycopg")


def test_several_problems_are_said_at_once(environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    broken = {
        "TRUSTROOM_SECRET_KEY": "too-short",
        "TRUSTROOM_PUBLIC_URL": "trustroom.bank.example",
        "TRUSTROOM_LOG_LEVEL": "verbose",
        "TRUSTROOM_DEV": "maybe",
        "TRUSTROOM_WEBHOOKS__TIMEOUT_SECONDS": "0",
        "TRUSTROOM_MAIL__SMTP_HOST": "smtp.bank.example:587",
        "TRUSTROOM_MAIL__SMTP_PORT": "70000",
        "TRUSTROOM_MAIL__SMTP_SECURITY": "ssl",
        "TRUSTROOM_SMS__GATEWAY_URL": "ftp://sms.bank.example/send",
        "TRUSTROOM_STORAGE__BACKEND": "s3",
        "TRUSTROOM_EXCHANGE__CLAMD_URL": "localhost:3310",
        "TRUSTROOM_AUTH": "not json",
    }
    for name, value in broken.items():
        environ.setenv(name, value)
    out, err = run(capsys, "serve", expect=2)
    lines = err.splitlines()
    named = [line.removeprefix("error: ").split(":", 1)[0] for line in lines]
    # The backend is fine; the bucket it then needs is what is missing.
    expected = [name for name in broken if name != "TRUSTROOM_STORAGE__BACKEND"] + ["TRUSTROOM_STORAGE__S3_BUCKET"]
    assert sorted(named) == sorted(expected) and out == ""
    assert "too-short" not in err  # a secret is never echoed, not even a broken one
    said = dict(zip(named, lines, strict=True))
    assert "must be at least 32 characters long (it has 9)" in said["TRUSTROOM_SECRET_KEY"]
    assert "must be more than 0" in said["TRUSTROOM_WEBHOOKS__TIMEOUT_SECONDS"]
    assert "write the port into its own setting" in said["TRUSTROOM_MAIL__SMTP_HOST"]
    assert "must be at most 65535" in said["TRUSTROOM_MAIL__SMTP_PORT"]
    assert "is not one of 'starttls', 'tls' or 'none'" in said["TRUSTROOM_MAIL__SMTP_SECURITY"]
    assert "must be set when TRUSTROOM_STORAGE__BACKEND is s3" in said["TRUSTROOM_STORAGE__S3_BUCKET"]
    assert "or set each as TRUSTROOM_AUTH__NAME" in said["TRUSTROOM_AUTH"]


def test_config_check_shows_every_setting_with_secrets_masked(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ.setenv("TRUSTROOM_DATABASE_URL", f"postgresql://trustroom:{DB_PASSWORD}@db:5432/trustroom")
    environ.setenv("TRUSTROOM_PREVIOUS_SECRET_KEYS", json.dumps(["o" * 40, "p" * 40]))
    environ.setenv("TRUSTROOM_MAIL__SMTP_HOST", "smtp.bank.example")
    environ.setenv("TRUSTROOM_MAIL__SMTP_PASSWORD", SMTP_PASSWORD)
    environ.setenv("TRUSTROOM_SMS__GATEWAY_URL", f"https://sms.bank.example/send?account=7&token={GATEWAY_TOKEN}")
    environ.setenv("TRUSTROOM_SMS__GATEWAY_TOKEN", GATEWAY_TOKEN)
    environ.setenv("TRUSTROOM_STORAGE__S3_SECRET_ACCESS_KEY", "s3-secret-access-key")
    secrets = (TEST_SECRET, DB_PASSWORD, SMTP_PASSWORD, GATEWAY_TOKEN, "o" * 40, "s3-secret-access-key")

    out, err = run(capsys, "config", "check", "--json", expect=0)
    assert err == "" and not any(secret in out for secret in secrets)
    report = json.loads(out)
    assert report["valid"] is True and report["warnings"] == []
    shown = {row["variable"]: row for row in report["settings"]}
    assert list(shown) == variables()
    assert shown["TRUSTROOM_SECRET_KEY"] == {"variable": "TRUSTROOM_SECRET_KEY", "value": "********", "source": "set"}
    assert shown["TRUSTROOM_PREVIOUS_SECRET_KEYS"]["value"] == ["********", "********"]
    assert shown["TRUSTROOM_DATABASE_URL"]["value"] == "postgresql+psycopg://trustroom:********@db:5432/trustroom"
    assert shown["TRUSTROOM_MAIL__SMTP_PASSWORD"]["value"] == "********"
    assert shown["TRUSTROOM_SMS__GATEWAY_URL"]["value"] == "https://sms.bank.example/send?account=7&token=********"
    assert shown["TRUSTROOM_MAIL__SMTP_HOST"] == {
        "variable": "TRUSTROOM_MAIL__SMTP_HOST",
        "value": "smtp.bank.example",
        "source": "set",
    }
    assert shown["TRUSTROOM_WORKER_CONCURRENCY"] == {
        "variable": "TRUSTROOM_WORKER_CONCURRENCY",
        "value": 16,
        "source": "default",
    }

    text, err = run(capsys, "config", "check", expect=0)
    assert err == "" and not any(secret in text for secret in secrets)
    lines = text.splitlines()
    assert lines[-1] == "configuration is valid"
    assert [line.split()[0] for line in lines[:-1]] == variables()
    assert "TRUSTROOM_WORKER_CONCURRENCY" in text and "16  (default)" in text


def test_config_check_needs_a_secret_outside_development_mode(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ.delenv("TRUSTROOM_SECRET_KEY")
    [line] = problem_lines(capsys, "config", "check")
    assert line.startswith("error: TRUSTROOM_SECRET_KEY: not set;")
    out, _ = run(capsys, "config", "check", "--dev", expect=0)
    assert out.endswith("configuration is valid\n")


@pytest.mark.parametrize("position", ["before", "after", "between"])
def test_global_flags_go_before_or_after_the_command(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], position: str
) -> None:
    environ.delenv("TRUSTROOM_SECRET_KEY")
    argv = {
        "before": ["--json", "--dev", "config", "check"],
        "after": ["config", "check", "--json", "--dev"],
        "between": ["config", "--dev", "check", "--json"],
    }[position]
    out, _ = run(capsys, *argv, expect=0)
    shown = {row["variable"]: row["value"] for row in json.loads(out)["settings"]}
    assert shown["TRUSTROOM_DEV"] is True


def test_serve_links_to_where_it_listens(settings: Settings) -> None:
    assert cli.with_listening_url(settings, "127.0.0.1", 8010).public_url == "http://127.0.0.1:8010"
    assert cli.with_listening_url(settings, "0.0.0.0", 8443).public_url == "http://127.0.0.1:8443"  # noqa: S104
    chosen = Settings(**{**settings.model_dump(), "public_url": "https://trustroom.bank.example"})
    assert cli.with_listening_url(chosen, "127.0.0.1", 8010).public_url == "https://trustroom.bank.example"


def test_make_run_serves_on_the_port_it_is_given() -> None:
    project = Path(__file__).resolve().parents[1]
    # Not the variables of a calling make (CI runs the suite from `make test`): they would
    # add "Entering/Leaving directory" lines and pass on its flags.
    skipped = ("PORT", "TRUSTROOM_PUBLIC_URL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    env = {k: v for k, v in os.environ.items() if k not in skipped}
    done = subprocess.run(
        ["make", "--no-print-directory", "--always-make", "--dry-run", "run", "PORT=8010"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    demo, serve = done.stdout.strip().splitlines()[-2:]
    for line in (demo, serve):
        assert "TRUSTROOM_PUBLIC_URL=${TRUSTROOM_PUBLIC_URL:-http://127.0.0.1:8010}" in line
    assert demo.endswith("trustroom demo") and serve.endswith("serve --host 127.0.0.1 --port 8010")


def test_config_check_warns_of_variables_that_are_no_setting(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ.setenv("TRUSTROOM_WEBHOOK__ALLOWED_NETWORKS", "10.0.0.0/8")  # WEBHOOKS, plural
    environ.setenv("TRUSTROOM_FAVOURITE_COLOUR", "green")
    environ.setenv("TRUSTROOM_TEST_DATABASE", "postgres")  # the test suite's, not a setting
    out, _ = run(capsys, "config", "check", "--json", expect=0)
    assert json.loads(out)["warnings"] == [
        "TRUSTROOM_FAVOURITE_COLOUR is not a setting and is ignored",
        "TRUSTROOM_WEBHOOK__ALLOWED_NETWORKS is not a setting and is ignored; "
        "did you mean TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS?",
    ]
    text, _ = run(capsys, "config", "check", expect=0)
    assert "\nwarning: TRUSTROOM_FAVOURITE_COLOUR is not a setting and is ignored\n" in text


def test_serve_refuses_a_port_out_of_range(environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.run(["serve", "--port", "70000"])
    assert stopped.value.code == 2
    assert "argument --port: '70000' is not a port (a number from 1 to 65535)" in capsys.readouterr().err


TENANT = "0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d"
# Each command of the README's table, as run here, and whether it needs the server secret.
COMMANDS_AND_SECRET = {
    "serve": (["serve", "--port", "1"], True),
    "worker": (["worker"], True),
    "migrate": (["migrate"], False),
    "demo": (["demo"], True),
    "tenant create": (["tenant", "create", "No Secret Bank"], False),
    "api-key create": (["api-key", "create", "--tenant", TENANT], True),
    "member create": (["member", "create", "--tenant", TENANT, "--email", "a@b.example", "--role", "admin"], True),
    "keys status": (["keys", "status"], True),
    "keys reseal": (["keys", "reseal"], True),
    "keys rotate": (["keys", "rotate"], True),
    "import contacts": (["import", "contacts", "--tenant", TENANT, "none.json"], True),
    "audit verify": (["audit", "verify"], False),
    "config check": (["config", "check"], True),
}


def test_the_readme_says_which_commands_need_the_secret(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Against the demo data, these are the commands that need --dev (README, Command line)."""
    environ.delenv("TRUSTROOM_SECRET_KEY")
    environ.setenv("TRUSTROOM_DATABASE_URL", f"sqlite:///{tmp_path}/no-secret.db")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for command, (argv, needs_secret) in COMMANDS_AND_SECRET.items():
        [row] = [line for line in readme.splitlines() if line.startswith(f"| `trustroom {command}")]
        assert row.split(" | ")[1] == ("yes" if needs_secret else "no"), row
        code = cli.run(argv)
        captured = capsys.readouterr()
        if needs_secret:
            assert code == 2 and captured.err.startswith("error: TRUSTROOM_SECRET_KEY: not set;"), command
        else:
            assert code == 0, (command, captured.err)
