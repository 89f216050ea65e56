"""Records as CSV rows: the columns an export has, and cells a spreadsheet cannot run.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection, OWASP); such cells get a leading
apostrophe, which the spreadsheet shows as text and does not execute. A text of only
digits, spaces, dots and parentheses after its sign (an E.164 number, `-12.5`) is left
as it is: without letters it can name no function or cell, and phone numbers stay usable.
Numbers and booleans are written as values and never need it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from .fields import SchemaMap, pointer_parts
from .models import RecordKind

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a UTF-8 file as such only when it starts with a byte order mark.
BOM = "\ufeff"


HARMLESS = re.compile(r"[+-][0-9 ().]*")


def neutralized(text: str) -> str:
    if text.startswith(FORMULA_STARTS) and not HARMLESS.fullmatch(text):
        return "'" + text
    return text


def cell(value: Any) -> str:
    if type(value) is str:  # the common case first: this runs for every cell of an export
        return neutralized(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return neutralized(value)
    if isinstance(value, UUID):
        return str(value)
    # Arrays and objects keep their structure as JSON text.
    return neutralized(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


@dataclass(frozen=True)
class DetailColumn:
    header: str  # the field key, e.g. personalInformation.firstName
    path: tuple[str, ...]  # where it is in the details
    is_boolean: bool  # read from the database as text or 0/1: written as true/false


@dataclass(frozen=True)
class Columns:
    """Record columns first, then every exportable detail field in schema order. The
    database extracts each detail field, so a row arrives as flat values."""

    record: tuple[str, ...]
    details: tuple[DetailColumn, ...]

    @property
    def header(self) -> list[str]:
        return [*self.record, *(column.header for column in self.details)]

    @property
    def boolean_positions(self) -> frozenset[int]:
        start = len(self.record)
        return frozenset(start + index for index, column in enumerate(self.details) if column.is_boolean)

    def row(self, values: Sequence[Any], booleans: frozenset[int] = frozenset()) -> list[str]:
        # Inlined fast path for the common cells (plain text, empty): one call per cell
        # costs more than the rest of the export.
        cells = [
            value
            if type(value) is str and not value.startswith(FORMULA_STARTS)
            else ("" if value is None else cell(value))
            for value in values
        ]
        for position in booleans:
            cells[position] = BOOLEAN_TEXT.get(cells[position], cells[position])
        return cells


BOOLEAN_TEXT = {"1": "true", "0": "false"}
RECORD_COLUMNS = {
    RecordKind.CONTACT: ("id", "username", "contactTypeId", "createdAt", "updatedAt"),
    RecordKind.LEGAL_ENTITY: ("id", "createdAt", "updatedAt"),
}


def columns(kind: RecordKind, schema: SchemaMap) -> Columns:
    exportable = [policy for policy in schema.fields.values() if policy.is_exportable and not policy.is_disabled]
    return Columns(
        record=RECORD_COLUMNS[kind],
        details=tuple(
            DetailColumn(policy.key, tuple(pointer_parts(policy.pointer)), policy.json_type == "boolean")
            for policy in exportable
        ),
    )


def encode(rows: Iterable[list[str]]) -> bytes:
    """Rows as CSV text (RFC 4180: comma, double quotes, CRLF), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
