"""The cells of a record's CSV line, as text, computed by the SELECT.

An export writes a million lines; per-cell work in Python (a call, a type check) costs
more than all the rest. So the database extracts each exportable field, formats ids and
times as the API does, writes booleans as `true`/`false`, and neutralizes cells a
spreadsheet would run as formulas (see `csvfile`); Python's C csv writer then only quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, Text, and_, case, cast, func, literal, not_, select, type_coerce

from ..csvfile import FORMULA_STARTS, RECORD_COLUMNS, Columns
from ..models import ClientRecord, RecordKind

# A harmless formula start (see csvfile): a sign, then only digits, spaces, dots and parentheses.
HARMLESS_PG = r"^[+-][0-9 ().]*$"
NOT_HARMLESS_TAIL_SQLITE = "*[^0-9 ().]*"


@dataclass(frozen=True)
class Cell:
    value: Any  # an expression on client_records, as text
    is_text: bool  # free text someone typed: neutralized


def cells(kind: RecordKind, columns: Columns, dialect: str) -> list[Cell]:
    """The id first (it is also the keyset position), then the other columns in order."""
    record = [_record_cell(name, dialect) for name in RECORD_COLUMNS[kind]]
    return [*record, *(_detail_cell(column.path, column.is_boolean, dialect) for column in columns.details)]


def whole(matching: Select[Any], wanted: list[Cell], dialect: str) -> Select[Any]:
    """Every matching record as a row of finished cells, by id (PostgreSQL's COPY runs it)."""
    finished = [_neutralized(cell.value, dialect) if cell.is_text else cell.value for cell in wanted]
    return matching.with_only_columns(*finished).order_by(ClientRecord.id)


def batch(matching: Select[Any], wanted: list[Cell], *, after: UUID | None, size: int) -> Select[Any]:
    """The next `size` matching records after the id `after`, as rows of finished cells.

    SQLite evaluates an expression each time a CASE mentions it, so the values are
    extracted once into a materialized CTE and neutralized outside it (half the time)."""
    extracting = matching.with_only_columns(
        ClientRecord.id.label("record_id"), *(cell.value.label(f"c{index}") for index, cell in enumerate(wanted))
    )
    if after is not None:
        extracting = extracting.where(ClientRecord.id > after)
    extracted = extracting.order_by(ClientRecord.id).limit(size).cte("extracted").prefix_with("MATERIALIZED")
    finished = [
        _neutralized(extracted.c[f"c{index}"], "sqlite") if cell.is_text else extracted.c[f"c{index}"]
        for index, cell in enumerate(wanted)
    ]
    return select(*finished).order_by(extracted.c.record_id)


def _record_cell(name: str, dialect: str) -> Cell:
    if name == "id":
        return Cell(_uuid_text(ClientRecord.id, dialect), is_text=False)
    if name == "username":
        return Cell(ClientRecord.username, is_text=True)
    if name == "contactTypeId":
        return Cell(cast(ClientRecord.contact_type_id, Text), is_text=False)
    column = ClientRecord.created_at if name == "createdAt" else ClientRecord.updated_at
    return Cell(_iso_text(column, dialect), is_text=False)


def _detail_cell(path: tuple[str, ...], is_boolean: bool, dialect: str) -> Cell:
    if dialect == "postgresql":
        # `#>>` answers text: strings as they are, numbers and booleans as JSON writes them,
        # arrays and objects as JSON text.
        return Cell(ClientRecord.details[path].as_string(), is_text=not is_boolean)
    json_path = "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in path)
    raw = func.json_extract(ClientRecord.details, json_path)
    if is_boolean:  # SQLite answers JSON booleans as 1 and 0
        return Cell(case((raw == 1, "true"), (raw == 0, "false"), else_=None), is_text=False)
    return Cell(type_coerce(raw, Text), is_text=True)


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
