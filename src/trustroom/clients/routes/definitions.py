"""JSON API of the details schemas and lists: /api/v1/schemas, /api/v1/lists."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...errors import ConcurrencyTokenMismatch
from ...http import API_PREFIX, ApiRoute, SessionDep, error_responses
from ...i18n import current_language
from .. import errors
from ..fields import FieldPolicy
from ..lists import DEFAULT_LOOKUP_LIMIT, ListItem, Lookup
from ..schemas import (
    FieldRead,
    FieldsQuery,
    FieldsRead,
    JsonSchemaRead,
    LayoutRead,
    ListItemRead,
    ListItemsQuery,
    ListItemsRead,
    ListReplace,
    LookupQuery,
    LookupRead,
    SchemaRead,
    SchemaUpdate,
    SchemaUpdated,
)
from ..service import definitions, lists
from .contacts import ContactsRead, SchemasWrite

schemas_router = APIRouter(
    prefix=f"{API_PREFIX}/schemas",
    tags=["client records: schemas"],
    route_class=ApiRoute,
    responses=error_responses(errors.SchemaNotFound),
)
lists_router = APIRouter(
    prefix=f"{API_PREFIX}/lists", tags=["client records: lists"], route_class=ApiRoute, responses=error_responses()
)


# --- schemas ------------------------------------------------------------------------------


def _fields(policies: list[FieldPolicy]) -> list[FieldRead]:
    language = current_language.get()
    return [FieldRead.model_validate(definitions.field_metadata(policy, language)) for policy in policies]


@schemas_router.get("/{key}", response_model=SchemaRead)
async def get_schema(key: str, session: SessionDep, actor: ContactsRead, response: Response) -> SchemaRead:
    """The schema (`contact` or `legalEntity`): JSON Schema, field metadata and form layout."""
    schema = await definitions.current(session, actor, key)
    response.headers["ETag"] = f'"{schema.concurrency_token}"'
    return SchemaRead.model_validate(
        {
            "key": schema.key,
            "version": schema.version,
            "concurrencyToken": schema.concurrency_token,
            "jsonSchema": schema.document,
            "fields": _fields(list(schema.fields.values())),
            "layout": definitions.layout(schema, current_language.get()),
        }
    )


@schemas_router.put(
    "/{key}",
    response_model=SchemaUpdated,
    responses=error_responses(errors.SchemaInvalid, ConcurrencyTokenMismatch),
)
async def update_schema(key: str, body: SchemaUpdate, session: SessionDep, actor: SchemasWrite) -> SchemaUpdated:
    """Replace the schema (a new version; audited). Records are checked against it when next written."""
    schema = await definitions.replace(session, actor, key, body.json_schema, concurrency_token=body.concurrency_token)
    return SchemaUpdated(version=schema.version, concurrency_token=schema.concurrency_token)


@schemas_router.get("/{key}/json-schema", response_model=JsonSchemaRead)
async def get_json_schema(key: str, session: SessionDep, actor: ContactsRead) -> JsonSchemaRead:
    """Only the JSON Schema, for validating details elsewhere (`x-` keywords are annotations)."""
    schema = await definitions.current(session, actor, key)
    return JsonSchemaRead(json_schema=schema.document)


@schemas_router.get("/{key}/layout", response_model=LayoutRead)
async def get_layout(key: str, session: SessionDep, actor: ContactsRead) -> LayoutRead:
    """Sections and fields in order, with labels, to render an input form."""
    schema = await definitions.current(session, actor, key)
    return LayoutRead.model_validate({"fields": definitions.layout(schema, current_language.get())})


@schemas_router.post("/{key}/fields", response_model=FieldsRead, responses=error_responses(errors.DetailsInvalid))
async def get_fields(key: str, body: FieldsQuery, session: SessionDep, actor: ContactsRead) -> FieldsRead:
    """Metadata of the named fields, or of a layout section's fields, or of all fields."""
    schema = await definitions.current(session, actor, key)
    return FieldsRead(fields=_fields(definitions.select_fields(schema, body.field_keys, body.layout_path_key)))


# --- lists --------------------------------------------------------------------------------


def _items(found: list[ListItem]) -> list[ListItemRead]:
    return [ListItemRead(list_key=i.list_key, id=i.id, name=i.name, parent_id=i.parent_id) for i in found]


@lists_router.post("/items", response_model=ListItemsRead, responses=error_responses(errors.ListNotFound))
async def list_items(body: ListItemsQuery, session: SessionDep, actor: ContactsRead) -> ListItemsRead:
    """Items of the named lists (all lists when none are named), names in the request's language."""
    found = await lists.items(session, actor, body.list_keys, current_language.get())
    return ListItemsRead(items=[item for items in found.values() for item in _items(list(items))])


@lists_router.post("/{list_key}/lookup", response_model=LookupRead, responses=error_responses(errors.ListNotFound))
async def lookup_list(list_key: str, body: LookupQuery, session: SessionDep, actor: ContactsRead) -> LookupRead:
    """The best matches for a lookup term, optionally only under a parent item."""
    query = Lookup(
        filter=body.filter,
        limit=body.limit or DEFAULT_LOOKUP_LIMIT,
        include_id=body.include_id,
        parent_id=body.hierarchy_list_item_id if body.is_filtered_by_hierarchy else None,
    )
    found = await lists.lookup(session, actor, list_key, query, current_language.get())
    return LookupRead(items=_items(found.items), total_count=found.total_count)


@lists_router.put(
    "/{list_key}/items",
    status_code=204,
    response_class=Response,
    responses=error_responses(errors.ListReadOnly, errors.ListItemDuplicate),
)
async def replace_list(list_key: str, body: ListReplace, session: SessionDep, actor: SchemasWrite) -> None:
    """Define or redefine one of the tenant's own lists (e.g. `contactTypes`); built-in lists are fixed."""
    items = [lists.NewItem(item.id, item.labels, item.parent_id) for item in body.items]
    await lists.replace(session, actor, list_key, items)
