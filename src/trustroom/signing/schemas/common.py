"""What several signing resources share: the dossier's time limits and the language."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

DAY = 86400
DEFAULT_EXPIRES_IN = 30 * DAY
MAX_EXPIRES_IN = 90 * DAY
MIN_SECONDS = 3600
MAX_INVITEES = 50

Locale = Annotated[
    str,
    Field(
        min_length=2,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        examples=["de-CH"],
        description="BCP 47 (de-CH, de-DE, en-GB, fr-CH, it-CH …); texts are in its language: de, en, fr or it.",
    ),
]
ExpiresIn = Annotated[
    int,
    Field(
        ge=MIN_SECONDS,
        le=MAX_EXPIRES_IN,
        examples=[DEFAULT_EXPIRES_IN],
        description="Seconds the invitees have to sign, counted from sending: one hour to 90 days (default 30 days).",
    ),
]
ReminderIn = Annotated[
    int,
    Field(
        ge=MIN_SECONDS,
        le=MAX_EXPIRES_IN,
        examples=[604800],
        description="Seconds between reminders to those who have not finished (at most 5); none: no reminders.",
    ),
]
