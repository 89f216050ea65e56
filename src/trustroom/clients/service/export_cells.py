"""The cells of a record's CSV line, as text, computed by the SELECT.

An export writes a million lines; per-cell work in Python (a call, a type check) costs
more than all the rest. So the database extracts each exportable field, formats ids and
times as the API does, writes booleans as `true`/`false`, and neutralizes cells a
spreadsheet would run as formulas (see `csvfile`); Python's C csv writer then only quotes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, and_, case, cast, func, literal, not_, type_coerce

from ..csvfile import FORMULA_STARTS, RECORD_COLUMNS, Columns
from ..models import ClientRecord, RecordKind

# A harmless formula start (see csvfile): a sign, then only digits, spaces, dots and parentheses.
HARMLESS_PG = r"^[+-][0-9 ().]*$"
NOT_HARMLESS_TAIL_SQLITE = "*[^0-9 ().]*"


def cells(kind: RecordKind, columns: Columns, dialect: str) -> list[Any]:
    """The id first (it is also the keyset position), then the other columns in order."""
    record = [_record_cell(name, dialect) for name in RECORD_COLUMNS[kind]]
    return [*record, *(_detail_cell(column.path, column.is_boolean, dialect) for column in columns.details)]


def _record_cell(name: str, dialect: str) -> Any:
    if name == "id":
        return _uuid_text(ClientRecord.id, dialect)
    if name == "username":
        return _neutralized(ClientRecord.username, dialect)
    if name == "contactTypeId":
        return cast(ClientRecord.contact_type_id, Text)
    return _iso_text(ClientRecord.created_at if name == "createdAt" else ClientRecord.updated_at, dialect)


def _detail_cell(path: tuple[str, ...], is_boolean: bool, dialect: str) -> Any:
    if dialect == "postgresql":
        # `#>>` answers text: strings as they are, numbers and booleans as JSON writes them,
        # arrays and objects as JSON text.
        extracted = ClientRecord.details[path].as_string()
        return extracted if is_boolean else _neutralized(extracted, dialect)
    json_path = "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in path)
    raw = func.json_extract(ClientRecord.details, json_path)
    if is_boolean:  # SQLite answers JSON booleans as 1 and 0
        return case((raw == 1, "true"), (raw == 0, "false"), else_=None)
    return _neutralized(type_coerce(raw, Text), dialect)


def _neutralized(text: Any, dialect: str) -> Any:
    first = func.substr(text, 1, 1)
    risky = first.in_(list(FORMULA_STARTS))
    if dialect == "postgresql":
        harmless = text.op("~", is_comparison=True)(HARMLESS_PG)
    else:
        tail = func.substr(text, 2).op("GLOB", is_comparison=True)(NOT_HARMLESS_TAIL_SQLITE)
        harmless = and_(first.in_(["+", "-"]), not_(tail))
    return case((and_(risky, not_(harmless)), literal("'").concat(text)), else_=text)


def _uuid_text(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return cast(column, Text)
    raw = type_coerce(column, Text)  # 32 hex digits on SQLite
    parts = [func.substr(raw, start, length) for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    joined: Any = parts[0]
    for part in parts[1:]:
        joined = joined.concat("-").concat(part)
    return func.lower(joined)


def _iso_text(column: Any, dialect: str) -> Any:
    """RFC 3339 UTC with microseconds, as the API writes times."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return func.replace(type_coerce(column, Text), " ", "T").concat("Z")  # stored as UTC text on SQLite
