"""The demo tenant `trustroom demo` (and `make run`) seeds: an API key, an admin member,
four clients and an exchange with a client login, all derived from the server secret so
that every run prints the same credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .actor import Actor
from .auth.models import ALL_SCOPES, ApiKey, Member, Role, Tenant
from .auth.service import api_keys, members, portal, tenants
from .clients.models import RecordKind
from .clients.service import records
from .db import bind_tenant, cross_tenant, scoped
from .exchange.models import Exchange
from .exchange.schemas import ExchangeCreate
from .exchange.service import exchanges, sign_in
from .keys import ServerKeys
from .settings import Settings
from .storage.keyring import Keyring, SealedKeyring

DEMO_TENANT = "Demo Private Bank"
DEMO_EMAIL = "advisor@demo.trustroom.example"
DEMO_CLIENT = "demo-client"
DEMO_ROOM = "DEMO-ROOM"


def _secret(keys: ServerKeys, purpose: str) -> bytes:
    # Demo credentials are derived from the server secret, so `demo` can print them again.
    return hmac.new(keys.derive("demo"), purpose.encode(), hashlib.sha256).digest()


async def seed(session: AsyncSession, settings: Settings, keys: ServerKeys) -> dict[str, Any]:
    """The demo tenant with an API key, an admin member, a few clients and an exchange;
    idempotent: a second run finds them and prints the same credentials."""
    api_key = api_keys.KEY_PREFIX + base64.urlsafe_b64encode(_secret(keys, "api-key")).rstrip(b"=").decode()
    password = base64.urlsafe_b64encode(_secret(keys, "password")).decode()[:20]
    totp_secret = base64.b32encode(_secret(keys, "totp")[:20]).decode()

    async with cross_tenant(session):
        tenant = await session.scalar(select(Tenant).where(Tenant.name == DEMO_TENANT).order_by(Tenant.id).limit(1))
    if tenant is None:
        tenant = await tenants.create_tenant(session, DEMO_TENANT, default_language="en")
    await bind_tenant(session, tenant.id)
    key_hash = keys.keyed_hash(api_keys.HASH_PURPOSE, api_key)
    if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is None:
        session.add(
            ApiKey(
                tenant_id=tenant.id,
                name="Demo app",
                prefix=api_key[: api_keys.SHOWN_PREFIX_LENGTH],
                key_hash=key_hash,
                secret_id=keys.secret_id,
                scopes=sorted(ALL_SCOPES),
            )
        )
    member = await session.scalar(select(Member).where(Member.tenant_id == tenant.id, Member.email == DEMO_EMAIL))
    if member is None:
        new = await members.add(
            session,
            tenant.id,
            keys,
            email=DEMO_EMAIL,
            role=Role.ADMIN,
            display_name="Demo Advisor",
            password=password,
        )
        new.member.totp_secret_sealed = keys.seal(totp_secret, context=members.totp_context(new.member))
    operator = tenants.operator(tenant.id)
    await _contacts(session, operator)
    client_password = base64.urlsafe_b64encode(_secret(keys, "client-password")).decode()[:20]
    await _exchange(session, operator, SealedKeyring(keys), client_password)
    base = settings.public_url.rstrip("/")
    return {
        "tenantId": str(tenant.id),
        "apiKey": api_key,
        "member": {"email": DEMO_EMAIL, "password": password, "totpSecret": totp_secret},
        "client": {
            "username": DEMO_CLIENT,
            "password": client_password,
            "codes": str(settings.data_dir / "outbox" / "sms"),
        },
        "urls": {
            "advisorPortal": f"{base}{portal.login_path(tenant.id)}",
            "clients": f"{base}/portal/contacts",
            "exchanges": f"{base}/portal/exchanges",
            "clientPortal": f"{base}{sign_in.login_path(tenant.id)}",
            "apiDocs": f"{base}/api/docs",
            "openapi": f"{base}/api/v1/openapi.json",
        },
    }


DEMO_CONTACTS = (
    ("Anna", "Muster", "DE", "Zürich", "8001"),
    ("Bruno", "Meier", "DE", "Bern", "3011"),
    ("Chloé", "Favre", "FR", "Genève", "1201"),
    ("Luca", "Bernasconi", "IT", "Lugano", "6900"),
)


async def _contacts(session: Any, operator: Actor) -> None:
    """A few clients to look at in the portal, made once (known by their demo external id)."""
    found = await records.find_by_external_ids(
        session, operator, RecordKind.CONTACT, "Default", [f"DEMO-{index}" for index in range(len(DEMO_CONTACTS))]
    )
    for index, (first, last, language, city, postal_code) in enumerate(DEMO_CONTACTS):
        if f"DEMO-{index}" in found:
            continue
        email = f"{first.lower().replace('é', 'e')}.{last.lower()}@example.com"
        details = {
            "personalInformation": {"firstName": first, "lastName": last, "language": language},
            "communication": {"email": email},
            "address": {"city": city, "postalCode": postal_code, "country": "CH"},
        }
        record = await records.create(session, operator, RecordKind.CONTACT, details, contact_type_id=1, username=email)
        await records.connect(session, operator, record, "Default", f"DEMO-{index}")


async def _exchange(session: AsyncSession, operator: Actor, keyring: Keyring, password: str) -> None:
    """Anna Muster's exchange, made once from her contact (which gives it its Documents
    folder); her sign-in codes go to the SMS outbox."""
    found = await session.scalar(
        scoped(select(Exchange.id), operator).where(Exchange.external_exchange_id == DEMO_ROOM)
    )
    if found is not None:
        return
    contact = await records.find_by_external_ids(session, operator, RecordKind.CONTACT, "Default", ["DEMO-0"])
    body = ExchangeCreate.model_validate(
        {
            "username": DEMO_CLIENT,
            "externalUserId": DEMO_CLIENT,
            "languageCode": "EN",
            "password": password,
            "client": {
                "firstName": "Anna",
                "lastName": "Muster",
                "email": "anna.muster@example.com",
                "mobileNumber": "+41791234567",
            },
            "externalExchangeId": DEMO_ROOM,
            "name": "Mandate Anna Muster",
            "description": "Documents for your mandate",
            "advisor": {"firstName": "Demo", "lastName": "Advisor", "email": DEMO_EMAIL},
            "contactId": str(contact["DEMO-0"].id) if "DEMO-0" in contact else None,
        }
    )
    await exchanges.create(session, operator, keyring, body)
