"""The filter language's parser on its own: what it builds and every limit it enforces."""

from __future__ import annotations

from typing import Any

import pytest

from trustroom.clients import filters
from trustroom.clients.errors import FilterInvalid
from trustroom.clients.filters import AllOf, AnyOf, Condition

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free

ROOTS = ("contacts",)


def test_a_where_object_becomes_a_tree() -> None:
    parsed = filters.parse_where(
        {
            "personalInformation": {"lastName": {"startsWith": "Mu", "neq": "Muff"}},
            "or": [{"id": {"in": ["a", "b"]}}, {"address": {"city": {"eq": None}}}],
        }
    )
    assert parsed == AllOf(
        (
            AllOf(
                (
                    Condition(("personalInformation", "lastName"), "startsWith", "Mu"),
                    Condition(("personalInformation", "lastName"), "neq", "Muff"),
                )
            ),
            AnyOf((Condition(("id",), "in", ("a", "b")), Condition(("address", "city"), "eq", None))),
        )
    )


def test_graphql_text_gives_the_same_tree() -> None:
    text = "query { contacts(where: {personalInformation: {language: {eq: DE}}}) { items { id } } }"
    assert filters.parse_graphql(text, root_fields=ROOTS) == Condition(("personalInformation", "language"), "eq", "DE")
    assert filters.parse_graphql("query { contacts { items { id } } }", root_fields=ROOTS) is None


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"eq": 1}
    for level in range(depth):
        node = {f"f{level}": node}
    return node


@pytest.mark.parametrize(
    ("where", "at", "fragment"),
    [
        ({}, "where", "at least one entry"),
        ({"eq": 1}, "where", "field name before it"),
        ({"a": {"eq": 1, "b": 2}}, "where/a", "cannot be mixed"),
        ({"a": {"in": "x"}}, "where/a/in", "list"),
        ({"a": {"in": [1, [2]]}}, "where/a/in", "list"),
        ({"a": {"in": list(range(filters.MAX_LIST + 1))}}, "where/a/in", "list"),
        ({"a": {"gt": True}}, "where/a/gt", "number or a date"),
        ({"a": {"eq": {"x": 1}}}, "where/a/eq", "single value"),
        ({"a": {"contains": "x" * (filters.MAX_TEXT + 1)}}, "where/a/contains", "too long"),
        ({"or": "x"}, "where/or", "non-empty list"),
        ({"and": [{"a": {"eq": 1}}, 5]}, "where/and/1", "at least one entry"),
        (nested(filters.MAX_DEPTH + 2), "where", "too deeply"),
        (
            {"a": {f"{op}": 1 for op in ("eq",)}, **{f"b{i}": {"eq": i} for i in range(filters.MAX_CONDITIONS)}},
            "",
            "100",
        ),
    ],
)
def test_where_limits(where: dict[str, Any], at: str, fragment: str) -> None:
    with pytest.raises(FilterInvalid) as refused:
        filters.parse_where(where)
    assert refused.value.at.startswith(at)
    assert fragment in str(refused.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mutation { contacts }", "exactly one query"),
        ("query { contacts { id } legalEntities { id } }", "expected one field"),
        ("query { members { id } }", "expected one field"),
        ("query { contacts(where: {a: {eq: 1}}, first: 5) { items { id } } }", "only the where argument"),
        ("query { contacts(where: ", "not valid GraphQL"),
        ("q" * (filters.MAX_TEXT + 1), "too long"),
    ],
)
def test_graphql_limits(text: str, fragment: str) -> None:
    with pytest.raises(FilterInvalid) as refused:
        filters.parse_graphql(text, root_fields=ROOTS)
    assert fragment in str(refused.value)
