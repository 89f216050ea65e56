"""Actor: who is doing something, for which tenant, and with which permissions.

Resolved once per request (or built by the CLI and the worker) and passed to every
service function, so no tenant-owned query can be written without knowing the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID


class ActorKind(StrEnum):
    APP = "app"
    MEMBER = "member"
    CONTACT = "contact"
    # A client signed in to the client portal with the account of an exchange (id: the account).
    CLIENT = "client"
    # Someone invited to a dossier, acting through their invite (id: the invitee).
    SIGNER = "signer"
    OPERATOR = "operator"
    SYSTEM = "system"


class Scope(StrEnum):
    """Permissions, named `resource:action`; API key scopes and member roles draw from these."""

    API_KEYS_READ = "api-keys:read"
    API_KEYS_WRITE = "api-keys:write"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_ACT = "members:act"
    AUDIT_READ = "audit:read"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    # Every record of the tenant, not only those assigned to the member and their team.
    CONTACTS_READ_ALL = "contacts:read-all"
    CONTACTS_ANONYMIZE = "contacts:anonymize"
    # Choosing which members advise a contact (and moving a member's contacts to another):
    # it decides who sees the contact and its exchanges, so admins and the bank's systems.
    CONTACTS_ASSIGN = "contacts:assign"
    # Bulk reads and writes: a whole (filtered) register at once, so never part of a default role.
    CONTACTS_EXPORT = "contacts:export"
    CONTACTS_IMPORT = "contacts:import"
    SCHEMAS_WRITE = "schemas:write"
    CHANGE_REQUESTS_REVIEW = "change-requests:review"
    EXCHANGES_READ = "exchanges:read"
    EXCHANGES_WRITE = "exchanges:write"
    SIGNING_READ = "signing:read"
    SIGNING_WRITE = "signing:write"
    CREDENTIALS_READ = "credentials:read"
    CREDENTIALS_WRITE = "credentials:write"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    JOBS_READ = "jobs:read"


@dataclass(frozen=True)
class Actor:
    tenant_id: UUID
    kind: ActorKind
    id: UUID | None
    permissions: frozenset[str] = frozenset()
    # An app acting for a member: `id` is the member, `api_key_id` the app's key.
    api_key_id: UUID | None = None
    correlation_id: str | None = None
    ip: str | None = None
    language: str | None = field(default=None, compare=False)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def member_id(self) -> UUID | None:
        return self.id if self.kind is ActorKind.MEMBER else None

    @property
    def principal(self) -> str:
        """Who answers for a request: the API key when an app calls, else the member or contact."""
        return f"{self.kind}:{self.api_key_id or self.id}"

    def snapshot(self) -> dict[str, Any]:
        """What a job needs to act later as this actor (JSON)."""
        return {
            "kind": str(self.kind),
            "id": str(self.id) if self.id else None,
            "apiKeyId": str(self.api_key_id) if self.api_key_id else None,
            "permissions": sorted(self.permissions),
            "correlationId": self.correlation_id,
        }

    @classmethod
    def from_snapshot(cls, tenant_id: UUID, snapshot: dict[str, Any], *, language: str | None = None) -> Actor:
        return cls(
            tenant_id=tenant_id,
            kind=ActorKind(snapshot["kind"]),
            id=UUID(snapshot["id"]) if snapshot.get("id") else None,
            permissions=frozenset(snapshot.get("permissions", ())),
            api_key_id=UUID(snapshot["apiKeyId"]) if snapshot.get("apiKeyId") else None,
            correlation_id=snapshot.get("correlationId"),
            language=language,
        )
