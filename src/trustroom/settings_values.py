"""The forms of setting values that need more than a type: lists written as JSON or
comma-separated, CIDR networks, http(s) URLs, host names, the clamd address, the log
level, long enough secrets and the database URL. Each check raises a `settings_problems`
error, so the message names the variable and the fix."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cryptography import x509
from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource, NoDecode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .settings_problems import problem

MIN_SECRET_LENGTH = 32


SECRET_EXAMPLE = '"$(openssl rand -base64 48)"'  # noqa: S105 - a command that makes one, not a secret
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# Database URL schemes (backend, optional driver) and the async driver each resolves to.
DATABASE_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "psycopg", "postgres": "psycopg"}


def _list_from_text(value: object) -> object:
    """A list setting as a JSON list or, more naturally, comma-separated values."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise problem("json_list", reason=str(exc)) from None
    return [part.strip() for part in text.split(",") if part.strip()]


def _secrets_from_text(value: object) -> object:
    """A JSON list of secrets, or one secret alone (never split: a secret may hold commas)."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        return [value] if value.strip() else []
    return _list_from_text(value)


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise problem("cidr") from None
    return value


def check_secret_length(value: SecretStr) -> SecretStr:
    actual = len(value.get_secret_value())
    if actual < MIN_SECRET_LENGTH:
        raise problem("secret_too_short", length=MIN_SECRET_LENGTH, actual=actual)
    return value


def check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem("url", schemes="http(s)")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise problem("url_bad_port") from None
    return value


def check_clamd_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    try:
        tcp = parts.scheme == "tcp" and bool(parts.hostname) and bool(parts.port)
    except ValueError:
        tcp = False
    if not (tcp or (parts.scheme == "unix" and parts.path)):
        raise problem("clamd_url")
    return value


def check_hostname(value: str | None) -> str | None:
    if value is None:
        return None
    if "://" in value:
        raise problem("hostname", reason="write the host alone, without a scheme")
    if ":" in value and not _is_ip_address(value):
        raise problem("hostname", reason="write the port into its own setting")
    if not value.strip() or any(c.isspace() or c in "/@" for c in value):
        raise problem("hostname", reason="no spaces, slashes or @")
    return value


def check_log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise problem("log_level", levels=", ".join(LOG_LEVELS))
    return value.upper()


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


CIDRList = Annotated[list[Annotated[str, AfterValidator(_cidr)]], NoDecode, BeforeValidator(_list_from_text)]
SecretList = Annotated[
    list[Annotated[SecretStr, AfterValidator(check_secret_length)]], NoDecode, BeforeValidator(_secrets_from_text)
]
HttpUrl = Annotated[str | None, AfterValidator(check_http_url)]
HttpUrlList = Annotated[
    list[Annotated[str, AfterValidator(check_http_url)]], NoDecode, BeforeValidator(_list_from_text)
]


def check_trust_root(value: Path) -> Path:
    """A PEM file of one or more CA certificates, readable now (not when a validation first needs it)."""
    try:
        data = value.read_bytes()
    except OSError as exc:
        raise problem("trust_root_unreadable", reason=exc.strerror or type(exc).__name__) from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise problem("trust_root_not_pem") from None
    for certificate in certificates:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise problem("trust_root_not_ca", subject=certificate.subject.rfc4514_string()[:80])
    return value


TrustRootFiles = Annotated[
    list[Annotated[Path, AfterValidator(check_trust_root)]], NoDecode, BeforeValidator(_list_from_text)
]


def check_database_url(value: str) -> None:
    """Only the databases and drivers Trustroom runs on; a wrong one would fail later as an
    SQLAlchemy or import error that names neither the setting nor the fix."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise problem("database_url_unparsable") from None
    except ValueError:
        raise problem("database_bad_port") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in DATABASE_DRIVERS:
        raise problem("database_unsupported", backend=backend)
    if driver and driver != DATABASE_DRIVERS[backend]:
        raise problem(
            "database_driver_unsupported",
            driver=driver,
            backend=backend,
            supported=f"{backend}:// or {backend}+{DATABASE_DRIVERS[backend]}://",
        )
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise problem("database_needs_path")
    if url.port is not None and not 0 < url.port < 65536:
        raise problem("database_bad_port")
    if url.host and "@" in url.host:
        raise problem("database_host_has_at")


class EnvSource(EnvSettingsSource):
    """The environment, where a value that is not the JSON a group or list expects is handed
    to validation as it is: the validators then name the variable (pydantic-settings would
    stop with an error naming neither the variable nor the expected form)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value
