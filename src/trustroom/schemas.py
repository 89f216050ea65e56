"""Base schemas shared by every domain's JSON API: camelCase on the wire, strict input, pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

T = TypeVar("T")

MAX_PAGE_SIZE = 200


# PostgreSQL refuses NUL in text; refusing it at the edge gives a clean 422, not a 500,
# and the pattern tells clients so in the OpenAPI schema.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
# Numbers and flags exactly as JSON types them: no 0 for false, no 1.0 or "1" for 1.
Int = int  # JSON Schema counts 862.0 as an integer, so a whole float is accepted
Bool = Annotated[bool, Strict()]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z")
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time, not a number")
    return value


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("must be a phone number in E.164 form, e.g. +41791234567") from exc
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
        raise ValueError("must be a phone number in E.164 form, e.g. +41791234567")
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return value


MobileNumber = Annotated[
    str,
    StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$"),
    AfterValidator(_e164),
]
"""A phone number in E.164 form that exists in the numbering plan (+41791234567)."""

Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_as_utc)]
"""An instant given as RFC 3339 text with an offset, normalised to UTC."""


class Schema(BaseModel):
    """Output: camelCase aliases, read from ORM objects."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class InputSchema(Schema):
    """Input: unknown fields are an error; string fields use `Text`, which refuses NUL."""

    model_config = ConfigDict(extra="forbid")


class SortOrder(StrEnum):
    ASCENDING = "Ascending"
    DESCENDING = "Descending"


class Page(Schema, Generic[T]):
    items: list[T]
    page: int = Field(description="1-based page number.")
    page_size: int
    page_count: int
    total_count: int


@dataclass(frozen=True)
class Slice(Generic[T]):
    """One page of results as services return it; routes answer it as `Page[...]`."""

    items: list[T]
    page: int
    page_size: int
    total_count: int
    # False when counting stopped at a limit: `total_count` matches at least, and only they
    # are paged (a search by part of a name, `clients.service.search`).
    is_total_count_exact: bool = True

    @property
    def page_count(self) -> int:
        return (self.total_count + self.page_size - 1) // self.page_size


MAX_PAGE = 1_000_000  # beyond any real list; keeps OFFSET far from integer overflow


class Paging(BaseModel):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort_order: SortOrder = SortOrder.DESCENDING

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def page_of(self, items: list[T], total: int, *, exact: bool = True) -> Slice[T]:
        return Slice(
            items=items, page=self.page, page_size=self.page_size, total_count=total, is_total_count_exact=exact
        )
