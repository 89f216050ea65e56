"""Real receivers for outbound messages: an SMTP server (aiosmtpd), and a worker that sends."""

from __future__ import annotations

import asyncio
import socket
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from trustroom.db import Database, cross_tenant
from trustroom.jobs.runner import Runner
from trustroom.jobs.service import Task
from trustroom.messaging.models import MessageStatus, OutboundMessage
from trustroom.messaging.tasks import SEND_MESSAGE
from trustroom.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MailCatcher:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        catcher = self

        class Handler:
            async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
                self, server: Any, session: Any, envelope: Any, address: str, options: Any
            ) -> str:
                if address in catcher.refuse:
                    return "550 5.1.1 no such user"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - as above
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                catcher.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def settings(self, settings: Settings) -> Settings:
        """`settings` delivering mail to this server."""
        mail = settings.mail.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none"}
        )
        return settings.model_copy(update={"mail": mail})

    def to(self, address: str) -> list[EmailMessage]:
        return [message for _, recipients, message in self.received if address in recipients]


async def _queued(database: Database, tenant_id: UUID) -> int:
    async with database.session(write=False) as session, cross_tenant(session):
        count = await session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.tenant_id == tenant_id, OutboundMessage.status == MessageStatus.QUEUED)
        )
        return int(count or 0)


async def send_queued(
    database: Database, settings: Settings, tenant_id: UUID, *, task: Task = SEND_MESSAGE, within: float = 15.0
) -> None:
    """Run a worker (with only the send task) until none of the tenant's messages is queued."""
    runner = Runner(database, settings, (task,), concurrency=4)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + within
    try:
        while await _queued(database, tenant_id):
            assert time.monotonic() < deadline, "messages still queued"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
