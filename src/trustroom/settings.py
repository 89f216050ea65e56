"""Settings: the one place that reads the environment.

Every setting comes from a `TRUSTROOM_*` environment variable (nested groups use `__`,
e.g. `TRUSTROOM_AUTH__LOGIN_MAX_ATTEMPTS`). `Settings()` is built by the composition
roots (`create_app`, `run_worker`, the CLI), never at import time. Building it checks
every setting and raises `SettingsInvalid` with one problem per broken setting (the
messages are in `settings_problems`).
"""

from __future__ import annotations

import secrets
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .settings_problems import ConfigurationError as ConfigurationError
from .settings_problems import SettingsInvalid, invalid, problem, problems
from .settings_values import MIN_SECRET_LENGTH as MIN_SECRET_LENGTH
from .settings_values import (
    SECRET_EXAMPLE,
    CIDRList,
    EnvSource,
    HttpUrl,
    HttpUrlList,
    SecretList,
    TrustRootFiles,
    check_clamd_url,
    check_database_url,
    check_hostname,
    check_http_url,
    check_log_level,
    check_secret_length,
)

Language = Literal["de", "en", "fr", "it"]
LANGUAGES: tuple[Language, ...] = ("de", "en", "fr", "it")

DEV_SECRET_FILE = "dev-secret-key"  # noqa: S105 - a file name, not a secret


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
    allowed_networks: CIDRList = Field(
        default_factory=list,
        description="CIDR networks that may receive webhooks although private, loopback or link-local "
        "(comma-separated or a JSON list).",
        examples=["10.0.0.0/8,192.168.0.0/16"],
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

    smtp_host: Annotated[str | None, AfterValidator(check_hostname)] = Field(
        None, description="SMTP server; unset: write mail to the local outbox.", examples=["smtp.bank.example"]
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="`starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (local relays only)."
    )
    smtp_username: str | None = Field(
        None, description="SMTP login; unset: no authentication.", examples=["trustroom@bank.example"]
    )
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    sender: str = Field(
        "Trustroom <no-reply@localhost>",
        description="The From address of every email.",
        examples=['"Trustroom <no-reply@bank.example>"'],
    )
    timeout_seconds: float = Field(30.0, gt=0, description="How long one SMTP delivery may take.")

    @field_validator("sender")
    @classmethod
    def _sender_is_an_address(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if "@" not in address or address != address.strip() or " " in address:
            raise problem("email_address")
        return value


class SmsSettings(BaseModel):
    """Outbound SMS through an HTTP gateway. Without a gateway URL, SMS go to the local outbox."""

    gateway_url: HttpUrl = Field(
        None,
        description="The gateway's send URL (JSON POST: to, text, sender); unset: the local outbox.",
        examples=["https://sms-gateway.bank.example/send"],
    )
    gateway_token: SecretStr | None = Field(None, description="Bearer token for the gateway.")
    sender: str = Field("Trustroom", max_length=11, description="Sender name shown on the phone (≤ 11 characters).")
    timeout_seconds: float = Field(15.0, gt=0, description="How long one gateway call may take.")


class StorageSettings(BaseModel):
    """Where sealed blobs (export and import files, documents) are kept."""

    backend: Literal["local", "s3"] = Field("local", description="`local` (a directory) or `s3` (object storage).")
    local_path: Path | None = Field(
        None, description="Directory of the local blob store; unset: `<data dir>/blobs`.", examples=["/srv/trustroom"]
    )
    s3_bucket: str | None = Field(
        None,
        description="The bucket of the S3 store (required with backend `s3`).",
        examples=["trustroom-blobs"],
        validate_default=True,
    )
    s3_prefix: str = Field("", description="Key prefix of every blob in the bucket, e.g. `trustroom/`.")
    s3_endpoint_url: HttpUrl = Field(
        None, description="S3-compatible endpoint; unset: AWS.", examples=["https://minio.bank.example:9000"]
    )
    s3_region: str | None = Field(None, description="The bucket's region.", examples=["eu-central-2"])
    s3_access_key_id: str | None = Field(
        None, description="Access key; unset: the AWS default credential chain.", examples=["AKIAIOSFODNN7EXAMPLE"]
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret of the access key.")

    @field_validator("s3_bucket")
    @classmethod
    def _s3_needs_a_bucket(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Checked on the bucket (declared after the backend) so the message names its variable.
        if info.data.get("backend") == "s3" and not value:
            raise problem("s3_needs_bucket")
        return value


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
    clamd_url: Annotated[str | None, AfterValidator(check_clamd_url)] = Field(
        None,
        examples=["tcp://127.0.0.1:3310"],
        description="ClamAV daemon, `tcp://host:3310` or `unix:///run/clamav/clamd.ctl`; set, documents wait in "
        "quarantine until scanned clean and uploads are refused while it is down.",
    )
    scan_timeout_seconds: float = Field(120.0, gt=0, description="How long one virus scan may take.")


class SigningSettings(BaseModel):
    """E-signatures: the documents of a dossier (limits, upload URLs, page images), the
    signer's one-time codes, the time-stamping authorities, the roots a validation trusts,
    and `POST /signing/validate`."""

    code_ttl_seconds: int = Field(300, ge=60, description="How long a signer's one-time code is valid.")
    code_max_attempts: int = Field(5, ge=1, description="Wrong codes before a signer's code dies and they are locked.")
    code_resend_seconds: int = Field(60, ge=0, description="Least time between two codes for one signer and method.")
    codes_per_day: int = Field(10, ge=1, description="Codes sent to one signer by one method in a day at most.")
    lockout_seconds: int = Field(900, ge=60, description="How long a signer who typed too many wrong codes waits.")
    signer_session_seconds: int = Field(
        3600, ge=300, description="How long a signer's browser session lasts after they open their invitation."
    )
    authentication_valid_seconds: int = Field(
        1800, ge=60, description="How long a passed code counts: the signer must sign within this time."
    )

    tsa_urls: HttpUrlList = Field(
        default_factory=list,
        description="External RFC 3161 time-stamping authorities, tried in order (comma-separated or a JSON list); "
        "unset: Trustroom's own in-process TSA.",
        examples=["https://tsa.trust-provider.example/tsr,https://tsa2.trust-provider.example/tsr"],
    )
    tsa_timeout_seconds: float = Field(10.0, gt=0, description="How long one request to an external TSA may take.")
    trust_roots: TrustRootFiles = Field(
        default_factory=list,
        description="PEM files of further root certificates that validation trusts besides Trustroom's own root "
        "(an external TSA's or signing CA's root; comma-separated or a JSON list).",
        examples=["/etc/trustroom/tsa-root.pem"],
    )
    fetch_urls: HttpUrlList = Field(
        default_factory=list,
        description="URL prefixes Trustroom may fetch revocation info from over HTTP (an external TSA's OCSP and "
        "CRL); Trustroom's own are answered in-process, anything else is refused.",
        examples=["http://ocsp.trust-provider.example/,http://crl.trust-provider.example/"],
    )
    authority_name: str = Field(
        "Trustroom",
        min_length=1,
        max_length=64,
        description="The organization named in the platform root's and the TSA's certificates (made once, "
        "on first use).",
        examples=["Alpine Private Bank"],
    )
    renew_before_days: int = Field(
        90,
        ge=1,
        le=365,
        description="Days before its expiry that the in-process TSA's, the OCSP responders' and a tenant seal's "
        "certificate is renewed (at the next signing step or `trustroom signing check`).",
    )
    validate_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest PDF `POST /api/v1/signing/validate` accepts (bytes)."
    )
    validations_per_minute: int = Field(
        30, ge=1, description="Validations one tenant may ask for per minute (each costs about a second of CPU)."
    )
    validation_concurrency: int = Field(
        2, ge=1, le=64, description="Validations one process runs at once; the others wait their turn."
    )

    max_documents: int = Field(20, ge=1, le=1000, description="Documents one dossier holds at most.")
    max_total_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Bytes the documents of one dossier take together at most."
    )
    upload_url_ttl_seconds: int = Field(3600, ge=60, description="How long a dossier's upload URL accepts uploads.")
    upload_url_attempts_per_minute: int = Field(
        30, ge=1, description="Uploads through upload URLs per client IP per minute (guessing a token is futile)."
    )
    page_image_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Memory for recently rendered page images, per process (0: none)."
    )


class Settings(BaseSettings):
    """All of Trustroom's configuration; see README, section Configuration."""

    # An empty variable counts as unset (`TRUSTROOM_MAIL__SMTP_HOST=` means the outbox).
    model_config = SettingsConfigDict(
        env_prefix="TRUSTROOM_", env_nested_delimiter="__", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Field(Path("var"), description="Directory for the SQLite database, blobs and dev secrets.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite in the data dir. postgresql://… selects psycopg.",
        examples=["postgresql://trustroom:password@db.internal:5432/trustroom"],
    )
    secret_key: Annotated[SecretStr, AfterValidator(check_secret_length)] | None = Field(
        None, description="Key for keyed hashes and sealing (≥ 32 chars).", examples=[SECRET_EXAMPLE]
    )
    previous_secret_keys: SecretList = Field(
        default_factory=list,
        description="Older secrets, still accepted while what they made moves on (JSON list, or one secret).",
        examples=["'[\"<old secret>\"]'"],
    )
    dev: bool = Field(False, description="Development mode: a generated secret key is allowed.")
    default_language: Language = Field("en", description="Language when neither request nor tenant chooses.")
    public_url: Annotated[str, AfterValidator(check_http_url)] = Field(
        "http://127.0.0.1:8000",
        description="Base URL used in links that leave the server; unset, `serve` uses its own host and port.",
        examples=["https://trustroom.bank.example"],
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request body the API reads (larger answer 413)."
    )
    log_level: Annotated[str, AfterValidator(check_log_level)] = Field(
        "INFO", description="Python logging level.", examples=["INFO"]
    )
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
    signing: SigningSettings = SigningSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, EnvSource(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="wrap")
    @classmethod
    def _one_line_per_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Every broken setting at once, each as a line naming its variable (not a traceback)."""
        try:
            return handler(data)
        except ValidationError as exc:
            raise SettingsInvalid(problems(exc, cls)) from None

    @field_validator("default_language", mode="before")
    @classmethod
    def _lower_language(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None:
            check_database_url(value)
        return value

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

    def missing_secret(self) -> SettingsInvalid:
        return invalid(("secret_key",), "secret_missing", Settings, length=MIN_SECRET_LENGTH)

    @property
    def cookies_secure(self) -> bool:
        return (not self.dev) if self.auth.cookie_secure is None else self.auth.cookie_secure

    def previous_secrets(self) -> list[bytes]:
        for old in self.previous_secret_keys:
            _long_secret_or_stop(("previous_secret_keys",), old)
        return [old.get_secret_value().encode() for old in self.previous_secret_keys]

    def secret(self) -> bytes:
        """The server secret; in development mode one is generated once and kept in the data dir."""
        if self.secret_key is not None:
            return _long_secret_or_stop(("secret_key",), self.secret_key).get_secret_value().encode()
        if not self.dev:
            raise self.missing_secret()
        path = self.data_dir / DEV_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def _long_secret_or_stop(path: tuple[str, ...], value: SecretStr) -> SecretStr:
    # Validation checked this already; a copy made with `model_copy` was not validated.
    actual = len(value.get_secret_value())
    if actual < MIN_SECRET_LENGTH:
        raise invalid(path, "secret_too_short", Settings, length=MIN_SECRET_LENGTH, actual=actual)
    return value
