"""Outbound email and SMS: sent only after commit, over SMTP, a gateway or the local outbox."""

from __future__ import annotations

import dataclasses
import json
import stat
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.messaging import service as messaging
from trustroom.messaging import tasks
from trustroom.messaging.models import Channel, MessageStatus, OutboundMessage
from trustroom.settings import Settings
from trustroom.settings_problems import SettingsInvalid

from ..factories import TenantFixture
from ..outbound import MailCatcher, send_queued
from ..receivers import Receiver

MARKER = "NEVER-IN-CLEAR-4711"


async def queue(
    database: Database, keys: ServerKeys, tenant: TenantFixture, channel: Channel, to: str, *, commit: bool = True
) -> OutboundMessage:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        content = messaging.Content(to, "Your key", f"The key is {MARKER}.")
        message = await messaging.queue(
            session, keys, tenant_id=tenant.id, channel=channel, content=content, purpose="test"
        )
        await (session.commit() if commit else session.rollback())
    return message


async def stored(database: Database, tenant: TenantFixture, message_id: Any) -> OutboundMessage | None:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        found: OutboundMessage | None = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.id == message_id)
        )
        return found


async def test_an_email_goes_out_over_smtp_once_committed_and_its_content_is_then_erased(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture, mail: MailCatcher
) -> None:
    rolled_back = await queue(database, keys, tenant, Channel.EMAIL, "nobody@example.com", commit=False)
    assert await stored(database, tenant, rolled_back.id) is None
    message = await queue(database, keys, tenant, Channel.EMAIL, "anna.muster@example.com")
    row = await stored(database, tenant, message.id)
    assert row is not None and row.sealed_content is not None and MARKER not in row.sealed_content
    assert row.recipient_hint == "an***@example.com"

    await send_queued(database, mail.settings(settings), tenant.id)

    [received] = mail.to("anna.muster@example.com")
    assert received["Subject"] == "Your key" and received["From"] == settings.mail.sender
    assert MARKER in received.get_content()
    assert mail.to("nobody@example.com") == []
    row = await stored(database, tenant, message.id)
    assert row is not None and row.status == MessageStatus.SENT and row.sent_at is not None
    assert row.sealed_content is None and row.attempts == 1


def partial_files(data_dir: Path) -> list[Path]:
    return list(data_dir.glob("outbox/*/.*.partial"))


async def test_without_smtp_mail_and_sms_land_in_the_local_outbox(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"data_dir": tmp_path})
    email = await queue(database, keys, tenant, Channel.EMAIL, "bruno@example.com")
    sms = await queue(database, keys, tenant, Channel.SMS, "+41791234567")
    await send_queued(database, local, tenant.id)

    eml = tmp_path / "outbox" / "mail" / f"{email.id}.eml"
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["To"] == "bruno@example.com" and parsed["Message-ID"].endswith("@localhost>")
    text = json.loads((tmp_path / "outbox" / "sms" / f"{sms.id}.json").read_text())
    assert text["to"] == "+41791234567" and MARKER in text["text"] and text["sender"] == "Trustroom"
    assert partial_files(tmp_path) == []


async def test_a_refused_recipient_fails_for_good(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture, mail: MailCatcher
) -> None:
    mail.refuse.add("gone@example.com")
    message = await queue(database, keys, tenant, Channel.EMAIL, "gone@example.com")
    await send_queued(database, mail.settings(settings), tenant.id)
    row = await stored(database, tenant, message.id)
    assert row is not None and row.status == MessageStatus.FAILED and row.sealed_content is None
    assert "refused" in (row.last_error or "")


def with_gateway(settings: Settings, receiver: Receiver) -> Settings:
    sms = settings.sms.model_copy(update={"gateway_url": receiver.url, "gateway_token": SecretStr("gw-token")})
    return settings.model_copy(update={"sms": sms})


async def test_sms_go_to_the_gateway_and_a_busy_gateway_is_tried_again(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    quick = dataclasses.replace(tasks.SEND_MESSAGE, retry_delays=(0.05,))
    receiver = Receiver([(503, 0.0), (200, 0.0)])
    try:
        message = await queue(database, keys, tenant, Channel.SMS, "+41791234567")
        await send_queued(database, with_gateway(settings, receiver), tenant.id, task=quick)
    finally:
        receiver.close()
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert headers["authorization"] == "Bearer gw-token"
    sent = json.loads(body)
    assert sent["to"] == "+41791234567" and MARKER in sent["text"] and sent["reference"] == str(message.id)
    row = await stored(database, tenant, message.id)
    assert row is not None and row.status == MessageStatus.SENT and row.attempts == 2


async def test_a_gateway_that_refuses_the_number_fails_it_for_good(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    receiver = Receiver([(400, 0.0)])
    try:
        message = await queue(database, keys, tenant, Channel.SMS, "+41791234568")
        await send_queued(database, with_gateway(settings, receiver), tenant.id)
    finally:
        receiver.close()
    row = await stored(database, tenant, message.id)
    assert row is not None and row.status == MessageStatus.FAILED and "HTTP 400" in (row.last_error or "")


@pytest.mark.parametrize(
    ("group", "values"),
    [
        ("mail", {"sender": "Trustroom without address"}),
        ("sms", {"gateway_url": "ftp://gateway.example.com/send"}),
        ("sms", {"sender": "A sender name far too long"}),
    ],
)
def test_broken_mail_and_sms_settings_are_refused_at_start(group: str, values: dict[str, Any]) -> None:
    with pytest.raises(SettingsInvalid, match=f"^TRUSTROOM_{group.upper()}__{next(iter(values)).upper()}: "):
        Settings(**{group: values})


def test_recipients_are_masked() -> None:
    assert messaging.mask("anna.muster@example.com") == "an***@example.com"
    assert messaging.mask("+41791234567") == "+41*******67"
