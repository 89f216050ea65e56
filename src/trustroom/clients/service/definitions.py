"""Details schemas: the tenant's current version (or the built-in default), its fields and
form layout, and replacing it (versioned and audited)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...errors import N_, ConcurrencyTokenMismatch, FieldProblem, json_pointer
from .. import defaults, fields, validation
from ..errors import DetailsInvalid, SchemaInvalid, SchemaNotFound
from ..fields import FieldPolicy, SchemaMap, Section
from ..models import DetailsSchema, RecordKind

DEFAULT_VERSION = 0  # the built-in schema; stored versions start at 1
SCHEMA_OF_KIND = {RecordKind.CONTACT: defaults.CONTACT, RecordKind.LEGAL_ENTITY: defaults.LEGAL_ENTITY}
UNKNOWN_FIELD_KEY = N_("There is no field or section with this key.")


@dataclass(frozen=True)
class LoadedSchema:
    key: str
    version: int
    document: dict[str, Any]
    text: str  # canonical JSON, the validator cache key
    map: SchemaMap

    @property
    def concurrency_token(self) -> str:
        return str(self.version)

    @property
    def fields(self) -> dict[str, FieldPolicy]:
        return self.map.fields


@lru_cache(maxsize=256)
def _walked(text: str) -> SchemaMap:
    return fields.walk(json.loads(text))


def _load(key: str, version: int, document: dict[str, Any]) -> LoadedSchema:
    # Not sorted: property order is the layout's order.
    text = json.dumps(document, separators=(",", ":"))
    return LoadedSchema(key=key, version=version, document=document, text=text, map=_walked(text))


@lru_cache(maxsize=4)
def _default(key: str) -> LoadedSchema:
    return _load(key, DEFAULT_VERSION, fields.synced_required(defaults.DEFAULTS[key]()))


def _check_key(key: str) -> None:
    if key not in defaults.SCHEMA_KEYS:
        raise SchemaNotFound()


def _memo_key(actor: Actor, key: str) -> tuple[str, object, str]:
    return ("clients.schema", actor.tenant_id, key)


async def current(session: AsyncSession, actor: Actor, key: str) -> LoadedSchema:
    """The tenant's current schema, read once per session (one request or job): a write
    consults it several times, an import batch for every record; `replace` updates it."""
    _check_key(key)
    memo_key = _memo_key(actor, key)
    remembered: LoadedSchema | None = session.info.get(memo_key)
    if remembered is not None:
        return remembered
    row = await session.scalar(
        select(DetailsSchema)
        .where(DetailsSchema.tenant_id == actor.tenant_id, DetailsSchema.key == key)
        .order_by(DetailsSchema.version.desc())
        .limit(1)
    )
    loaded = _default(key) if row is None else _load(key, row.version, row.json_schema)
    session.info[memo_key] = loaded
    return loaded


async def for_kind(session: AsyncSession, actor: Actor, kind: RecordKind) -> LoadedSchema:
    return await current(session, actor, SCHEMA_OF_KIND[kind])


def parse(raw: dict[str, Any] | str) -> dict[str, Any]:
    """A schema given as an object or as JSON text (the reference sends text)."""
    if isinstance(raw, dict):
        return raw
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise SchemaInvalid(reason="not JSON", pointer="/") from exc
    if not isinstance(document, dict):
        raise SchemaInvalid(reason="not a JSON object", pointer="/")
    return document


async def replace(
    session: AsyncSession, actor: Actor, key: str, raw: dict[str, Any] | str, *, concurrency_token: str
) -> LoadedSchema:
    """Store a new version of the schema; records keep their details until next written."""
    existing = await current(session, actor, key)
    ConcurrencyTokenMismatch.check(concurrency_token, existing.concurrency_token)
    document = parse(raw)
    try:
        validation.check_schema(document)
        document = fields.synced_required(document)
        walked = fields.walk(document)
    except fields.SchemaError as exc:
        raise SchemaInvalid(reason=exc.reason, pointer=exc.pointer or "/") from exc
    version = existing.version + 1
    session.add(
        DetailsSchema(
            tenant_id=actor.tenant_id,
            key=key,
            version=version,
            json_schema=document,
            layout=None,
            created_by=f"{actor.kind}:{actor.id or actor.api_key_id}",
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor,
        "clients.schema.updated",
        target_type="schema",
        target_id=key,
        data={"version": version, "fields": len(walked.fields)},
    )
    loaded = _load(key, version, document)
    session.info[_memo_key(actor, key)] = loaded
    return loaded


# --- reading fields and layout ------------------------------------------------------------


def field_metadata(policy: FieldPolicy, language: str) -> dict[str, Any]:
    return {
        "key": policy.key,
        "path": policy.pointer,
        "layoutPathKey": policy.section,
        "type": policy.json_type,
        "format": policy.format,
        "enum": list(policy.enum) if policy.enum is not None else None,
        "listKey": policy.list_key,
        "label": policy.label(language),
        "labels": dict(policy.labels),
        **policy.metadata(),
    }


def select_fields(schema: LoadedSchema, field_keys: list[str] | None, layout_path_key: str | None) -> list[FieldPolicy]:
    """Fields named by key, or all under a layout section, or all; unknown names are refused."""
    problems: list[FieldProblem] = []
    chosen: list[FieldPolicy] = []
    if layout_path_key is not None:
        section = schema.map.section(layout_path_key)
        if section is None:
            problems.append(FieldProblem(json_pointer("layoutPathKey"), UNKNOWN_FIELD_KEY, "unknown_section"))
        else:
            chosen.extend(_fields_under(section))
    for index, key in enumerate(field_keys or ()):
        policy = schema.map.by_key(key)
        if policy is None:
            problems.append(FieldProblem(json_pointer("fieldKeys", index), UNKNOWN_FIELD_KEY, "unknown_field"))
        elif policy not in chosen:
            chosen.append(policy)
    if problems:
        raise DetailsInvalid(problems)
    if layout_path_key is None and not field_keys:
        return list(schema.fields.values())
    return chosen


def _fields_under(section: Section) -> list[FieldPolicy]:
    found: list[FieldPolicy] = []
    for child in section.children:
        found.extend(_fields_under(child) if isinstance(child, Section) else [child])
    return found


def layout(schema: LoadedSchema, language: str) -> list[dict[str, Any]]:
    """The form: sections in schema order, each with its fields and nested sections."""

    def element(node: Section | FieldPolicy) -> dict[str, Any]:
        if isinstance(node, FieldPolicy):
            return {"kind": "Field", "key": node.key, "path": node.pointer, "label": node.label(language)}
        return {
            "kind": "Section",
            "key": node.key,
            "path": node.pointer,
            "label": node.label(language),
            "children": [element(child) for child in node.children],
        }

    return [element(child) for child in schema.map.root.children]
