"""Lists for detail fields: the built-in ISO lists, the contact types, and the tenant's own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...errors import N_
from ...i18n import translations
from .. import lists
from ..errors import ListItemDuplicate, ListNotFound, ListReadOnly
from ..lists import ListItem, Lookup, LookupResult
from ..models import TenantListItem
from ..validation import ListIds

CONTACT_TYPES = "contactTypes"
LEGAL_ENTITY_ROLES = "legalEntityRoles"
# Lists the API's numbers refer to (contactTypeId, a legal entity contact's roleId), used
# until a tenant defines its own under the same key.
DEFAULT_LISTS = {
    CONTACT_TYPES: {"1": N_("Client"), "2": N_("Prospect")},
    LEGAL_ENTITY_ROLES: {
        "1": N_("Authorized signatory"),
        "2": N_("Beneficial owner"),
        "3": N_("Director"),
        "4": N_("Contact person"),
    },
}


@dataclass(frozen=True)
class NewItem:
    id: str
    labels: Mapping[str, str]
    parent_id: str | None = None


async def _tenant_lists(session: AsyncSession, actor: Actor) -> dict[str, list[TenantListItem]]:
    rows = await session.scalars(
        select(TenantListItem)
        .where(TenantListItem.tenant_id == actor.tenant_id)
        .order_by(TenantListItem.list_key, TenantListItem.position)
    )
    found: dict[str, list[TenantListItem]] = {}
    for row in rows:
        found.setdefault(row.list_key, []).append(row)
    return found


def _name(labels: Mapping[str, str], language: str, fallback: str) -> str:
    return labels.get(language) or labels.get("en") or fallback


def _tenant_items(rows: list[TenantListItem], language: str) -> tuple[ListItem, ...]:
    return tuple(
        ListItem(row.list_key, row.item_id, _name(row.labels, language, row.item_id), row.parent_id) for row in rows
    )


def _default_items(list_key: str, language: str) -> tuple[ListItem, ...]:
    gettext = translations(language).gettext
    return tuple(ListItem(list_key, key, gettext(label)) for key, label in DEFAULT_LISTS[list_key].items())


async def items(
    session: AsyncSession, actor: Actor, list_keys: list[str] | None, language: str
) -> dict[str, tuple[ListItem, ...]]:
    """The named lists (all when none are named); a tenant's list overrides a default of the same key."""
    own = await _tenant_lists(session, actor)
    available = [*lists.BUILT_IN, *DEFAULT_LISTS, *sorted(set(own) - set(DEFAULT_LISTS))]
    wanted = list(dict.fromkeys(list_keys)) if list_keys else available
    result: dict[str, tuple[ListItem, ...]] = {}
    for key in wanted:
        if key in own:
            result[key] = _tenant_items(own[key], language)
        elif key in lists.BUILT_IN:
            result[key] = lists.built_in(key, language)
        elif key in DEFAULT_LISTS:
            result[key] = _default_items(key, language)
        else:
            raise ListNotFound()
    return result


async def lookup(session: AsyncSession, actor: Actor, list_key: str, query: Lookup, language: str) -> LookupResult:
    found = await items(session, actor, [list_key], language)
    return lists.lookup(found[list_key], query)


async def replace(session: AsyncSession, actor: Actor, list_key: str, new_items: list[NewItem]) -> None:
    """Define (or redefine) a tenant list; items keep the order given."""
    if list_key in lists.BUILT_IN:
        raise ListReadOnly(list_key=list_key)
    seen: set[str] = set()
    for item in new_items:
        if item.id in seen:
            raise ListItemDuplicate(item_id=item.id)
        seen.add(item.id)
    await session.execute(
        delete(TenantListItem).where(TenantListItem.tenant_id == actor.tenant_id, TenantListItem.list_key == list_key)
    )
    session.add_all(
        TenantListItem(
            tenant_id=actor.tenant_id,
            list_key=list_key,
            item_id=item.id,
            parent_id=item.parent_id,
            labels=dict(item.labels),
            position=position,
        )
        for position, item in enumerate(new_items)
    )
    await session.flush()
    session.info.pop(_resolver_memo_key(actor), None)
    await audit.record(
        session, actor, "clients.list.replaced", target_type="list", target_id=list_key, data={"items": len(new_items)}
    )


def _resolver_memo_key(actor: Actor) -> tuple[str, object]:
    return ("clients.list_ids", actor.tenant_id)


async def resolver(session: AsyncSession, actor: Actor) -> ListIds:
    """Ids (with parents) of every list, for validating detail values.

    The tenant's lists are read once per session (one request or job), so a write that
    validates twice, or an import of many records, does not read them again; `replace`
    forgets them.
    """
    memo_key = _resolver_memo_key(actor)
    own: dict[str, dict[str, str | None]] | None = session.info.get(memo_key)
    if own is None:
        rows = await _tenant_lists(session, actor)
        own = {key: {row.item_id: row.parent_id for row in list_rows} for key, list_rows in rows.items()}
        session.info[memo_key] = own

    def ids(list_key: str) -> Mapping[str, str | None] | None:
        if list_key in own:
            return own[list_key]
        if list_key in lists.BUILT_IN:
            return lists.built_in_ids(list_key)
        if list_key in DEFAULT_LISTS:
            return dict.fromkeys(DEFAULT_LISTS[list_key])
        return None

    return ids
