"""Members: the provider's staff, with a role, a password and a TOTP second factor."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pyotp
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ...audit import service as audit
from ...db import bind_tenant, cross_tenant, paginate, scoped, utcnow
from ...errors import ConcurrencyTokenMismatch
from ...jobs import service as jobs
from ...keys import ServerKeys
from ...schemas import Paging, Slice, SortOrder
from .. import events
from ..errors import ActingMemberUnknown, EmailTaken, MemberNotFound, SupervisorInvalid
from ..models import Member, Role

password_hasher = PasswordHasher()  # argon2id with the library's current recommended cost


@dataclass(frozen=True)
class NewMember:
    member: Member
    password: str
    totp_secret: str


def totp_context(member: Member) -> str:
    return f"member-totp:{member.id}"


def totp_secret(member: Member, keys: ServerKeys) -> str:
    return keys.unseal(member.totp_secret_sealed, context=totp_context(member))


def reseal_if_old(member: Member, keys: ServerKeys, secret: str) -> bool:
    """Seal the TOTP secret under the current server secret if an older one sealed it."""
    if keys.is_current_seal(member.totp_secret_sealed, context=totp_context(member)):
        return False
    member.totp_secret_sealed = keys.seal(secret, context=totp_context(member))
    return True


async def reseal_all(session: AsyncSession, keys: ServerKeys) -> tuple[int, int]:
    """`trustroom keys reseal`: every member's TOTP secret under the current secret; (resealed, total)."""
    resealed = total = 0
    async with cross_tenant(session):
        for member in await session.scalars(select(Member).order_by(Member.id)):
            total += 1
            await bind_tenant(session, member.tenant_id)
            resealed += reseal_if_old(member, keys, totp_secret(member, keys))
        await session.flush()
    return resealed, total


async def add(
    session: AsyncSession,
    tenant_id: UUID,
    keys: ServerKeys,
    *,
    email: str,
    role: Role,
    display_name: str | None = None,
    password: str | None = None,
) -> NewMember:
    """Create a member with a fresh password and TOTP secret; callers audit."""
    email = email.strip().lower()
    taken = await session.scalar(select(Member.id).where(Member.tenant_id == tenant_id, Member.email == email))
    if taken is not None:
        raise EmailTaken()
    password = password or secrets.token_urlsafe(15)
    secret = pyotp.random_base32()
    member = Member(
        tenant_id=tenant_id,
        email=email,
        display_name=display_name or email.split("@")[0],
        role=Role(role),
        password_hash=password_hasher.hash(password),
        totp_secret_sealed="",
    )
    session.add(member)
    await session.flush()
    member.totp_secret_sealed = keys.seal(secret, context=totp_context(member))
    await session.flush()
    return NewMember(member, password, secret)


async def create(
    session: AsyncSession,
    actor: Actor,
    keys: ServerKeys,
    *,
    email: str,
    role: Role,
    display_name: str | None = None,
) -> NewMember:
    new = await add(session, actor.tenant_id, keys, email=email, role=role, display_name=display_name)
    await audit.record(
        session,
        actor,
        "auth.member.created",
        target_type="member",
        target_id=new.member.id,
        data={"role": str(role)},
    )
    event = {"member_id": new.member.id, "role": str(role)}
    await jobs.emit(session, events.MEMBER_CREATED, event, tenant_id=actor.tenant_id)
    return new


async def get(session: AsyncSession, actor: Actor, member_id: UUID) -> Member:
    member: Member | None = await session.scalar(scoped(select(Member), actor).where(Member.id == member_id))
    if member is None:
        raise MemberNotFound()
    return member


async def list_members(session: AsyncSession, actor: Actor, paging: Paging) -> Slice[Member]:
    order = Member.email.asc() if paging.sort_order is SortOrder.ASCENDING else Member.email.desc()
    return await paginate(session, scoped(select(Member), actor), paging, order)


class _Unchanged:
    """A value a caller did not give (as opposed to None, which clears it)."""


UNCHANGED = _Unchanged()


async def _check_supervisor(session: AsyncSession, actor: Actor, member: Member, supervisor_id: UUID) -> None:
    """The supervisor exists, is active, and is not the member or anyone below it (no cycles)."""
    supervisor = await session.scalar(scoped(select(Member), actor).where(Member.id == supervisor_id))
    if supervisor is None or supervisor.disabled or supervisor.id == member.id:
        raise SupervisorInvalid()
    below = await subordinates(session, actor, member.id)
    if supervisor_id in below:
        raise SupervisorInvalid()


def subordinate_ids(actor: Actor, member_id: UUID) -> Any:
    """A recursive CTE of the member and everyone who reports to them, directly or not."""
    tree = (
        select(Member.id).where(Member.tenant_id == actor.tenant_id, Member.id == member_id).cte("team", recursive=True)
    )
    below = select(Member.id).where(Member.tenant_id == actor.tenant_id, Member.supervisor_id == tree.c.id)
    return tree.union(below)


async def subordinates(session: AsyncSession, actor: Actor, member_id: UUID) -> set[UUID]:
    """Everyone below the member in the hierarchy (not the member itself)."""
    tree = subordinate_ids(actor, member_id)
    return set(await session.scalars(select(tree.c.id).where(tree.c.id != member_id)))


async def update(
    session: AsyncSession,
    actor: Actor,
    member_id: UUID,
    *,
    concurrency_token: str | None,
    display_name: str | None = None,
    role: Role | None = None,
    disabled: bool | None = None,
    supervisor_id: UUID | _Unchanged | None = UNCHANGED,
) -> Member:
    member = await get(session, actor, member_id)
    ConcurrencyTokenMismatch.check(concurrency_token, member.concurrency_token)
    changes: dict[str, object] = {}
    if display_name is not None and display_name != member.display_name:
        member.display_name = changes["displayName"] = display_name
    if role is not None and role != member.role:
        member.role = Role(role)
        changes["role"] = str(role)
    if disabled is not None and disabled != member.disabled:
        member.disabled_at = utcnow() if disabled else None
        changes["disabled"] = disabled
    if not isinstance(supervisor_id, _Unchanged) and supervisor_id != member.supervisor_id:
        if supervisor_id is not None:
            await _check_supervisor(session, actor, member, supervisor_id)
        member.supervisor_id = supervisor_id
        changes["supervisorId"] = str(supervisor_id) if supervisor_id else None
    if changes:
        await session.flush()
        await audit.record(
            session, actor, "auth.member.updated", target_type="member", target_id=member.id, data=changes
        )
        event = {"member_id": member.id, "role": str(member.role), "changed": sorted(changes)}
        await jobs.emit(session, events.MEMBER_UPDATED, event, tenant_id=actor.tenant_id)
    return member


async def find_active(session: AsyncSession, tenant_id: UUID, reference: str) -> Member:
    """The member named by id or email (X-Acting-Member), if active in the tenant."""
    stmt = select(Member).where(Member.tenant_id == tenant_id, Member.disabled_at.is_(None))
    try:
        stmt = stmt.where(Member.id == UUID(reference))
    except ValueError:
        stmt = stmt.where(Member.email == reference.strip().lower())
    member = await session.scalar(stmt)
    if member is None:
        raise ActingMemberUnknown()
    return member


def provisioning_uri(member: Member, keys: ServerKeys, issuer: str = "Trustroom") -> str:
    return pyotp.TOTP(totp_secret(member, keys)).provisioning_uri(name=member.email, issuer_name=issuer)
