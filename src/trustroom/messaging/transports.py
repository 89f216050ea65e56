"""Getting a message out: SMTP, an HTTP SMS gateway, or the local outbox.

The local outbox is a directory of files, one per message (`mail/<id>.eml`,
`sms/<id>.json`), written atomically and readable only by the server's user. It is the
default in embedded mode and what the tests read; an operator can point a mail client at
the `.eml` files.
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from uuid import UUID

import httpx

from ..settings import MailSettings, Settings, SmsSettings
from .models import Channel
from .service import Content

OUTBOX_DIR = "outbox"


class PermanentFailure(Exception):
    """The server refused the message for good (a bad address, say); retrying cannot help."""


def outbox_dir(settings: Settings, channel: Channel) -> Path:
    return settings.data_dir / OUTBOX_DIR / ("mail" if channel == Channel.EMAIL else "sms")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def email_message(mail: MailSettings, message_id: UUID, content: Content) -> EmailMessage:
    email = EmailMessage()
    email["From"] = mail.sender
    email["To"] = content.to
    email["Subject"] = content.subject
    email["Date"] = formatdate(localtime=False)
    domain = parseaddr(mail.sender)[1].rpartition("@")[2]
    email["Message-ID"] = make_msgid(idstring=message_id.hex, domain=domain)
    email.set_content(content.text)
    return email


def _smtp_send(mail: MailSettings, email: EmailMessage) -> None:
    assert mail.smtp_host is not None
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if mail.smtp_security == "tls":
        client = smtplib.SMTP_SSL(mail.smtp_host, mail.smtp_port, timeout=mail.timeout_seconds, context=context)
    else:
        client = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.timeout_seconds)
    with client:
        if mail.smtp_security == "starttls":
            client.starttls(context=context)
        if mail.smtp_username:
            password = mail.smtp_password.get_secret_value() if mail.smtp_password else ""
            client.login(mail.smtp_username, password)
        try:
            client.send_message(email)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise PermanentFailure(f"refused by the SMTP server: {type(exc).__name__}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"refused by the SMTP server: {exc.smtp_code}") from exc
            raise


async def _send_email(settings: Settings, message_id: UUID, content: Content) -> str:
    email = email_message(settings.mail, message_id, content)
    if settings.mail.smtp_host is None:
        path = outbox_dir(settings, Channel.EMAIL) / f"{message_id}.eml"
        await asyncio.to_thread(_write_atomically, path, bytes(email))
        return "outbox"
    await asyncio.to_thread(_smtp_send, settings.mail, email)
    return "smtp"


async def _gateway_send(sms: SmsSettings, message_id: UUID, content: Content) -> None:
    assert sms.gateway_url is not None
    headers = {"Authorization": f"Bearer {sms.gateway_token.get_secret_value()}"} if sms.gateway_token else {}
    body = {"to": content.to, "text": content.text, "sender": sms.sender, "reference": str(message_id)}
    async with httpx.AsyncClient(timeout=sms.timeout_seconds, follow_redirects=False) as client:
        response = await client.post(sms.gateway_url, json=body, headers=headers)
    if response.is_success:
        return
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentFailure(f"refused by the SMS gateway: HTTP {response.status_code}")
    response.raise_for_status()  # any other answer is worth a retry


async def _send_sms(settings: Settings, message_id: UUID, content: Content) -> str:
    if settings.sms.gateway_url is None:
        record = {"id": str(message_id), "to": content.to, "sender": settings.sms.sender, "text": content.text}
        data = json.dumps(record, ensure_ascii=False, indent=2).encode()
        await asyncio.to_thread(_write_atomically, outbox_dir(settings, Channel.SMS) / f"{message_id}.json", data)
        return "outbox"
    await _gateway_send(settings.sms, message_id, content)
    return "gateway"


async def send(settings: Settings, channel: Channel, message_id: UUID, content: Content) -> str:
    """Send one message; answers where it went (`smtp`, `gateway` or `outbox`).

    Raises PermanentFailure when it was refused for good; any other error is worth a retry.
    """
    if channel == Channel.EMAIL:
        return await _send_email(settings, message_id, content)
    return await _send_sms(settings, message_id, content)
