"""The text a record is found by when a search names part of it ("Zür", "Mus", "Bern").

A record's first name, last name, display name, name (of a legal entity), email and city
are folded (lower case, accents and letters like ø or ł reduced to plain Latin letters) and
stored beside the details as `search_text`, one value per line, with the first and last
name also as one line. The query is folded by the
same function, so "zur" finds "Zürich" and "MULLER" finds "Müller" on both databases, and
neither database needs its own accent folding (PostgreSQL's `unaccent` would differ from
SQLite's, and SQLite before 3.45 cannot fold accents in FTS5 at all).

Fields are found by their name anywhere in the details, as the display name is, so a
tenant's own schema is searchable as long as it uses these names.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from . import fields
from .lists import fold

SEARCHED = frozenset({"firstName", "lastName", "displayName", "name", "email", "city"})
# Trigram indexes (pg_trgm, FTS5 trigram) find substrings of at least this many characters.
MIN_SUBSTRING = 3
# A search by a substring counts and pages at most this many matches (`service.search`).
COUNT_LIMIT = 100
MAX_LENGTH = 2000
# Letters that Unicode does not decompose into a base letter and an accent; unaccent and
# most people read them as these.
_LETTERS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d"})


def fold_text(text: str) -> str:
    """Case- and accent-free, with runs of white space (line breaks included) as one space
    and no control characters (an FTS5 query cannot hold a NUL)."""
    folded = fold(text).translate(_LETTERS)
    return " ".join("".join(ch for ch in folded if unicodedata.category(ch) != "Cc" or ch.isspace()).split())


def search_text(details: Mapping[str, Any]) -> str:
    """The searched fields of these details, folded, one per line, each value once; the
    first and last name also together, so "Anna Muster" is found as typed. Separate lines
    keep a match from running from one field into the next."""
    found = [
        (pointer.rpartition("/")[2], fold_text(value))
        for pointer, value in fields.leaves(details)
        if isinstance(value, str) and pointer.rpartition("/")[2] in SEARCHED
    ]
    named = dict(found)
    full_name = " ".join(filter(None, (named.get("firstName"), named.get("lastName"))))
    values = [full_name, *(value for _, value in found)]
    return "\n".join(dict.fromkeys(value for value in values if value))[:MAX_LENGTH]
