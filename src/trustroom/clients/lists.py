"""Code lists that detail fields draw values from: built-in ISO lists and the lookup rules.

Built-in lists take their codes from pycountry and their names, in the caller's language,
from `i18n` (the same names the pages show): `countries` (ISO 3166-1 alpha-2),
`subdivisions` (ISO 3166-2, each under its country) and `languages` (ISO 639-1, upper case
like the DE|EN|FR|IT language codes). Tenants may add their own lists (see
`service/lists.py`); both kinds answer as `ListItem`s, and both are looked up the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import pycountry

from ..i18n import country_name, language_name, subdivision_name

COUNTRIES = "countries"
SUBDIVISIONS = "subdivisions"
LANGUAGES = "languages"
BUILT_IN = (COUNTRIES, SUBDIVISIONS, LANGUAGES)
DEFAULT_LOOKUP_LIMIT = 10


@dataclass(frozen=True)
class ListItem:
    list_key: str
    id: str
    name: str
    parent_id: str | None = None


@cache
def built_in(list_key: str, language: str) -> tuple[ListItem, ...]:
    """A built-in list in `language`, sorted by name as people of that language read it."""
    items: list[ListItem]
    if list_key == COUNTRIES:
        items = [ListItem(COUNTRIES, c.alpha_2, country_name(c.alpha_2, language)) for c in pycountry.countries]
    elif list_key == SUBDIVISIONS:
        items = [
            ListItem(SUBDIVISIONS, s.code, subdivision_name(s.code, language), s.country_code)
            for s in pycountry.subdivisions
            if s.parent_code is None  # the top level under each country; deeper levels would need a tree picker
        ]
    elif list_key == LANGUAGES:
        items = [
            ListItem(LANGUAGES, lang.alpha_2.upper(), language_name(lang.alpha_2, language))
            for lang in pycountry.languages
            if hasattr(lang, "alpha_2")
        ]
    else:
        raise KeyError(list_key)
    return tuple(sorted(items, key=lambda item: (fold(item.name), item.id)))


@cache
def built_in_ids(list_key: str) -> dict[str, str | None]:
    """Every id of a built-in list with its parent id (for validating stored values)."""
    return {item.id: item.parent_id for item in built_in(list_key, "en")}


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching and sorting (Zürich ~ zurich)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Lookup:
    filter: str | None = None
    limit: int = DEFAULT_LOOKUP_LIMIT
    include_id: str | None = None
    parent_id: str | None = None  # only children of this item when set


@dataclass(frozen=True)
class LookupResult:
    items: list[ListItem]
    total_count: int


def lookup(items: Sequence[ListItem], query: Lookup) -> LookupResult:
    """The best matches first: ids equal to the term, names that start with it, then names
    that contain it; `include_id` is added (first) even when it does not match."""
    candidates: Iterable[ListItem] = items
    if query.parent_id is not None:
        candidates = [item for item in candidates if item.parent_id == query.parent_id]
    term = fold(query.filter or "").strip()
    ranked: list[tuple[int, ListItem]] = []
    for item in candidates:
        name = fold(item.name)
        if not term:
            ranked.append((2, item))
        elif fold(item.id) == term:
            ranked.append((0, item))
        elif name.startswith(term):
            ranked.append((1, item))
        elif term in name:
            ranked.append((2, item))
    ranked.sort(key=lambda pair: pair[0])  # stable: the list's own order within a rank
    found = [item for _, item in ranked[: query.limit]]
    if query.include_id is not None and all(item.id != query.include_id for item in found):
        extra = next((item for item in items if item.id == query.include_id), None)
        if extra is not None:
            found.insert(0, extra)
    return LookupResult(found, len(ranked))
