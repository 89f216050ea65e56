"""Tenants: created by the operator (CLI), never through the tenant API."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor, ActorKind
from ...audit import service as audit
from ...db import bind_tenant, uuid7
from ..errors import TenantNotFound
from ..models import ALL_SCOPES, Tenant


def operator(tenant_id: UUID) -> Actor:
    """The operator at the command line, acting on one tenant with every permission."""
    return Actor(tenant_id=tenant_id, kind=ActorKind.OPERATOR, id=None, permissions=ALL_SCOPES)


async def create_tenant(
    session: AsyncSession,
    name: str,
    *,
    default_language: str = "en",
    username_from_email: bool = False,
    client_code_channel: str = "sms",
) -> Tenant:
    tenant = Tenant(
        id=uuid7(),
        name=name,
        default_language=default_language,
        username_from_email=username_from_email,
        client_code_channel=client_code_channel,
    )
    await bind_tenant(session, tenant.id)
    session.add(tenant)
    await session.flush()
    await audit.record(
        session,
        operator(tenant.id),
        "auth.tenant.created",
        target_type="tenant",
        target_id=tenant.id,
        data={"name": name, "usernameFromEmail": username_from_email, "clientCodeChannel": client_code_channel},
    )
    return tenant


async def sign_in_tenant(session: AsyncSession, reference: str) -> Tenant | None:
    """The tenant a sign-in URL names (its id), with the session bound to it; None when
    unknown or not an id. Members and client usernames are unique per tenant only, so both
    portals' sign-in pages carry their tenant (`/portal/t/{id}/login`, `/x/t/{id}/login`)."""
    try:
        tenant_id = UUID(reference)
    except ValueError:
        return None
    await bind_tenant(session, tenant_id)
    return await session.get(Tenant, tenant_id)


async def get_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant:
    await bind_tenant(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound()
    return tenant
