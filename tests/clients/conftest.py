"""Fixtures for client records: members acting through the tenant's key, and a contact factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from trustroom.auth.models import Role
from trustroom.db import Database
from trustroom.http import API_PREFIX
from trustroom.keys import ServerKeys

from ..factories import TenantFixture, make_member

CONTACTS = f"{API_PREFIX}/contacts"


@dataclass(frozen=True)
class Person:
    """A member reached through the tenant's key with X-Acting-Member."""

    id: UUID
    headers: dict[str, str]


async def person(database: Database, keys: ServerKeys, tenant: TenantFixture, role: Role) -> Person:
    new = await make_member(database, keys, tenant.id, role=role)
    return Person(new.member.id, {**tenant.headers, "X-Acting-Member": str(new.member.id)})


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADVISOR)


@pytest.fixture
async def reviewer(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADMIN)


@pytest.fixture
async def admin(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADMIN)


def anna(**extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "personalInformation": {"firstName": "Anna", "lastName": "Muster", "language": "DE"},
        "communication": {"email": "anna.muster@example.com", "mobile": "+41791234567"},
        "address": {"street": "Bahnhofstrasse 1", "postalCode": "8001", "city": "Zürich", "country": "CH"},
    }
    for section, values in extra.items():
        details.setdefault(section, {}).update(values)
    return details


_usernames = iter(range(1, 1_000_000))


async def create_contact(
    client: httpx.AsyncClient, headers: dict[str, str], details: dict[str, Any] | None = None, **body: Any
) -> dict[str, Any]:
    payload = {"contactTypeId": 1, "username": f"client{next(_usernames)}", "details": details or anna(), **body}
    response = await client.post(CONTACTS, headers=headers, json=payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
