"""Last-used times of API keys and browser sessions (members' and clients'), written in batches off the request path.

A request only notes the use in memory; `flush` writes every noted use in one short
transaction (the app flushes every few seconds and at shutdown). So a GET never turns into
a write and never holds a second database connection while it waits for one. A crash
loses at most the last few seconds of these coarse, informational times.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import update

from ...db import Database, bind_tenant, utcnow
from ..models import ApiKey, PortalSession

MAX_REMEMBERED = 10_000


class UsageRecorder:
    def __init__(self) -> None:
        self._api_keys: dict[tuple[UUID, UUID], datetime] = {}
        # By (session table, tenant, id): any mapped table with `tenant_id`, `id`, `last_seen_at`.
        self._sessions: dict[tuple[type[Any], UUID, UUID], datetime] = {}
        self._rehashes: dict[tuple[UUID, UUID], tuple[str, str]] = {}
        self._api_key_noted: dict[UUID, datetime] = {}

    def api_key_used(self, tenant_id: UUID, key_id: UUID, last_used_at: datetime | None, resolution: timedelta) -> None:
        """Note a use when the stored time (or the last one noted here) is older than `resolution`.

        Authentication may come from a cache whose `last_used_at` is as old as the entry, so
        this process remembers what it noted last instead of noting every request.
        """
        now = utcnow()
        noted = self._api_key_noted.get(key_id)
        latest = max(noted, last_used_at) if noted and last_used_at else noted or last_used_at
        if latest is not None and now - latest < resolution:
            return
        if len(self._api_key_noted) >= MAX_REMEMBERED:
            self._api_key_noted.clear()
        self._api_key_noted[key_id] = now
        self._api_keys[(tenant_id, key_id)] = now

    def api_key_rehashed(self, tenant_id: UUID, key_id: UUID, key_hash: str, secret_id: str) -> None:
        """The key was presented and matched under an older secret: store its current hash."""
        self._rehashes[(tenant_id, key_id)] = (key_hash, secret_id)

    def session_seen(self, browser_session: PortalSession | Any) -> None:
        self._sessions[(type(browser_session), browser_session.tenant_id, browser_session.id)] = utcnow()

    @property
    def pending(self) -> int:
        return len(self._api_keys) + len(self._sessions) + len(self._rehashes)

    async def flush(self, database: Database) -> int:
        api_keys, self._api_keys = self._api_keys, {}
        sessions, self._sessions = self._sessions, {}
        rehashes, self._rehashes = self._rehashes, {}
        if not api_keys and not sessions and not rehashes:
            return 0
        async with database.session(write=True) as session:
            for (tenant_id, key_id), when in api_keys.items():
                await bind_tenant(session, tenant_id)
                await session.execute(
                    update(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id).values(last_used_at=when)
                )
            for (tenant_id, key_id), (key_hash, secret_id) in rehashes.items():
                await bind_tenant(session, tenant_id)
                await session.execute(
                    update(ApiKey)
                    .where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
                    .values(key_hash=key_hash, secret_id=secret_id)
                )
            for (table, tenant_id, session_id), when in sessions.items():
                await bind_tenant(session, tenant_id)
                await session.execute(
                    update(table).where(table.tenant_id == tenant_id, table.id == session_id).values(last_seen_at=when)
                )
            await session.commit()
        return len(api_keys) + len(sessions) + len(rehashes)
