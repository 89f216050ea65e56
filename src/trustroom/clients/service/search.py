"""Finding records: the filter language compiled to SQL, name prefixes, substrings of names,
paging and sorting.

A search by part of a name (`text`, three characters or more) counts its matches up to
`searchtext.COUNT_LIMIT`. When more match, it keeps that many (the first its scan meets)
and pages them in the asked order, saying that the total is a lower bound
(`Slice.is_total_count_exact`): which ones they are is not defined, and a longer text
finds the others. Counting and ordering every match cost in proportion to the matches
(a city matches tens of thousands of contacts), and on PostgreSQL under row-level
security no index can look up a substring at all (ADR 0014).

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

from sqlalchemy import Boolean, ColumnElement, and_, column, false, func, not_, or_, select, table, text
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

    @property
    def has_filter(self) -> bool:
        return self.where is not None or bool(self.graphql and self.graphql.strip())

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


def name_starts_with(prefix: str, dialect: str | None) -> ColumnElement[bool]:
    """Records whose sort name starts with `prefix` (already folded), from the sort-name index.

    On PostgreSQL `^@` (starts_with), not LIKE: under row-level security only leakproof
    operators may become index conditions, and LIKE is not one, so `LIKE 'ber%'` read every
    contact of the tenant; `^@` is leakproof and the planner turns it into a range of the
    (byte-ordered) index."""
    if dialect == "postgresql":
        return ClientRecord.sort_name.op("^@", return_type=Boolean)(prefix)
    return ClientRecord.sort_name.startswith(prefix, autoescape=True)


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
        return name_starts_with(fold(" ".join(text.split())), dialect)
    if dialect == "sqlite":
        # A quoted phrase of trigrams is an exact substring match, with no wildcard to escape.
        phrase = '"' + folded.replace('"', '""') + '"'
        keys = select(_FTS_KEYS.c.record_id).join(_FTS, _FTS.c.rowid == _FTS_KEYS.c.key)
        return ClientRecord.id.in_(keys.where(_FTS.c.search_text.op("MATCH")(phrase)))
    # pg_trgm's GIN index answers LIKE (the escape clause included), but only where no
    # row-level security applies (LIKE is not leakproof); under it, this is a filter.
    return ClientRecord.search_text.like(f"%{_like_escaped(folded)}%", escape="\\")


def statement(actor: Actor, schema: LoadedSchema | None, query: RecordQuery, dialect: str | None = None) -> Any:
    """The records the actor may see that match the query (unordered). `dialect` chooses
    how a `text` query uses its index."""
    stmt = scoped(select(ClientRecord), actor).where(
        ClientRecord.kind == query.kind, access.visible(actor, exclude_hierarchy=query.exclude_hierarchy)
    )
    found = query.filter()
    if found is not None:
        if schema is None:
            raise ValueError("a filter needs the schema that names its fields")
        stmt = stmt.where(compile_filter(schema, found))
    if query.name_prefix:
        # `sort_name` is folded (lower case, no accents) and indexed with the tenant and kind.
        stmt = stmt.where(name_starts_with(fold(query.name_prefix), dialect))
    if query.text:
        matched = text_match(query.text, dialect)
        if matched is not None:
            stmt = stmt.where(matched)
    return stmt


def is_substring_search(query: RecordQuery) -> bool:
    return bool(query.text) and len(searchtext.fold_text(query.text or "")) >= searchtext.MIN_SUBSTRING


async def search(session: AsyncSession, actor: Actor, query: RecordQuery, paging: Paging) -> Slice[ClientRecord]:
    # The schema names the fields a filter may use; without a filter it is not read (one
    # statement less for a search box).
    schema = await definitions.for_kind(session, actor, query.kind) if query.has_filter else None
    dialect = session.get_bind().dialect.name
    stmt = statement(actor, schema, query, dialect)
    column: Any = SORTABLE[query.sort_by]
    ascending = paging.sort_order is SortOrder.ASCENDING
    if is_substring_search(query):
        return await _capped(session, actor, stmt, column, paging, ascending=ascending, dialect=dialect)
    order = (column.asc(), ClientRecord.id.asc()) if ascending else (column.desc(), ClientRecord.id.desc())
    return await paginate(session, stmt, paging, *order)


# A LIMIT without ORDER BY takes rows in the order the scan meets them. One process
# scanning from the table's first page meets them in the same order every time: no
# parallel workers (whichever finishes first) and no synchronized scan (which joins
# another scan midway). So every page of one search pages the same matches.
_ONE_SCAN_ORDER = text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('synchronize_seqscans', 'off', true)"
)


async def _capped(
    session: AsyncSession,
    actor: Actor,
    stmt: Any,
    column: Any,
    paging: Paging,
    *,
    ascending: bool,
    dialect: str,
) -> Slice[ClientRecord]:
    """One page of the first `searchtext.COUNT_LIMIT` matches the database finds, in the asked order,
    with their number (one match more tells that there are more)."""
    if dialect == "postgresql":
        await session.execute(_ONE_SCAN_ORDER)
    found = (
        stmt.with_only_columns(ClientRecord.id, column.label("sort_key"))
        .limit(searchtext.COUNT_LIMIT + 1)
        .cte("found")
        .prefix_with("MATERIALIZED", dialect="postgresql")  # counted and paged once
    )
    counting = select(func.count()).select_from(found)
    # The one match more only says that there are more; the one with the highest id is left
    # out, so both sort orders page the same matches.
    kept = select(found.c.id, found.c.sort_key).order_by(found.c.id).limit(searchtext.COUNT_LIMIT).subquery("kept")
    shown = max(0, min(paging.page_size, searchtext.COUNT_LIMIT - paging.offset))
    rows: list[Any] = []
    if shown:
        key, record_id = kept.c.sort_key, kept.c.id
        order = (key.asc(), record_id.asc()) if ascending else (key.desc(), record_id.desc())
        page = select(record_id, key).order_by(*order).offset(paging.offset).limit(shown).subquery("page")
        in_order = (page.c.sort_key.asc(), page.c.id.asc()) if ascending else (page.c.sort_key.desc(), page.c.id.desc())
        listed = (
            scoped(select(ClientRecord), actor)
            .add_columns(counting.scalar_subquery().label("total_count"))
            .join(page, page.c.id == ClientRecord.id)
            .order_by(*in_order)
        )
        rows = list((await session.execute(listed)).all())
    if rows:
        total = int(rows[0][-1])
    elif shown and paging.offset == 0:
        total = 0  # the first page holds every match there is, and there is none
    else:
        total = int(await session.scalar(counting) or 0)
    exact = total <= searchtext.COUNT_LIMIT
    return paging.page_of([row[0] for row in rows], min(total, searchtext.COUNT_LIMIT), exact=exact)
