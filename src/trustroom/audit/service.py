"""Recording, searching and verifying the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor
from ..db import Database, bind_tenant, paginate, scoped, utcnow
from ..schemas import Paging, Slice, SortOrder
from .models import GENESIS_HASH, AuditChainHead, AuditEvent
from .schemas import AuditFilter


def chain_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _advance_head(session: AsyncSession, tenant_id: UUID, count: int = 1) -> tuple[int, str]:
    """Reserve `count` sequence numbers: (the first one, the hash before it)."""
    # UPDATE first: it takes the row (PostgreSQL) or database (SQLite) write lock, so
    # concurrent writers of one tenant queue here instead of forking the chain.
    row = (
        await session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.tenant_id == tenant_id)
            .values(seq=AuditChainHead.seq + count)
            .returning(AuditChainHead.seq, AuditChainHead.hash)
        )
    ).one_or_none()
    if row is not None:
        return int(row.seq) - count + 1, str(row.hash)
    await session.execute(insert(AuditChainHead).values(tenant_id=tenant_id, seq=count, hash=GENESIS_HASH))
    return 1, GENESIS_HASH


@dataclass(frozen=True)
class Entry:
    """One audit event before it has its place in the chain."""

    tenant_id: UUID
    actor_kind: str
    actor_id: str | None
    api_key_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    data: dict[str, Any]
    correlation_id: str | None
    ip: str | None
    occurred_at: datetime

    @classmethod
    def of(
        cls,
        actor: Actor,
        action: str,
        *,
        target_type: str | None = None,
        target_id: object | None = None,
        data: dict[str, Any] | None = None,
    ) -> Entry:
        return cls(
            tenant_id=actor.tenant_id,
            actor_kind=str(actor.kind),
            actor_id=str(actor.id) if actor.id else None,
            api_key_id=str(actor.api_key_id) if actor.api_key_id else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            data=json.loads(json.dumps(data or {}, default=str)),
            correlation_id=actor.correlation_id,
            ip=actor.ip,
            occurred_at=utcnow(),
        )


async def append(session: AsyncSession, tenant_id: UUID, entries: Sequence[Entry]) -> list[AuditEvent]:
    """Chain entries of one tenant onto its log, in the caller's transaction and in their order."""
    seq, prev_hash = await _advance_head(session, tenant_id, len(entries))
    chained = []
    for offset, entry in enumerate(entries):
        assert entry.tenant_id == tenant_id, "one tenant's entries per call"
        event = AuditEvent(**vars(entry), seq=seq + offset, prev_hash=prev_hash)
        event.hash = prev_hash = chain_hash(event.chained_content())
        chained.append(event)
    session.add_all(chained)
    await session.flush()
    await session.execute(update(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).values(hash=prev_hash))
    return chained


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the actor's tenant chain, in the caller's transaction."""
    entry = Entry.of(actor, action, target_type=target_type, target_id=target_id, data=data)
    return (await append(session, actor.tenant_id, [entry]))[0]


class DeferredAudit:
    """Audit entries noted by read requests (downloads), written in batches off the request path.

    A download is a GET on a read transaction: writing its audit row there would make every
    download a write (on SQLite it would queue for the one write lock). So the request only
    notes the entry in memory; `flush` chains everything noted so far in one short write
    transaction, exactly as `record` does (the chain head's row lock orders writers of every
    process). The app flushes every second and once more at shutdown, after the last
    request has finished. Entries whose write fails go back to the front of the queue.
    """

    BATCH = 500

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._lock = asyncio.Lock()

    def note(
        self,
        actor: Actor,
        action: str,
        *,
        target_type: str | None = None,
        target_id: object | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._entries.append(Entry.of(actor, action, target_type=target_type, target_id=target_id, data=data))

    @property
    def pending(self) -> int:
        return len(self._entries)

    async def flush(self, database: Database) -> int:
        """Write every noted entry; the number written."""
        written = 0
        async with self._lock:  # one flush at a time keeps each tenant's entries in order
            while self._entries:
                batch, self._entries = self._entries[: self.BATCH], self._entries[self.BATCH :]
                try:
                    await self._write(database, batch)
                except BaseException:
                    self._entries[:0] = batch
                    raise
                written += len(batch)
        return written

    @staticmethod
    async def _write(database: Database, batch: list[Entry]) -> None:
        by_tenant: dict[UUID, list[Entry]] = defaultdict(list)
        for entry in batch:
            by_tenant[entry.tenant_id].append(entry)
        async with database.session(write=True) as session:
            # Tenants in one order in every process: two flushers never wait on each other's heads.
            for tenant_id in sorted(by_tenant):
                await bind_tenant(session, tenant_id)
                await append(session, tenant_id, by_tenant[tenant_id])
            await session.commit()


async def search(session: AsyncSession, actor: Actor, criteria: AuditFilter, paging: Paging) -> Slice[AuditEvent]:
    stmt = scoped(select(AuditEvent), actor)
    if criteria.actor:
        stmt = stmt.where(AuditEvent.actor_id == criteria.actor)
    if criteria.action:
        if criteria.action.endswith("*"):
            stmt = stmt.where(AuditEvent.action.startswith(criteria.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == criteria.action)
    if criteria.target_type:
        stmt = stmt.where(AuditEvent.target_type == criteria.target_type)
    if criteria.target_id:
        stmt = stmt.where(AuditEvent.target_id == criteria.target_id)
    if criteria.occurred_from:
        stmt = stmt.where(AuditEvent.occurred_at >= criteria.occurred_from)
    if criteria.occurred_to:
        stmt = stmt.where(AuditEvent.occurred_at < criteria.occurred_to)
    order = AuditEvent.seq.asc() if paging.sort_order is SortOrder.ASCENDING else AuditEvent.seq.desc()
    return await paginate(session, stmt, paging, order)


@dataclass(frozen=True)
class ChainBreak:
    tenant_id: UUID
    seq: int | None
    row_id: UUID | None
    reason: str

    def describe(self) -> str:
        where = f"row {self.row_id} (seq {self.seq})" if self.row_id else f"after seq {self.seq}"
        return f"tenant {self.tenant_id}: {where}: {self.reason}"


@dataclass
class VerifyReport:
    tenants: int = 0
    rows: int = 0
    first_break: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


async def _tenant_chain(session: AsyncSession, tenant_id: UUID) -> AsyncIterator[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
    result = await session.stream_scalars(stmt.execution_options(yield_per=1000))
    async for event in result:
        yield event


async def verify(session: AsyncSession, tenant_id: UUID | None = None) -> VerifyReport:
    """Recompute every chain (or one tenant's) and report the first row that does not fit."""
    report = VerifyReport()
    heads_stmt = select(AuditChainHead).order_by(AuditChainHead.tenant_id)
    if tenant_id is not None:
        heads_stmt = heads_stmt.where(AuditChainHead.tenant_id == tenant_id)
    heads = list(await session.scalars(heads_stmt))
    with_rows = select(AuditEvent.tenant_id).distinct()
    if tenant_id is not None:
        with_rows = with_rows.where(AuditEvent.tenant_id == tenant_id)
    headless = set(await session.scalars(with_rows)) - {head.tenant_id for head in heads}
    if headless:
        report.first_break = ChainBreak(min(headless), None, None, "rows exist but the chain head is missing")
        return report
    for head in heads:
        report.tenants += 1
        problem = await _verify_chain(session, head, report)
        if problem is not None:
            report.first_break = problem
            return report
    return report


async def _verify_chain(session: AsyncSession, head: AuditChainHead, report: VerifyReport) -> ChainBreak | None:
    expected_seq, prev_hash = 1, GENESIS_HASH
    async for event in _tenant_chain(session, head.tenant_id):
        report.rows += 1
        if event.seq != expected_seq:
            return ChainBreak(head.tenant_id, event.seq, event.id, f"expected seq {expected_seq}: a row is missing")
        if event.prev_hash != prev_hash:
            return ChainBreak(head.tenant_id, event.seq, event.id, "previous-hash link broken: rows were moved")
        if chain_hash(event.chained_content()) != event.hash:
            return ChainBreak(head.tenant_id, event.seq, event.id, "content does not match its hash: row was edited")
        expected_seq, prev_hash = expected_seq + 1, event.hash
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        return ChainBreak(head.tenant_id, expected_seq - 1, None, "chain ends early: newest rows were deleted")
    return None
