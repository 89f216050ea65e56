"""Event types: each declared once, with the JSON Schema of its `data` and a description.

Domains declare their types in `<domain>/events.py` as `EventType` values; the composition
root collects them into one `Catalogue`, which `GET /api/v1/events` publishes and `emit`
checks against (an undeclared type, or data that does not fit, is a programming error).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class EventType:
    name: str
    data: type[BaseModel]
    description: str  # a message id, translated when shown

    def json_schema(self) -> dict[str, Any]:
        return self.data.model_json_schema(by_alias=True)

    def payload(self, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
        model = data if isinstance(data, self.data) else self.data.model_validate(data)
        return model.model_dump(mode="json", by_alias=True)


class Catalogue:
    def __init__(self, types: Iterable[EventType]) -> None:
        self.types: dict[str, EventType] = {}
        for event_type in types:
            if event_type.name in self.types:
                raise ValueError(f"event type {event_type.name} is declared twice")
            self.types[event_type.name] = event_type

    def __iter__(self) -> Any:
        return iter(sorted(self.types.values(), key=lambda t: t.name))
