"""The kinds of fields a signer fills or signs, shared by the tables and the PDF core
(which must not pull the database in, nor the tables pyHanko)."""

from __future__ import annotations

import enum


class FieldKind(enum.StrEnum):
    SIGNATURE = "signature"
    INITIALS = "initials"
    DATE = "date"
    TEXT = "text"
    CHECKBOX = "checkbox"
