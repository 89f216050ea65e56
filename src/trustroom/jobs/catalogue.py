"""Event types: each declared once, with the JSON Schema of its `data` and a description.

Domains declare their types in `<domain>/events.py` as `EventType` values; the composition
root collects them into one `Catalogue`, which `GET /api/v1/events` publishes and `emit`
checks against (an undeclared type, or data that does not fit, is a programming error).

Names follow one rule (README, "Events"): `<resource>.<verb>`, where `<resource>` is the
singular, lowerCamelCase name of the API collection the thing lives in (`apiKey`,
`legalEntity`, `webhookEndpoint`), preceded by its parent's when it only exists inside one
(`exchange.document`, `contact.channel`), and `<verb>` a lowerCamelCase past participle
(`created`, `secretRotated`). A renamed type keeps its old name in `formerly` for one
release: webhook endpoint filters still take it and store the new name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# The shape of the rule; that the last part is a past participle is for review to see.
NAME_RULE = re.compile(r"^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$")


@dataclass(frozen=True)
class EventType:
    name: str
    data: type[BaseModel]
    description: str  # a message id, translated when shown
    formerly: str | None = None  # the name before a rename, accepted in filters for one release

    def json_schema(self) -> dict[str, Any]:
        return self.data.model_json_schema(by_alias=True)

    def payload(self, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
        model = data if isinstance(data, self.data) else self.data.model_validate(data)
        return model.model_dump(mode="json", by_alias=True)


class Catalogue:
    def __init__(self, types: Iterable[EventType]) -> None:
        self.types: dict[str, EventType] = {}
        self.former_names: dict[str, str] = {}
        for event_type in types:
            if event_type.name in self.types:
                raise ValueError(f"event type {event_type.name} is declared twice")
            if not NAME_RULE.match(event_type.name):
                raise ValueError(f"event type {event_type.name} breaks the rule <resource>.<pastParticiple>")
            self.types[event_type.name] = event_type
            if event_type.formerly is not None:
                self.former_names[event_type.formerly] = event_type.name

    @property
    def accepted_names(self) -> Mapping[str, str]:
        """Every name a subscription may use, mapped to the current name it stands for."""
        return {**self.former_names, **{name: name for name in self.types}}

    def __iter__(self) -> Any:
        return iter(sorted(self.types.values(), key=lambda t: t.name))
