"""Plain factory functions for the platform's basic objects."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from trustroom.audit import service as audit
from trustroom.auth.models import ALL_SCOPES, Role
from trustroom.auth.service import api_keys, members, tenants
from trustroom.auth.service.members import NewMember
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys

_numbers = itertools.count(1)


@dataclass(frozen=True)
class TenantFixture:
    id: UUID
    api_key: str
    api_key_id: UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_tenant(
    database: Database, keys: ServerKeys, *, name: str = "Test Bank", language: str = "en"
) -> TenantFixture:
    async with database.session() as session:
        tenant = await tenants.create_tenant(session, f"{name} {next(_numbers)}", default_language=language)
        issued = await api_keys.issue(session, tenant.id, keys, name="test", scopes=ALL_SCOPES, expires_in=None)
        await session.commit()
    return TenantFixture(tenant.id, issued.secret, issued.api_key.id)


async def make_api_key(
    database: Database, keys: ServerKeys, tenant_id: UUID, scopes: Iterable[str], *, expires_in: int | None = None
) -> str:
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        issued = await api_keys.issue(session, tenant_id, keys, name="extra", scopes=scopes, expires_in=expires_in)
        await session.commit()
    return issued.secret


async def make_member(
    database: Database,
    keys: ServerKeys,
    tenant_id: UUID,
    *,
    role: Role = Role.ADVISOR,
    email: str | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> NewMember:
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        new = await members.add(
            session,
            tenant_id,
            keys,
            email=email or f"member{next(_numbers)}@bank.example",
            role=role,
            password=password,
            display_name=display_name,
        )
        await audit.record(
            session, tenants.operator(tenant_id), "auth.member.created", target_type="member", target_id=new.member.id
        )
        await session.commit()
    return new
