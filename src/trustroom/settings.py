"""Settings: the one place that reads the environment.

Every setting comes from a `TRUSTROOM_*` environment variable (nested groups use `__`,
e.g. `TRUSTROOM_AUTH__LOGIN_MAX_ATTEMPTS`). `Settings()` is built by the composition
roots (`create_app`, `run_worker`, the CLI), never at import time.
"""

from __future__ import annotations

import secrets
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["de", "en", "fr", "it"]
LANGUAGES: tuple[Language, ...] = ("de", "en", "fr", "it")

DEV_SECRET_FILE = "dev-secret-key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_LENGTH = 32


class ConfigurationError(Exception):
    """A setting is missing or broken; start-up stops with this message."""


class AuthSettings(BaseModel):
    """Advisor-portal sign-in, sessions and API keys."""

    login_max_attempts: int = Field(5, ge=1, description="Failed password/TOTP attempts before lockout.")
    lockout_seconds: int = Field(900, ge=1, description="How long a locked member stays locked.")
    ip_attempts_per_minute: int = Field(30, ge=1, description="Sign-in attempts per client IP per minute.")
    session_ttl_seconds: int = Field(8 * 3600, ge=60, description="Absolute lifetime of a portal session.")
    session_idle_seconds: int = Field(1800, ge=60, description="Idle timeout of a portal session.")
    pending_login_seconds: int = Field(300, ge=30, description="Time allowed between password and TOTP step.")
    cookie_secure: bool | None = Field(
        None, description="Mark cookies Secure; unset means yes except in development mode."
    )
    api_key_last_used_resolution_seconds: int = Field(
        60, ge=0, description="Write an API key's last-used time at most this often."
    )
    idempotency_ttl_seconds: int = Field(86400, ge=60, description="How long an Idempotency-Key is remembered.")


class WebhookSettings(BaseModel):
    """Where webhooks may go."""

    allow_http: bool = Field(False, description="Accept http:// endpoint URLs (default: https only).")
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks that may receive webhooks although private, loopback or link-local (JSON list).",
    )
    secret_rotation_overlap_seconds: int = Field(
        86400, ge=0, description="How long a rotated-out signing secret still signs deliveries."
    )
    timeout_seconds: float = Field(15.0, gt=0, description="How long one delivery attempt may take.")
    disable_after_failing_seconds: int = Field(
        5 * 86400, ge=60, description="Disable an endpoint after failing continuously this long."
    )
    endpoint_concurrency: int = Field(
        4, ge=1, le=256, description="Deliveries in flight to one endpoint at most (a slow one holds no more)."
    )


class MailSettings(BaseModel):
    """Outbound email. Without an SMTP host, mail goes to the local outbox (`<data dir>/outbox/mail`)."""

    smtp_host: str | None = Field(None, description="SMTP server; unset: write mail to the local outbox.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="`starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (local relays only)."
    )
    smtp_username: str | None = Field(None, description="SMTP login; unset: no authentication.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    sender: str = Field("Trustroom <no-reply@localhost>", description="The From address of every email.")
    timeout_seconds: float = Field(30.0, gt=0, description="How long one SMTP delivery may take.")

    @field_validator("sender")
    @classmethod
    def _sender_is_an_address(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if "@" not in address or address != address.strip() or " " in address:
            raise ValueError(f"TRUSTROOM_MAIL__SENDER is not an email address: {value!r}")
        return value


class SmsSettings(BaseModel):
    """Outbound SMS through an HTTP gateway. Without a gateway URL, SMS go to the local outbox."""

    gateway_url: str | None = Field(
        None, description="The gateway's send URL (JSON POST: to, text, sender); unset: the local outbox."
    )
    gateway_token: SecretStr | None = Field(None, description="Bearer token for the gateway.")
    sender: str = Field("Trustroom", max_length=11, description="Sender name shown on the phone (≤ 11 characters).")
    timeout_seconds: float = Field(15.0, gt=0, description="How long one gateway call may take.")

    @field_validator("gateway_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"TRUSTROOM_SMS__GATEWAY_URL must be an http(s) URL: {value!r}")
        return value


class StorageSettings(BaseModel):
    """Where sealed blobs (export and import files, documents) are kept."""

    backend: Literal["local", "s3"] = Field("local", description="`local` (a directory) or `s3` (object storage).")
    local_path: Path | None = Field(None, description="Directory of the local blob store; unset: `<data dir>/blobs`.")
    s3_bucket: str | None = Field(None, description="The bucket of the S3 store (required with backend `s3`).")
    s3_prefix: str = Field("", description="Key prefix of every blob in the bucket, e.g. `trustroom/`.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint; unset: AWS.")
    s3_region: str | None = Field(None, description="The bucket's region.")
    s3_access_key_id: str | None = Field(None, description="Access key; unset: the AWS default credential chain.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret of the access key.")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("TRUSTROOM_STORAGE__BACKEND=s3 needs TRUSTROOM_STORAGE__S3_BUCKET")
        return self


class ClientSettings(BaseModel):
    """Client records: verifying a new email address or mobile number, profile pictures, export, import."""

    verification_key_ttl_seconds: int = Field(
        900, ge=60, description="How long a channel verification key stays valid."
    )
    verification_max_attempts: int = Field(
        5, ge=1, description="Wrong keys allowed before the key expires (a new one must be sent)."
    )
    verification_resend_seconds: int = Field(60, ge=0, description="Least time between two keys for one channel.")
    verification_sends_per_day: int = Field(10, ge=1, description="Keys sent per contact and channel per day.")
    profile_picture_max_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=3 * 1024 * 1024, description="Largest profile picture accepted (decoded)."
    )
    export_ttl_seconds: int = Field(86400, ge=60, description="How long an export file can be downloaded.")
    import_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Largest import upload (all files of one request together)."
    )
    import_ttl_seconds: int = Field(
        7 * 86400, ge=3600, description="How long uploaded import files are kept (synced or not)."
    )


class ExchangeSettings(BaseModel):
    """Secure exchange: access links, the client's sign-in, uploads."""

    link_ttl_seconds: int = Field(7 * 86400, ge=300, description="How long an access link can be used.")
    upload_max_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="Largest document accepted (bytes).")
    code_ttl_seconds: int = Field(300, ge=60, description="How long a client's one-time sign-in code is valid.")
    code_max_attempts: int = Field(5, ge=1, description="Wrong codes allowed before the sign-in must start again.")
    code_resend_seconds: int = Field(60, ge=0, description="Least time between two codes for one sign-in.")
    codes_per_sign_in: int = Field(3, ge=1, description="Codes sent for one sign-in at most (resends included).")
    session_ttl_seconds: int = Field(4 * 3600, ge=300, description="Absolute lifetime of a client's session.")
    session_idle_seconds: int = Field(1800, ge=60, description="Idle timeout of a client's session.")
    clamd_url: str | None = Field(
        None,
        description="ClamAV daemon, `tcp://host:3310` or `unix:///run/clamav/clamd.ctl`; set, documents wait in "
        "quarantine until scanned clean and uploads are refused while it is down.",
    )
    scan_timeout_seconds: float = Field(120.0, gt=0, description="How long one virus scan may take.")


class Settings(BaseSettings):
    """All of Trustroom's configuration; see README, section Configuration."""

    model_config = SettingsConfigDict(env_prefix="TRUSTROOM_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Directory for the SQLite database, blobs and dev secrets.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite in the data dir. postgresql://… selects psycopg."
    )
    secret_key: SecretStr | None = Field(None, description="Key for keyed hashes and sealing (≥ 32 chars).")
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list, description="Older secrets, still accepted while what they made moves on (JSON list)."
    )
    dev: bool = Field(False, description="Development mode: a generated secret key is allowed.")
    default_language: Language = Field("en", description="Language when neither request nor tenant chooses.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL used in links that leave the server.")
    max_request_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request body the API reads (larger answer 413)."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_json: bool = Field(True, description="Log one JSON object per line.")
    run_worker_in_process: bool = Field(True, description="`serve` also runs the worker unless --no-worker.")
    worker_poll_seconds: float = Field(5.0, gt=0, description="Worker's polling interval for due work.")
    worker_concurrency: int = Field(16, ge=1, le=256, description="Jobs one worker runs at once.")
    worker_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="A claimed job's lease; renewed while it runs, so a crashed worker's jobs restart after this.",
    )
    worker_shutdown_grace_seconds: float = Field(
        20.0, ge=0, description="On shutdown, how long running jobs may finish before they are given back."
    )
    job_retention_seconds: int = Field(7 * 86400, ge=60, description="How long finished jobs stay readable.")
    event_retention_seconds: int = Field(
        30 * 86400,
        ge=2 * 86400,  # longer than the whole webhook retry schedule (about 28 hours)
        description="How long events (webhook payloads, with their delivery log) are kept.",
    )
    auth: AuthSettings = AuthSettings()
    webhooks: WebhookSettings = WebhookSettings()
    mail: MailSettings = MailSettings()
    sms: SmsSettings = SmsSettings()
    clients: ClientSettings = ClientSettings()
    storage: StorageSettings = StorageSettings()
    exchange: ExchangeSettings = ExchangeSettings()

    @field_validator("default_language", mode="before")
    @classmethod
    def _lower_language(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        """The URL with the async driver each backend needs."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'trustroom.db'}"
        for plain, driver in (
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgresql://", "postgresql+psycopg://"),
            ("postgres://", "postgresql+psycopg://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def cookies_secure(self) -> bool:
        return (not self.dev) if self.auth.cookie_secure is None else self.auth.cookie_secure

    def previous_secrets(self) -> list[bytes]:
        for old in self.previous_secret_keys:
            if len(old.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    f"Every TRUSTROOM_PREVIOUS_SECRET_KEYS entry must be at least {MIN_SECRET_LENGTH} characters."
                )
        return [old.get_secret_value().encode() for old in self.previous_secret_keys]

    def secret(self) -> bytes:
        """The server secret; in development mode one is generated once and kept in the data dir."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigurationError(f"TRUSTROOM_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters.")
            return value.encode()
        if not self.dev:
            raise ConfigurationError(
                "TRUSTROOM_SECRET_KEY is not set. Set it to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters, or run in development mode (TRUSTROOM_DEV=1)."
            )
        path = self.data_dir / DEV_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()
