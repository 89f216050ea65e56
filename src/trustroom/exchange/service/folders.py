"""Folders of an exchange: a tree the advisor side builds; names unique among siblings."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import scoped
from ...errors import ConcurrencyTokenMismatch
from ..errors import FolderNameTaken, FolderNotEmpty
from ..models import Document, Exchange, Folder
from . import access, documents, names


async def _check_name_free(
    session: AsyncSession,
    actor: Actor,
    exchange: Exchange,
    parent_id: UUID | None,
    name: str,
    *,
    but: UUID | None = None,
) -> None:
    # The caller holds the exchange row locked, so no sibling appears meanwhile.
    siblings = scoped(select(Folder.id, Folder.name), actor).where(
        Folder.exchange_id == exchange.id,
        Folder.parent_id.is_(None) if parent_id is None else Folder.parent_id == parent_id,
    )
    wanted = names.key(name)
    for folder_id, sibling in await session.execute(siblings):
        if folder_id != but and names.key(sibling) == wanted:
            raise FolderNameTaken(name=name)


async def list_folders(session: AsyncSession, actor: Actor, exchange_id: UUID) -> list[Folder]:
    """Every folder of the exchange (a flat list: parents before children, by name)."""
    exchange = await access.load_exchange(session, actor, exchange_id)
    found = list(await session.scalars(scoped(select(Folder), actor).where(Folder.exchange_id == exchange.id)))
    return _tree_order(found)


def _tree_order(folders: list[Folder]) -> list[Folder]:
    children: dict[UUID | None, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    ordered: list[Folder] = []
    pending = sorted(children.get(None, []), key=lambda f: names.key(f.name), reverse=True)
    while pending:
        folder = pending.pop()
        ordered.append(folder)
        pending.extend(sorted(children.get(folder.id, []), key=lambda f: names.key(f.name), reverse=True))
    return ordered


async def create(session: AsyncSession, actor: Actor, exchange_id: UUID, name: str, parent_id: UUID | None) -> Folder:
    access.require_advisor_side(actor)
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    if parent_id is not None:
        await access.load_folder(session, actor, exchange, parent_id)
    name = names.clean(name)
    await _check_name_free(session, actor, exchange, parent_id, name)
    folder = Folder(tenant_id=actor.tenant_id, exchange_id=exchange.id, parent_id=parent_id, name=name)
    session.add(folder)
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.folder.created",
        target_type="exchangeFolder",
        target_id=folder.id,
        data={"exchangeId": str(exchange.id)},
    )
    return folder


async def get(session: AsyncSession, actor: Actor, exchange_id: UUID, folder_id: UUID) -> Folder:
    exchange = await access.load_exchange(session, actor, exchange_id)
    return await access.load_folder(session, actor, exchange, folder_id)


async def rename(
    session: AsyncSession, actor: Actor, exchange_id: UUID, folder_id: UUID, name: str, *, concurrency_token: str | None
) -> Folder:
    access.require_advisor_side(actor)
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    folder = await access.load_folder(session, actor, exchange, folder_id)
    ConcurrencyTokenMismatch.check(concurrency_token, folder.concurrency_token)
    name = names.clean(name)
    if name == folder.name:
        return folder
    await _check_name_free(session, actor, exchange, folder.parent_id, name, but=folder.id)
    folder.name = name
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.folder.renamed",
        target_type="exchangeFolder",
        target_id=folder.id,
        data={"exchangeId": str(exchange.id)},
    )
    return folder


async def _subtree(session: AsyncSession, actor: Actor, exchange: Exchange, root: Folder) -> list[UUID]:
    rows = await session.execute(
        scoped(select(Folder.id, Folder.parent_id), actor).where(Folder.exchange_id == exchange.id)
    )
    parents = dict(rows.all())  # a Result has keys(), so dict() needs the rows themselves
    inside = {root.id}
    grew = True
    while grew:
        grown = {f for f, p in parents.items() if p in inside} - inside
        inside |= grown
        grew = bool(grown)
    return sorted(inside)


async def delete(session: AsyncSession, actor: Actor, exchange_id: UUID, folder_id: UUID, *, recursive: bool) -> int:
    """Delete a folder; with content only when `recursive`. Answers the documents removed."""
    access.require_advisor_side(actor)
    exchange = await access.load_exchange(session, actor, exchange_id, for_update=True)
    folder = await access.load_folder(session, actor, exchange, folder_id)
    inside = await _subtree(session, actor, exchange, folder)
    counting = scoped(select(func.count(Document.id)), actor).where(Document.folder_id.in_(inside))
    document_count = int(await session.scalar(counting) or 0)
    if not recursive and (len(inside) > 1 or document_count):
        raise FolderNotEmpty()
    await documents.forget(session, actor, exchange, Document.folder_id.in_(inside))
    await session.delete(folder)  # its subfolders go with it (ON DELETE CASCADE)
    await session.flush()
    await audit.record(
        session,
        actor,
        "exchange.folder.deleted",
        target_type="exchangeFolder",
        target_id=folder_id,
        data={"exchangeId": str(exchange.id), "folders": len(inside), "documents": document_count},
    )
    return document_count
