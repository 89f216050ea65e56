"""Finding records: the filter language compiled to SQL, name prefixes, substrings of names,
paging and sorting.

A filter names detail fields by their path in the tenant's schema (unknown names are
refused, so a typo never silently matches nothing) or record fields at the top. Values
are compared by their JSON type: texts as text, numbers as numbers, booleans as booleans;
ISO dates compare correctly as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import ge, gt, le, lt
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, column, false, func, not_, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...db import paginate, scoped
from ...errors import N_
from ...schemas import Paging, Slice, SortOrder
from .. import filters, searchtext
from ..errors import FilterInvalid
from ..filters import LIST_OPERATORS, AllOf, AnyOf, Condition, Filter
from ..lists import fold
from ..models import ClientRecord, RecordKind
from . import access, definitions
from .definitions import LoadedSchema


def _as_uuid(value: Any) -> UUID:
    return UUID(str(value))


def _as_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(value)
    return int(value)


# Record fields a filter may name at the top, with how their values are read.
RECORD_FIELDS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "id": (ClientRecord.id, _as_uuid),
    "username": (ClientRecord.username, str),
    "contactTypeId": (ClientRecord.contact_type_id, _as_int),
    "createdAt": (ClientRecord.created_at, _as_time),
    "updatedAt": (ClientRecord.updated_at, _as_time),
}

ORDERED: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "gt": gt,
    "gte": ge,
    "lt": lt,
    "lte": le,
}
NO_SUCH_FIELD = N_("there is no such field")
VALUE_MISFIT = N_("the value does not fit this field")

SORTABLE = {"Name": ClientRecord.sort_name, "CreatedAt": ClientRecord.created_at, "UpdatedAt": ClientRecord.updated_at}


def _text_match(column: Any, operator: str, value: str) -> ColumnElement[bool]:
    lowered = func.lower(column)
    if operator in ("contains", "ncontains"):
        matched = lowered.contains(value.lower(), autoescape=True)
        return or_(column.is_(None), not_(matched)) if operator == "ncontains" else matched
    if operator == "startsWith":
        return lowered.startswith(value.lower(), autoescape=True)
    return lowered.endswith(value.lower(), autoescape=True)


def _compare(column: Any, operator: str, value: Any) -> ColumnElement[bool]:
    if operator in ("contains", "ncontains", "startsWith", "endsWith"):
        return _text_match(column, operator, value)
    if operator in LIST_OPERATORS:
        return _membership(column, operator == "in", value)
    compared: ColumnElement[bool]
    if value is None:
        compared = column.is_(None) if operator == "eq" else column.is_not(None)
    elif operator == "eq":
        compared = column == value
    elif operator == "neq":
        compared = or_(column.is_(None), column != value)
    else:
        compared = ORDERED[operator](column, value)
    return compared


def _membership(column: Any, wanted: bool, value: tuple[Any, ...]) -> ColumnElement[bool]:
    """in / nin; a missing value counts as null, so `nin` keeps it unless null is listed."""
    values = [item for item in value if item is not None]
    listed = column.in_(values) if values else false()
    if None in value:
        return or_(listed, column.is_(None)) if wanted else and_(column.is_not(None), not_(listed))
    return listed if wanted else or_(column.is_(None), not_(listed))


def _detail(path: tuple[str, ...], value: Any) -> Any:
    """The detail at `path`, typed after the value it is compared with."""
    extracted = ClientRecord.details[path]
    sample = value[0] if isinstance(value, tuple) and value else value
    if isinstance(sample, bool):
        return extracted.as_boolean()
    if isinstance(sample, int | float):
        return extracted.as_float()
    return extracted.as_string()


@dataclass(frozen=True)
class Compiler:
    schema: LoadedSchema

    def __call__(self, node: Filter) -> ColumnElement[bool]:
        if isinstance(node, AllOf):
            return and_(*(self(part) for part in node.parts))
        if isinstance(node, AnyOf):
            return or_(*(self(part) for part in node.parts))
        return self._condition(node)

    def _condition(self, condition: Condition) -> ColumnElement[bool]:
        at = "where/" + "/".join(condition.path)
        if len(condition.path) == 1 and condition.path[0] in RECORD_FIELDS:
            column, read = RECORD_FIELDS[condition.path[0]]
            try:
                value = _read(condition.value, read)
            except ValueError as exc:
                raise FilterInvalid(at, VALUE_MISFIT) from exc
            return _compare(column, condition.operator, value)
        pointer = "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in condition.path)
        if pointer not in self.schema.fields:
            raise FilterInvalid(at, NO_SUCH_FIELD)
        return _compare(_detail(condition.path, condition.value), condition.operator, condition.value)


def _read(value: Any, read: Callable[[Any], Any]) -> Any:
    if isinstance(value, tuple):
        return tuple(None if item is None else read(item) for item in value)
    return None if value is None else read(value)


def compile_filter(schema: LoadedSchema, node: Filter) -> ColumnElement[bool]:
    return Compiler(schema)(node)


@dataclass(frozen=True)
class RecordQuery:
    """What to look for: a `where` object or GraphQL text (not both), a name prefix, and a
    part of a name, email or city (`text`)."""

    kind: RecordKind
    where: dict[str, Any] | None = None
    graphql: str | None = None
    name_prefix: str | None = None
    text: str | None = None
    exclude_hierarchy: bool = False
    sort_by: str = "Name"

    def filter(self) -> Filter | None:
        if self.where is not None:
            return filters.parse_where(self.where)
        if self.graphql is not None and self.graphql.strip():
            return filters.parse_graphql(self.graphql, root_fields=GRAPHQL_ROOTS[self.kind])
        return None


# The query's root field, as the reference writes it (`contacts`, `legalentities`).
GRAPHQL_ROOTS = {RecordKind.CONTACT: ("contacts",), RecordKind.LEGAL_ENTITY: ("legalEntities", "legalentities")}


# The FTS5 trigram table and its keys on SQLite (migration e327763d5434).
_FTS = table("client_record_search", column("rowid"), column("search_text"))
_FTS_KEYS = table("client_record_search_keys", column("key"), column("record_id"))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(text: str, dialect: str | None) -> ColumnElement[bool] | None:
    """Records whose name, email or city contain `text`, ignoring case and accents; None
    when the text folds to nothing.

    Three characters or more: any substring, from the trigram index (pg_trgm on PostgreSQL,
    FTS5 on SQLite). One or two: trigram indexes cannot look these up, so they match the
    start of the name the record sorts by (its own index), as typing the first letters
    of a name would; the substring search takes over at the third character."""
    folded = searchtext.fold_text(text)
    if not folded:
        return None
    if len(folded) < searchtext.MIN_SUBSTRING:
        # Folded as sort names are (searchtext's extra letters are not in them).
        prefix = fold(" ".join(text.split()))
        return ClientRecord.sort_name.startswith(prefix, autoescape=True)
    if dialect == "sqlite":
        # A quoted phrase of trigrams is an exact substring match, with no wildcard to escape.
        phrase = '"' + folded.replace('"', '""') + '"'
        keys = select(_FTS_KEYS.c.record_id).join(_FTS, _FTS.c.rowid == _FTS_KEYS.c.key)
        return ClientRecord.id.in_(keys.where(_FTS.c.search_text.op("MATCH")(phrase)))
    # pg_trgm's GIN index answers LIKE (the escape clause included); elsewhere it scans.
    return ClientRecord.search_text.like(f"%{_like_escaped(folded)}%", escape="\\")


def statement(actor: Actor, schema: LoadedSchema, query: RecordQuery, dialect: str | None = None) -> Any:
    """The records the actor may see that match the query (unordered). `dialect` chooses
    how a `text` query uses its index."""
    stmt = scoped(select(ClientRecord), actor).where(
        ClientRecord.kind == query.kind, access.visible(actor, exclude_hierarchy=query.exclude_hierarchy)
    )
    found = query.filter()
    if found is not None:
        stmt = stmt.where(compile_filter(schema, found))
    if query.name_prefix:
        # `sort_name` is folded (lower case, no accents) and indexed with the tenant and kind.
        stmt = stmt.where(ClientRecord.sort_name.startswith(fold(query.name_prefix), autoescape=True))
    if query.text:
        matched = text_match(query.text, dialect)
        if matched is not None:
            stmt = stmt.where(matched)
    return stmt


def is_substring_search(query: RecordQuery) -> bool:
    return bool(query.text) and len(searchtext.fold_text(query.text or "")) >= searchtext.MIN_SUBSTRING


async def search(session: AsyncSession, actor: Actor, query: RecordQuery, paging: Paging) -> Slice[ClientRecord]:
    schema = await definitions.for_kind(session, actor, query.kind)
    column: Any = SORTABLE[query.sort_by]
    if query.sort_by == "Name" and is_substring_search(query):
        # The page's total counts every match anyway, so the trigram index must find them;
        # ordered by the bare column, PostgreSQL may instead walk the whole sort-name index
        # filtering row by row (a misjudged rare piece then reads every contact). The
        # same order, from an expression no index provides, keeps the trigram plan.
        column = column.concat("")
    ascending = paging.sort_order is SortOrder.ASCENDING
    order = (column.asc(), ClientRecord.id.asc()) if ascending else (column.desc(), ClientRecord.id.desc())
    dialect = session.get_bind().dialect.name
    return await paginate(session, statement(actor, schema, query, dialect), paging, *order)
