"""The filter language of contact search and export: a JSON `where` object, or the same
written as GraphQL text (the reference's export bodies).

    where     := {"and": [where, ...]} | {"or": [where, ...]} | {name: where-or-condition, ...}
    condition := {operator: value, ...}     several operators in one object must all hold

Names nest like the details (`{"personalInformation": {"lastName": {"eq": "Muster"}}}`);
record fields (`id`, `username`, `contactTypeId`, `createdAt`, `updatedAt`) sit at the
top. Several names in one object must all hold. Operators: eq, neq, in, nin, contains,
ncontains, startsWith, endsWith, gt, gte, lt, lte. The text matches (contains,
startsWith, endsWith and their negations) ignore case; eq does not.

This module only parses; `service/search.py` turns a filter into SQL against a schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from graphql.utilities import value_from_ast_untyped

from ..errors import N_
from .errors import FilterInvalid

SCALAR_OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte"})
TEXT_OPERATORS = frozenset({"contains", "ncontains", "startsWith", "endsWith"})
LIST_OPERATORS = frozenset({"in", "nin"})
OPERATORS = SCALAR_OPERATORS | TEXT_OPERATORS | LIST_OPERATORS
MAX_CONDITIONS = 100
MAX_DEPTH = 12
MAX_LIST = 1000
MAX_TEXT = 50_000


# Why a filter is refused (FilterInvalid names where, like `where/and/0/lastName`).
TAKES_LIST = N_("%(operator)s takes a list of at most %(limit)s values")
TAKES_TEXT = N_("%(operator)s takes a text")
TAKES_ORDERED = N_("%(operator)s takes a text, a number or a date")
TAKES_SINGLE = N_("%(operator)s takes a single value")
TOO_DEEP = N_("nested too deeply")
NOT_AN_OBJECT = N_("expected an object with at least one entry")
OPERATOR_WITHOUT_FIELD = N_("an operator needs a field name before it")
MIXED = N_("operators and field names cannot be mixed in one object")
BAD_NAME = N_("field names must be non-empty texts")
EMPTY_BRANCHES = N_("%(operator)s takes a non-empty list")
TOO_LONG = N_("the value is too long")
TOO_MANY = N_("at most %(limit)s conditions")
NOT_ONE_QUERY = N_("expected exactly one query")
NOT_ONE_FIELD = N_("expected one field: %(fields)s")
NO_VARIABLES = N_("variables are not supported; write the values in")
ONLY_WHERE = N_("only the where argument is supported")
SYNTAX = N_("this is not valid GraphQL (%(detail)s)")


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    operator: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Filter, ...]


Filter = Condition | AllOf | AnyOf


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _check_value(at: str, operator: str, value: object) -> None:
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or len(value) > MAX_LIST or not all(_is_scalar(item) for item in value):
            raise FilterInvalid(at, TAKES_LIST, operator=operator, limit=MAX_LIST)
    elif operator in TEXT_OPERATORS:
        if not isinstance(value, str):
            raise FilterInvalid(at, TAKES_TEXT, operator=operator)
    elif operator in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FilterInvalid(at, TAKES_ORDERED, operator=operator)
    elif not _is_scalar(value):
        raise FilterInvalid(at, TAKES_SINGLE, operator=operator)


class _Parser:
    def __init__(self) -> None:
        self.conditions = 0

    def where(self, node: object, at: str, path: tuple[str, ...], depth: int) -> Filter:
        if depth > MAX_DEPTH:
            raise FilterInvalid(at, TOO_DEEP)
        if not isinstance(node, Mapping) or not node:
            raise FilterInvalid(at, NOT_AN_OBJECT)
        keys = set(node)
        if keys & OPERATORS:
            if not path:
                raise FilterInvalid(at, OPERATOR_WITHOUT_FIELD)
            if not keys <= OPERATORS:
                raise FilterInvalid(at, MIXED)
            return self._conditions(node, at, path)
        parts: list[Filter] = []
        for key, value in node.items():
            if not isinstance(key, str) or not key:
                raise FilterInvalid(at, BAD_NAME)
            here = f"{at}/{key}"
            if key in ("and", "or"):
                if not isinstance(value, list) or not value:
                    raise FilterInvalid(here, EMPTY_BRANCHES, operator=key)
                branches = tuple(self.where(item, f"{here}/{i}", path, depth + 1) for i, item in enumerate(value))
                parts.append(AllOf(branches) if key == "and" else AnyOf(branches))
            else:
                parts.append(self.where(value, here, (*path, key), depth + 1))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _conditions(self, node: Mapping[str, Any], at: str, path: tuple[str, ...]) -> Filter:
        found: list[Filter] = []
        for operator, value in node.items():
            _check_value(f"{at}/{operator}", operator, value)
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise FilterInvalid(f"{at}/{operator}", TOO_LONG)
            self.conditions += 1
            if self.conditions > MAX_CONDITIONS:
                raise FilterInvalid(at, TOO_MANY, limit=MAX_CONDITIONS)
            found.append(Condition(path, operator, tuple(value) if isinstance(value, list) else value))
        return found[0] if len(found) == 1 else AllOf(tuple(found))


def parse_where(where: Mapping[str, Any]) -> Filter:
    return _Parser().where(where, "where", (), 0)


# `items { }`: the reference's own example has an empty selection set, which GraphQL's
# grammar does not allow; a name followed by empty braces is read as the bare name.
_EMPTY_SELECTION = re.compile(r"(?<=[A-Za-z0-9_])\s*\{\s*\}")


def _document(text: str) -> Any:
    try:
        return parse(text, no_location=True)
    except GraphQLError:
        try:
            return parse(_EMPTY_SELECTION.sub("", text), no_location=True)
        except GraphQLError as exc:
            raise FilterInvalid("query", SYNTAX, detail=exc.message) from exc


def parse_graphql(text: str, *, root_fields: tuple[str, ...]) -> Filter | None:
    """The `where` argument of the query's root field (e.g. `contacts`); None without one."""
    if len(text) > MAX_TEXT:
        raise FilterInvalid("query", TOO_LONG)
    document = _document(text)
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation.value != "query":
        raise FilterInvalid("query", NOT_ONE_QUERY)
    fields = [node for node in operations[0].selection_set.selections if isinstance(node, FieldNode)]
    if len(fields) != 1 or fields[0].name.value.lower() not in {name.lower() for name in root_fields}:
        raise FilterInvalid("query", NOT_ONE_FIELD, fields=" | ".join(root_fields))
    arguments = fields[0].arguments or ()
    for argument in arguments:
        if argument.name.value != "where":
            raise FilterInvalid(f"query/{argument.name.value}", ONLY_WHERE)
    for argument in arguments:
        if argument.value.kind == "variable":
            raise FilterInvalid("query/where", NO_VARIABLES)
        return parse_where(value_from_ast_untyped(argument.value))
    return None
