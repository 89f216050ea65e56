"""The signer's one-time codes (issue #14, item 4): sent by email or SMS in the invitee's
language, kept hashed, valid five minutes, five tries then a lockout, resends limited, used
once; `authenticated` needs every method passed recently. Driven through the service, as
the signer's pages and API will; the messages are read from the outbox the send job wrote."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from trustroom.actor import Actor, ActorKind
from trustroom.audit.models import AuditEvent
from trustroom.auth.models import Role
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.keys import ServerKeys
from trustroom.messaging.models import OutboundMessage
from trustroom.settings import Settings
from trustroom.signing.errors import (
    AuthenticationMethodNotUsed,
    CodeExpired,
    CodeNoMatch,
    CodeNotSent,
    CodeResendTooSoon,
    SignerLocked,
)
from trustroom.signing.models import Dossier, Invitee, SignerCode
from trustroom.signing.service import codes

from ..clients.conftest import Person
from ..clients.conftest import person as member
from ..factories import TenantFixture
from ..outbound import send_queued
from .test_dossiers import create_dossier, signer

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chromium/156"


def signer_actor(invitee: Invitee) -> Actor:
    return Actor(invitee.tenant_id, ActorKind.SIGNER, invitee.id, ip="192.0.2.7")


async def make_invitee(client: httpx.AsyncClient, advisor: Person, **extra: Any) -> UUID:
    body = signer(authenticationMethods=["otp_email", "otp_sms"], locale="fr-CH", **extra)
    created = await create_dossier(client, advisor.headers, method="aes", invitees=[body])
    return UUID(created["invitees"][0]["id"])


class Signer:
    """One invitee's side of the codes, each call in a transaction of its own (as requests)."""

    def __init__(
        self, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture, invitee_id: UUID
    ):
        self.database, self.keys, self.settings, self.tenant, self.invitee_id = (
            database,
            keys,
            settings,
            tenant,
            invitee_id,
        )

    async def _run(self, work: Any) -> Any:
        async with self.database.session() as session:
            await bind_tenant(session, self.tenant.id)
            invitee = await session.get(Invitee, self.invitee_id)
            assert invitee is not None
            dossier = await session.get(Dossier, invitee.dossier_id)
            try:
                result = await work(session, signer_actor(invitee), dossier, invitee)
            except Exception as error:
                # What the request would do: keep the writes of errors that say so.
                await (session.commit() if getattr(error, "keeps_writes", False) else session.rollback())
                raise
            await session.commit()
            return result

    async def send(self, method: str) -> codes.CodeSent:
        return await self._run(
            lambda session, actor, dossier, invitee: codes.send(
                session, actor, self.keys, self.settings.signing, dossier, invitee, method, user_agent=BROWSER
            )
        )

    async def verify(self, method: str, code: str) -> SignerCode:
        return await self._run(
            lambda session, actor, _dossier, invitee: codes.verify(
                session, actor, self.keys, self.settings.signing, invitee, method, code, user_agent=BROWSER
            )
        )

    async def authenticated(self) -> bool:
        return await self._run(
            lambda session, actor, _dossier, invitee: codes.authenticated(
                session, actor, self.settings.signing, invitee
            )
        )

    async def last_message(self) -> dict[str, str]:
        """The newest code message to this invitee, as delivered to the outbox."""
        await send_queued(self.database, self.settings, self.tenant.id)
        async with self.database.session(write=False) as session:
            await bind_tenant(session, self.tenant.id)
            message = await session.scalar(
                select(OutboundMessage)
                .where(OutboundMessage.about_id == self.invitee_id, OutboundMessage.purpose == codes.MESSAGE_PURPOSE)
                .order_by(OutboundMessage.id.desc())
                .limit(1)
            )
        assert message is not None
        outbox = self.settings.data_dir / "outbox"
        if message.channel == "email":
            mail = message_from_bytes((outbox / "mail" / f"{message.id}.eml").read_bytes(), policy=policy.default)
            body = mail.get_body(("plain",))
            assert body is not None
            return {"to": str(mail["To"]), "subject": str(mail["Subject"]), "text": body.get_content()}
        sms: dict[str, str] = json.loads((outbox / "sms" / f"{message.id}.json").read_text())
        return sms

    async def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", (await self.last_message())["text"])
        assert found
        return found.group(1)

    async def age(self, method: str, seconds: int) -> None:
        """Move the code's clock: it was sent (and verified) `seconds` earlier."""
        earlier = timedelta(seconds=seconds)
        async with self.database.session() as session:
            await bind_tenant(session, self.tenant.id)
            row = await session.scalar(
                select(SignerCode).where(SignerCode.invitee_id == self.invitee_id, SignerCode.method == method)
            )
            assert row is not None
            for column in ("sent_at", "expires_at", "verified_at", "locked_until"):
                if (moment := getattr(row, column)) is not None:
                    setattr(row, column, moment - earlier)
            await session.commit()


@pytest.fixture
async def owner(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await member(database, keys, tenant, Role.ADVISOR)


@pytest.fixture
async def person(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    owner: Person,
) -> Signer:
    return Signer(database, keys, settings, tenant, await make_invitee(client, owner))


async def test_each_method_is_passed_with_the_code_sent_in_the_invitees_language(person: Signer) -> None:
    assert not await person.authenticated()
    sent = await person.send("otp_email")
    assert sent.destination_hint == "an***@mail.example"
    mail = await person.last_message()
    assert mail["to"] == "anna.muster@mail.example"
    assert "Mandate agreement" in mail["subject"] and mail["subject"].startswith("Votre code")
    await person.verify("otp_email", await person.last_code())
    assert not await person.authenticated(), "the SMS code is still to pass"

    await person.send("otp_sms")
    sms = await person.last_message()
    assert sms["to"] == "+41791234567"
    assert "Mandate agreement" in sms["text"]
    await person.verify("otp_sms", " ".join(await person.last_code()))  # spaces typed in are fine
    assert await person.authenticated()


async def test_codes_are_kept_hashed_used_once_and_audited_without_the_code(
    person: Signer, database: Database, tenant: TenantFixture
) -> None:
    await person.send("otp_email")
    code = await person.last_code()
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        row = await session.scalar(select(SignerCode).where(SignerCode.invitee_id == person.invitee_id))
        assert row is not None and row.code_hash is not None
        assert code not in row.code_hash and len(row.code_hash) == 64
    await person.verify("otp_email", code)
    with pytest.raises(CodeNotSent):
        await person.verify("otp_email", code)

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.target_id == str(person.invitee_id)).order_by(AuditEvent.seq)
            )
        ).all()
    assert [event.action for event in events] == ["signing.invitee.code_sent", "signing.invitee.authenticated"]
    for event in events:
        assert event.ip == "192.0.2.7"
        assert event.data["userAgent"] == BROWSER and event.data["destination"] == "an***@mail.example"
        assert code not in json.dumps(event.data)


async def test_five_wrong_codes_kill_the_code_and_lock_the_method(
    person: Signer, database: Database, tenant: TenantFixture
) -> None:
    await person.send("otp_email")
    right = await person.last_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeNoMatch) as refused:
            await person.verify("otp_email", wrong)
        assert refused.value.params["attempts_left"] == left
    with pytest.raises(SignerLocked) as locked:
        await person.verify("otp_email", wrong)
    assert locked.value.headers["Retry-After"] == "900"
    with pytest.raises(SignerLocked):
        await person.verify("otp_email", right)  # even the right code, while locked
    with pytest.raises(SignerLocked):
        await person.send("otp_email")

    await person.age("otp_email", 901)
    with pytest.raises(CodeNotSent):
        await person.verify("otp_email", right)  # the locked code died
    await person.send("otp_email")
    await person.verify("otp_email", await person.last_code())

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        actions = (
            await session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(person.invitee_id)))
        ).all()
    assert actions.count("signing.invitee.code_failed") == 5
    assert actions.count("signing.invitee.locked") == 1


async def test_a_code_expires_after_five_minutes_and_a_new_one_replaces_the_last(person: Signer) -> None:
    await person.send("otp_sms")
    first = await person.last_code()
    await person.age("otp_sms", 301)
    with pytest.raises(CodeExpired):
        await person.verify("otp_sms", first)

    await person.send("otp_sms")
    second = await person.last_code()
    await person.age("otp_sms", 61)
    await person.send("otp_sms")
    third = await person.last_code()
    if second != third:  # one in a million they are equal
        with pytest.raises(CodeNoMatch):
            await person.verify("otp_sms", second)
    await person.verify("otp_sms", third)


async def test_resends_wait_a_minute_and_stop_after_ten_a_day(person: Signer) -> None:
    await person.send("otp_email")
    with pytest.raises(CodeResendTooSoon) as early:
        await person.send("otp_email")
    assert 1 <= int(early.value.headers["Retry-After"]) <= 60
    for _ in range(9):
        await person.age("otp_email", 61)
        await person.send("otp_email")
    await person.age("otp_email", 61)
    with pytest.raises(CodeResendTooSoon):
        await person.send("otp_email")


async def test_a_passed_method_counts_for_half_an_hour(person: Signer) -> None:
    for method in ("otp_email", "otp_sms"):
        await person.send(method)
        await person.verify(method, await person.last_code())
    assert await person.authenticated()
    await person.age("otp_sms", 1801)
    assert not await person.authenticated()


async def test_only_the_invitees_own_methods_are_used(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    owner: Person,
) -> None:
    body = signer(authenticationMethods=["otp_email"])
    created = await create_dossier(client, owner.headers, method="aes", invitees=[body])
    only_email = Signer(database, keys, settings, tenant, UUID(created["invitees"][0]["id"]))
    with pytest.raises(AuthenticationMethodNotUsed):
        await only_email.send("otp_sms")
    with pytest.raises(AuthenticationMethodNotUsed):
        await only_email.verify("otp_sms", "123456")
    assert not await only_email.authenticated()
    await only_email.send("otp_email")
    await only_email.verify("otp_email", await only_email.last_code())
    assert await only_email.authenticated()


async def test_the_lock_does_not_outlast_its_time(person: Signer, database: Database, tenant: TenantFixture) -> None:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        row = SignerCode(
            tenant_id=tenant.id,
            invitee_id=person.invitee_id,
            method="otp_email",
            destination_hint="an***@mail.example",
            locked_until=utcnow() - timedelta(seconds=1),
        )
        session.add(row)
        await session.commit()
    await person.send("otp_email")
    await person.verify("otp_email", await person.last_code())
