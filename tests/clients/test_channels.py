"""A new email or mobile waits until the key sent to it (by real SMTP, or SMS) comes back."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from trustroom.app import create_app
from trustroom.clients.models import ChannelVerification
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..helpers import events_of
from ..outbound import MailCatcher, send_queued
from .conftest import CONTACTS, Person, create_contact

NEW_EMAIL = "anna.neu@example.com"


def key_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


async def mailed_key(database: Database, settings: Settings, tenant: TenantFixture, mail: MailCatcher) -> str:
    await send_queued(database, mail.settings(settings), tenant.id)
    message = mail.to(NEW_EMAIL)[-1]
    return key_in(message.get_content())


async def change_email(client: httpx.AsyncClient, tenant: TenantFixture, contact_id: str) -> dict[str, Any]:
    response = await client.patch(
        f"{CONTACTS}/{contact_id}/details",
        headers=tenant.headers,
        json={"details": {"communication": {"email": NEW_EMAIL}, "address": {"city": "Bern"}}},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def verify(client: httpx.AsyncClient, tenant: TenantFixture, contact_id: str, key: str, channel: str = "Email"):  # type: ignore[no-untyped-def]
    return await client.post(
        f"{CONTACTS}/{contact_id}/channels/verify", headers=tenant.headers, json={"channel": channel, "key": key}
    )


async def test_a_new_email_applies_only_once_the_mailed_key_comes_back(
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    database: Database,
    settings: Settings,
    mail: MailCatcher,
) -> None:
    contact = await create_contact(client, tenant.headers)
    changed = await change_email(client, tenant, contact["id"])
    assert changed["appliedPaths"] == ["/address/city"] and changed["hasPendingEmail"] is True
    waiting = (await client.get(f"{CONTACTS}/{contact['id']}", headers=tenant.headers)).json()
    assert waiting["details"]["communication"]["email"] == "anna.muster@example.com"
    assert waiting["hasPendingEmail"] is True and waiting["hasPendingMobile"] is False

    key = await mailed_key(database, settings, tenant, mail)
    [message] = mail.to(NEW_EMAIL)
    assert message["Subject"] == "Ihr Bestätigungsschlüssel"  # Anna's language is German
    assert mail.to("anna.muster@example.com") == []

    wrong = await verify(client, tenant, contact["id"], f"{(int(key) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400 and wrong.json()["subCode"] == "KeyNoMatch"
    assert wrong.json()["correlationId"]

    verified = await verify(client, tenant, contact["id"], key)
    assert verified.status_code == 200, verified.text
    assert verified.json()["details"]["communication"]["email"] == NEW_EMAIL
    assert verified.json()["hasPendingEmail"] is False
    again = await verify(client, tenant, contact["id"], key)
    assert again.status_code == 404 and again.json()["subCode"] == "NoPendingChannel"

    history = await client.post(
        f"{CONTACTS}/{contact['id']}/details/change-history/search",
        headers=tenant.headers,
        json={"paths": ["/communication/email"]},
    )
    sets = history.json()["items"]
    changes = [change for one in sets for change in one["changes"] if change["path"] == "/communication/email"]
    assert [(change["oldValue"], change["newValue"]) for change in changes] == [
        ("anna.muster@example.com", NEW_EMAIL),  # newest first
        (None, "anna.muster@example.com"),
    ]
    verified_events = await events_of(database, tenant, "contact.channel.verified")
    assert verified_events == [("contact.channel.verified", {"contactId": contact["id"], "channel": "Email"})]


async def test_wrong_keys_count_even_though_refused_and_then_expire_the_key(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, settings: Settings, mail: MailCatcher
) -> None:
    contact = await create_contact(client, tenant.headers)
    await change_email(client, tenant, contact["id"])
    key = await mailed_key(database, settings, tenant, mail)
    wrong = f"{(int(key) + 7) % 1_000_000:06d}"
    answers = [(await verify(client, tenant, contact["id"], wrong)).json()["subCode"] for _ in range(5)]
    assert answers == ["KeyNoMatch"] * 4 + ["KeyExpired"]
    assert (await verify(client, tenant, contact["id"], key)).json()["subCode"] == "KeyExpired"


async def test_a_key_past_its_time_is_expired(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, settings: Settings, mail: MailCatcher
) -> None:
    contact = await create_contact(client, tenant.headers)
    await change_email(client, tenant, contact["id"])
    key = await mailed_key(database, settings, tenant, mail)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(
            update(ChannelVerification)
            .where(ChannelVerification.tenant_id == tenant.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await verify(client, tenant, contact["id"], key)
    assert expired.status_code == 400 and expired.json()["subCode"] == "KeyExpired"


@pytest.fixture
async def resend_at_once(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that lets keys be sent again without waiting."""
    clients = settings.clients.model_copy(update={"verification_resend_seconds": 0})
    app = create_app(settings.model_copy(update={"clients": clients}), run_worker_in_process=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
    await app.state.database.dispose()


async def test_resend_waits_a_minute_then_replaces_the_key(
    client: httpx.AsyncClient,
    resend_at_once: httpx.AsyncClient,
    tenant: TenantFixture,
    database: Database,
    settings: Settings,
    mail: MailCatcher,
) -> None:
    contact = await create_contact(client, tenant.headers)
    await change_email(client, tenant, contact["id"])
    first = await mailed_key(database, settings, tenant, mail)
    url = f"{CONTACTS}/{contact['id']}/channels/resend"
    too_soon = await client.post(url, headers=tenant.headers, json={"channel": "Email"})
    assert too_soon.status_code == 429 and too_soon.json()["subCode"] == "ResendTooSoon"
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 60

    resent = await resend_at_once.post(url, headers=tenant.headers, json={"channel": "Email"})
    assert resent.status_code == 204, resent.text
    second = await mailed_key(database, settings, tenant, mail)
    assert len(mail.to(NEW_EMAIL)) == 2
    if second != first:  # one chance in a million that the new key repeats the old one
        assert (await verify(client, tenant, contact["id"], first)).json()["subCode"] == "KeyNoMatch"
    assert (await verify(client, tenant, contact["id"], second)).status_code == 200


async def test_discontinue_drops_the_waiting_value(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, settings: Settings, mail: MailCatcher
) -> None:
    contact = await create_contact(client, tenant.headers)
    await change_email(client, tenant, contact["id"])
    key = await mailed_key(database, settings, tenant, mail)
    url = f"{CONTACTS}/{contact['id']}/channels/discontinue"
    dropped = await client.post(url, headers=tenant.headers, json={"channel": "Email"})
    assert dropped.status_code == 204
    after = (await client.get(f"{CONTACTS}/{contact['id']}", headers=tenant.headers)).json()
    assert after["hasPendingEmail"] is False
    assert after["details"]["communication"]["email"] == "anna.muster@example.com"
    assert (await verify(client, tenant, contact["id"], key)).json()["subCode"] == "NoPendingChannel"
    nothing = await client.post(url, headers=tenant.headers, json={"channel": "Mobile"})
    assert nothing.status_code == 404 and nothing.json()["subCode"] == "NoPendingChannel"


def sms_to(data_dir: Path, number: str) -> list[dict[str, Any]]:
    found = [json.loads(path.read_text()) for path in sorted((data_dir / "outbox" / "sms").glob("*.json"))]
    return [sms for sms in found if sms["to"] == number]


async def test_a_new_mobile_gets_its_key_by_sms(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database, settings: Settings, tmp_path: Path
) -> None:
    contact = await create_contact(client, tenant.headers)
    number = "+41797654321"
    changed = await client.patch(
        f"{CONTACTS}/{contact['id']}/details",
        headers=tenant.headers,
        json={"details": {"communication": {"mobile": number}}},
    )
    assert changed.json()["hasPendingMobile"] is True and changed.json()["appliedPaths"] == []
    await send_queued(database, settings.model_copy(update={"data_dir": tmp_path}), tenant.id)
    [sms] = sms_to(tmp_path, number)
    assert "Schlüssel" in sms["text"]
    verified = await verify(client, tenant, contact["id"], key_in(sms["text"]), channel="Mobile")
    assert verified.status_code == 200, verified.text
    assert verified.json()["details"]["communication"]["mobile"] == number


async def test_removing_an_email_needs_no_key(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    contact = await create_contact(client, tenant.headers)
    removed = await client.patch(
        f"{CONTACTS}/{contact['id']}/details",
        headers=tenant.headers,
        json={"details": {"communication": {"email": None}}},
    )
    assert removed.json()["appliedPaths"] == ["/communication/email"] and removed.json()["hasPendingEmail"] is False


async def test_an_email_needing_approval_is_verified_after_approval(
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    admin: Person,
    advisor: Person,
    database: Database,
    settings: Settings,
    mail: MailCatcher,
) -> None:
    schema = (await client.get("/api/v1/schemas/contact", headers=admin.headers)).json()
    document = schema["jsonSchema"]
    document["properties"]["communication"]["properties"]["email"]["x-field"]["isApprovalRequired"] = True
    saved = await client.put(
        "/api/v1/schemas/contact",
        headers=admin.headers,
        json={"jsonSchema": document, "concurrencyToken": schema["concurrencyToken"]},
    )
    assert saved.status_code == 200, saved.text
    contact = await create_contact(client, advisor.headers)
    asked = await client.patch(
        f"{CONTACTS}/{contact['id']}/details",
        headers=advisor.headers,
        json={"details": {"communication": {"email": NEW_EMAIL}}, "comment": "new address"},
    )
    assert asked.json()["isApprovalRequired"] is True and asked.json()["hasPendingEmail"] is False
    review = f"{CONTACTS}/{contact['id']}/change-requests/{asked.json()['changeRequestId']}/review"
    assert (await client.post(review, headers=admin.headers, json={"isApproved": True})).status_code == 200
    waiting = (await client.get(f"{CONTACTS}/{contact['id']}", headers=admin.headers)).json()
    assert waiting["hasPendingEmail"] is True
    assert waiting["details"]["communication"]["email"] == "anna.muster@example.com"
    key = await mailed_key(database, settings, tenant, mail)
    assert (await verify(client, tenant, contact["id"], key)).status_code == 200
    history = await client.post(
        f"{CONTACTS}/{contact['id']}/details/change-history/search",
        headers=admin.headers,
        json={"paths": ["/communication/email"], "pageSize": 1},
    )
    [latest] = history.json()["items"]
    assert latest["comment"] == "new address" and latest["changeRequestId"] == asked.json()["changeRequestId"]
    assert latest["initiator"]["id"] == str(advisor.id)
