"""The effective configuration as `trustroom config check` shows it: every setting by its
environment variable, with secrets masked.

Masked are secrets (`SecretStr`) and credentials inside URLs (the password of a database
URL, a token in a gateway URL's query), so the report can be pasted into a ticket.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from .settings import Settings
from .settings_problems import (
    ENV_PREFIX,
    MASK,
    UNKNOWN_VARIABLE,
    UNKNOWN_VARIABLE_GUESS,
    Problem,
    group_model,
    mask_url,
    shown_value,
    variable,
)

# Variables of the test suite and of other tools that share the prefix; not settings.
NOT_SETTINGS = ("TRUSTROOM_TEST_",)


@dataclass(frozen=True)
class Row:
    variable: str
    value: Any  # JSON-able: str, int, float, bool, list or None (unset)
    is_set: bool  # given (environment or arguments) rather than the default

    def as_json(self) -> dict[str, Any]:
        return {"variable": self.variable, "value": self.value, "source": "set" if self.is_set else "default"}

    @property
    def text(self) -> str:
        if self.value is None:
            return "unset"
        return shown_value(self.value) if self.value not in ("", []) else "(empty)"


def rows(settings: Settings) -> list[Row]:
    found = _rows(settings, ())
    # The URL the database is reached at, default included, is what an operator checks.
    return [
        Row(r.variable, mask_url(settings.resolved_database_url), r.is_set)
        if r.variable == variable(("database_url",))
        else r
        for r in found
    ]


def start_up_problems(settings: Settings) -> list[Problem]:
    """What stops `serve` and `worker` although every value parsed: no secret outside dev mode."""
    if settings.secret_key is None and not settings.dev:
        return settings.missing_secret().problems
    return []


def unknown_variables(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """A warning per TRUSTROOM_* variable that is no setting, with the setting it most
    likely meant (`TRUSTROOM_WEBHOOK__ALLOWED_NETWORKS` → `…WEBHOOKS__…`)."""
    known = [r.variable for r in _rows(settings, ())]
    groups = {name.rpartition("__")[0] for name in known if "__" in name}
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper.startswith(NOT_SETTINGS) or upper in known or upper in groups:
            continue
        guesses = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        warnings.append(
            UNKNOWN_VARIABLE_GUESS.format(variable=name, guess=guesses[0])
            if guesses
            else UNKNOWN_VARIABLE.format(variable=name)
        )
    return warnings


def text(found: list[Row]) -> str:
    width = max(len(r.variable) for r in found)
    return "\n".join(f"{r.variable:<{width}}  {r.text}" + ("" if r.is_set else "  (default)") for r in found)


def _rows(model: BaseModel, path: tuple[str, ...]) -> list[Row]:
    found: list[Row] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if group_model(field) is not None:
            found += _rows(value, (*path, name))
        else:
            found.append(Row(variable((*path, name)), _shown(value), name in model.model_fields_set))
    return found


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value
