"""Records as CSV: the columns an export has, and the rule for cells a spreadsheet would run
(applied by the database as it selects them, `service/export_cells.py`).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .fields import SchemaMap, pointer_parts
from .models import RecordKind

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a UTF-8 file as such only when it starts with a byte order mark.
BOM = "\ufeff"


@dataclass(frozen=True)
class DetailColumn:
    header: str  # the field key, e.g. personalInformation.firstName
    path: tuple[str, ...]  # where it is in the details
    is_boolean: bool  # SQLite extracts JSON booleans as 1/0: written as true/false


@dataclass(frozen=True)
class Columns:
    """Record columns first, then every exportable detail field in schema order."""

    record: tuple[str, ...]
    details: tuple[DetailColumn, ...]

    @property
    def header(self) -> list[str]:
        return [*self.record, *(column.header for column in self.details)]


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


def encode(rows: Iterable[Sequence[str | None]]) -> bytes:
    """Rows as CSV text (RFC 4180 quoting, lines ending in LF as PostgreSQL's COPY writes
    them, so a file looks the same from either database), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()
