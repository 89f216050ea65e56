"""What is wrong with a setting, said in one line an operator can act on.

Every message about a setting lives here (English: the audience is the operator at the
command line). A problem names the environment variable, says what is wrong and shows a
good value, e.g.

    TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS: "127.0.0.0/33" is not a CIDR network;
    example: TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS=10.0.0.0/8,192.168.0.0/16

(on one line). The settings models (`settings.py`) raise the errors named here; nothing
above them needs to know pydantic's error types.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUndefined

ENV_PREFIX = "TRUSTROOM_"
NESTED = "__"
MASK = "********"
SHOWN_INPUT = 80
# Query parameters of a URL whose value is a credential (masked like a URL's password).
SECRET_QUERY_WORDS = ("password", "secret", "token", "key", "signature", "sig", "auth", "credential")

# What is wrong, by error type: pydantic's own types and ours (raised through `problem`).
# `{input}` is the value as given (quoted, credentials masked); other fields come from the
# error's context.
MESSAGES: dict[str, str] = {
    "int_parsing": "{input} is not a whole number",
    "int_from_float": "{input} is not a whole number",
    "float_parsing": "{input} is not a number",
    "bool_parsing": "{input} is not a yes/no value (use true or false)",
    "greater_than": "must be more than {gt}, not {input}",
    "greater_than_equal": "must be at least {ge}, not {input}",
    "less_than": "must be less than {lt}, not {input}",
    "less_than_equal": "must be at most {le}, not {input}",
    "literal_error": "{input} is not one of {expected}",
    "string_too_long": "{input} is longer than {max_length} characters",
    "string_too_short": "{input} is shorter than {min_length} characters",
    "model_type": "{input} is not a JSON object of this group's settings (or set each as {variable}__NAME)",
    "model_attributes_type": "{input} is not a JSON object of this group's settings (or set each as {variable}__NAME)",
    "list_type": "{input} is not a list",
    "string_type": "{input} is not text",
    # Ours.
    "json_list": "{input} is not a JSON list ({reason}); write a JSON list or comma-separated values",
    "cidr": "{input} is not a CIDR network (an IP address, / and a prefix length of at most 32, or 128 for IPv6)",
    "secret_too_short": "must be at least {length} characters long (it has {actual})",
    "secret_missing": "not set; set it to a random string of at least {length} characters, "
    "or run in development mode (--dev or TRUSTROOM_DEV=1)",
    "database_url_unparsable": "{input} is not a database URL",
    "database_unsupported": "{input}: {backend} databases are not supported (SQLite or PostgreSQL only)",
    "database_driver_unsupported": "{input}: driver {driver} is not supported for {backend} (use {supported})",
    "database_needs_path": "{input} names no database file (write sqlite:///path/to/trustroom.db)",
    "database_bad_port": "{input} has a port that is not a number from 1 to 65535",
    "database_host_has_at": "{input} has an @ in its host: write an @ in the password as %40",
    "url": "{input} is not an {schemes} URL with a host",
    "url_bad_port": "{input} has a port that is not a number from 1 to 65535",
    "clamd_url": "{input} is not a clamd address (tcp://host:port or unix:///path/to/socket)",
    "hostname": "{input} is not a host name ({reason})",
    "log_level": "{input} is not a logging level (one of {levels})",
    "email_address": "{input} holds no email address",
    "s3_needs_bucket": "must be set when TRUSTROOM_STORAGE__BACKEND is s3",
    "trust_root_unreadable": "{input} cannot be read ({reason})",
    "trust_root_not_pem": "{input} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
    "trust_root_not_ca": "{input} holds {subject}, which is not a CA certificate",
}
# Said of a TRUSTROOM_* variable that is no setting (it is ignored, so a typo goes unnoticed).
UNKNOWN_VARIABLE = "{variable} is not a setting and is ignored"
UNKNOWN_VARIABLE_GUESS = "{variable} is not a setting and is ignored; did you mean {guess}?"
# Said of a problem whose error type has no message above.
FALLBACK = "{input} is not valid: {pydantic}"
# Said of a secret's value instead of echoing it.
SECRET_INPUT = "the value"  # noqa: S105 - words, not a secret


class ConfigurationError(Exception):
    """A setting is missing or broken; start-up stops with this message."""


@dataclass(frozen=True)
class Problem:
    variable: str
    message: str
    example: str | None

    @property
    def line(self) -> str:
        example = f"; example: {self.variable}={self.example}" if self.example is not None else ""
        return f"{self.variable}: {self.message}{example}"

    def as_json(self) -> dict[str, str | None]:
        return {"variable": self.variable, "message": self.message, "example": self.example}


class SettingsInvalid(ConfigurationError):
    """One or more settings are broken; each problem is one line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(p.line for p in problems))
        self.problems = problems


def problem(kind: str, **context: Any) -> PydanticCustomError:
    """The error a settings validator raises; its message is `MESSAGES[kind]`."""
    return PydanticCustomError(kind, MESSAGES[kind], context)


def invalid(path: tuple[str, ...], kind: str, model: type[BaseModel], **context: Any) -> SettingsInvalid:
    """One problem found outside validation (e.g. a secret that only some commands need)."""
    field = field_at(model, path)
    found = Problem(variable(path), MESSAGES[kind].format(**context), example(field) if field is not None else None)
    return SettingsInvalid([found])


def variable(path: tuple[str | int, ...]) -> str:
    """The environment variable of a field path, e.g. ("webhooks", "allowed_networks", 0)."""
    return ENV_PREFIX + NESTED.join(str(part).upper() for part in path if isinstance(part, str))


def problems(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    found: list[Problem] = []
    for error in exc.errors(include_url=False):
        path = tuple(error["loc"])
        field = field_at(model, path)
        secret = field is not None and holds_secret(field)
        shown = SECRET_INPUT if secret else _quoted(error.get("input"))
        context = {key: shown_value(value) for key, value in (error.get("ctx") or {}).items()}
        context |= {"input": shown, "pydantic": error["msg"], "variable": variable(path)}
        template = MESSAGES.get(error["type"], FALLBACK)
        try:
            message = template.format(**context)
        except (KeyError, IndexError):
            message = FALLBACK.format(**context)
        found.append(Problem(variable(path), message, example(field) if field is not None else None))
    return found


def field_at(model: type[BaseModel], path: tuple[str | int, ...]) -> FieldInfo | None:
    """The field a path leads to; list indices are skipped."""
    field: FieldInfo | None = None
    current: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        field = current.model_fields[part]
        current = group_model(field)
    return field


def group_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def holds_secret(field: FieldInfo) -> bool:
    return SecretStr in _types_in(field.annotation)


def example(field: FieldInfo) -> str | None:
    """A good value: the field's first example, its default, or its first choice."""
    if field.examples:
        return str(field.examples[0])
    if group_model(field) is not None:
        return None  # a group is set variable by variable
    if field.default is not None and field.default is not PydanticUndefined:
        return shown_value(field.default)
    choices = [arg for kind in _types_in(field.annotation) if get_origin(kind) is Literal for arg in get_args(kind)]
    return str(choices[0]) if choices else None


def shown_value(value: Any) -> str:
    """A value written the way its environment variable takes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(shown_value(item) for item in value)
    return str(value)


def mask_url(value: str) -> str:
    """The URL with its password and credential-like query values replaced by a mask."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if any(word in k.lower() for word in SECRET_QUERY_WORDS) else v) for k, v in pairs]
        if masked != pairs:
            query = urlencode(masked, safe="*/:")
    if (netloc, query) == (parts.netloc, parts.query):
        return value  # nothing to hide; urlunsplit would also drop an empty "//"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _quoted(value: Any) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
    elif isinstance(value, str) and "://" in value:
        text = json.dumps(mask_url(value))
    else:
        text = json.dumps(value if isinstance(value, str | int | float | bool) or value is None else str(value))
    return text if len(text) <= SHOWN_INPUT else text[: SHOWN_INPUT - 2] + '…"'


def _types_in(annotation: Any) -> list[Any]:
    """The annotation and every type inside it (Optional, list[…], Annotated[…])."""
    found = [annotation]
    origin = get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in get_args(annotation):
            if origin is Literal:
                break
            if origin is typing.Annotated:
                found += _types_in(arg)
                break
            found += _types_in(arg)
    return found
