"""Recording, searching and verifying the audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..actor import Actor
from ..db import paginate, scoped, utcnow
from ..schemas import Paging, Slice, SortOrder
from .models import GENESIS_HASH, AuditChainHead, AuditEvent
from .schemas import AuditFilter


def chain_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _advance_head(session: AsyncSession, tenant_id: UUID) -> tuple[int, str]:
    # UPDATE first: it takes the row (PostgreSQL) or database (SQLite) write lock, so
    # concurrent writers of one tenant queue here instead of forking the chain.
    row = (
        await session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.tenant_id == tenant_id)
            .values(seq=AuditChainHead.seq + 1)
            .returning(AuditChainHead.seq, AuditChainHead.hash)
        )
    ).one_or_none()
    if row is not None:
        return int(row.seq), str(row.hash)
    await session.execute(insert(AuditChainHead).values(tenant_id=tenant_id, seq=1, hash=GENESIS_HASH))
    return 1, GENESIS_HASH


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
    seq, prev_hash = await _advance_head(session, actor.tenant_id)
    event = AuditEvent(
        tenant_id=actor.tenant_id,
        seq=seq,
        actor_kind=str(actor.kind),
        actor_id=str(actor.id) if actor.id else None,
        api_key_id=str(actor.api_key_id) if actor.api_key_id else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        data=json.loads(json.dumps(data or {}, default=str)),
        correlation_id=actor.correlation_id,
        ip=actor.ip,
        prev_hash=prev_hash,
        occurred_at=utcnow(),
    )
    event.hash = chain_hash(event.chained_content())
    session.add(event)
    await session.execute(
        update(AuditChainHead).where(AuditChainHead.tenant_id == actor.tenant_id).values(hash=event.hash)
    )
    return event


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
