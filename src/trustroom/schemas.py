"""Base schemas shared by every domain's JSON API: camelCase on the wire, strict input, pages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

MAX_PAGE_SIZE = 200


def _no_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text; refusing it here gives a clean 400 instead of a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class Schema(BaseModel):
    """Output: camelCase aliases, read from ORM objects."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class InputSchema(Schema):
    """Input: unknown fields are an error, strings never carry NUL."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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

    @property
    def page_count(self) -> int:
        return (self.total_count + self.page_size - 1) // self.page_size


class Paging(BaseModel):
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    sort_order: SortOrder = SortOrder.DESCENDING

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def page_of(self, items: list[T], total: int) -> Slice[T]:
        return Slice(items=items, page=self.page, page_size=self.page_size, total_count=total)
