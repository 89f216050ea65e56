"""End-to-end in a real Chromium: the client opens the access link, signs in with the code
read from a real SMTP server, uploads (file chooser and drag-and-drop) and shares; a real
webhook receiver gets the signed events (judged by `standardwebhooks`); the advisor signs
in to the advisor portal and downloads the same bytes.

The server is a real `trustroom serve` process with its worker, on a database and data
directory of this module's own, so its worker runs no other test's jobs.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, expect
from standardwebhooks import Webhook

from ..auth.test_portal_browser import NewMember, _sign_in_with_password, _submit_code, browser, playwright
from ..outbound import MailCatcher
from ..receivers import Receiver
from .serving import served

__all__ = ["browser", "playwright"]  # fixtures shared with the sign-in tests
expect.set_options(timeout=30_000)  # uploads and the worker's deliveries take their time on 2 busy cores
PASSWORD = "a client password of some length"


@dataclass
class Room:
    base_url: str
    api_key: str
    advisor: NewMember
    exchange: dict[str, Any]
    folder_id: str
    link: str
    mail: MailCatcher
    receiver: Receiver
    secret: str


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    mail = MailCatcher()
    mail.controller.start()
    receiver = Receiver([])
    env = {
        "TRUSTROOM_MAIL__SMTP_HOST": "127.0.0.1",
        "TRUSTROOM_MAIL__SMTP_PORT": str(mail.port),
        "TRUSTROOM_MAIL__SMTP_SECURITY": "none",
        "TRUSTROOM_WEBHOOKS__ALLOW_HTTP": "true",
        "TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    }
    with ExitStack() as stack:
        stack.callback(mail.controller.stop)
        stack.callback(receiver.close)
        server = stack.enter_context(
            served(
                tmp_path_factory.mktemp("exchange-browser"),
                env=env,
                client_codes="email",
                members=["advisor@room-bank.example"],
            )
        )
        api = stack.enter_context(server.api())
        endpoint = api.post(
            "/webhook-endpoints",
            json={"url": receiver.url, "eventTypes": ["exchange.document.uploaded", "exchange.document.shared"]},
        ).json()
        tag = uuid.uuid4().hex[:8]
        client = {"firstName": "Eva", "lastName": "Weber", "email": "eva@mail.example", "mobileNumber": "+41791112233"}
        exchange = api.post(
            "/exchanges",
            json={
                "username": f"eva-{tag}",
                "externalUserId": f"crm-{tag}",
                "languageCode": "EN",
                "password": PASSWORD,
                "client": client,
                "externalExchangeId": f"room-{tag}",
                "name": "Mandate Weber",
                "advisor": {"firstName": "Beat", "lastName": "Berater", "email": "beat@room-bank.example"},
                # The advisor sees the room as its owner (a member sees only rooms of their clients or their own).
                "ownerMemberId": server.created["advisor@room-bank.example"]["id"],
            },
        ).json()
        folder = api.post(f"/exchanges/{exchange['id']}/folders", json={"name": "Tax 2026"}).json()
        link = api.post(f"/exchanges/{exchange['id']}/link").json()["url"]
        member = server.created["advisor@room-bank.example"]
        advisor = NewMember(member["email"], member["password"], pyotp.TOTP(member["totpSecret"]), server.tenant_id)
        yield Room(
            server.base_url, server.api_key, advisor, exchange, folder["id"], link, mail, receiver, endpoint["secret"]
        )


@pytest.fixture
def context(browser: Browser, room: Room) -> Iterator[BrowserContext]:
    browser_context = browser.new_context(base_url=room.base_url, locale="en-US", accept_downloads=True)
    browser_context.set_default_timeout(30_000)
    browser_context.route(re.compile(r"^(?!" + re.escape(room.base_url) + r"/|data:)"), lambda route: route.abort())
    yield browser_context
    browser_context.close()


def _code_from_mail(mail: MailCatcher, address: str, seen: int) -> str:
    deadline = time.monotonic() + 15
    while len(mail.to(address)) <= seen:
        assert time.monotonic() < deadline, "no sign-in code arrived by email"
        time.sleep(0.1)
    text = mail.to(address)[-1].get_content()
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def _events(receiver: Receiver, secret: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while len(receiver.received) < count:
        assert time.monotonic() < deadline, f"only {len(receiver.received)} webhook deliveries arrived"
        time.sleep(0.1)
    # The judge: the Standard Webhooks reference library checks every signature.
    return [Webhook(secret).verify(body, headers) for headers, body in receiver.received]


def test_client_uploads_and_shares_advisor_downloads(
    context: BrowserContext, browser: Browser, room: Room, tmp_path: Path
) -> None:
    page = context.new_page()
    page.goto(room.link.removeprefix(room.base_url))
    expect(page.get_by_text("You are invited to the secure exchange Mandate Weber.")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/x/t/[0-9a-f-]+/login\?language=en$"))
    seen = len(room.mail.to("eva@mail.example"))
    page.get_by_label("Username").fill(room.exchange["username"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in code")
    page.get_by_label("Code").fill(_code_from_mail(room.mail, "eva@mail.example", seen))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mandate Weber")
    expect(page.get_by_text("beat@room-bank.example")).to_be_visible()

    content = os.urandom(300_000) + b"client statement"
    upload = tmp_path / "Statement 2026.pdf"
    upload.write_bytes(b"%PDF-1.7\n" + content)
    ready = page.locator("#dropzone[data-ready=true]")  # the page's script has attached its handlers
    ready.wait_for()
    page.locator("#file-input").set_input_files(str(upload))
    expect(page.get_by_role("link", name="Statement 2026.pdf")).to_be_visible()
    ready.wait_for()  # after the reload too
    dropped = page.evaluate_handle(
        "() => { const dt = new DataTransfer();"
        " dt.items.add(new File(['dropped by hand'], 'notes.txt', {type: 'text/plain'})); return dt; }"
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    expect(page.get_by_role("link", name="notes.txt")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Statement 2026.pdf")
    expect(row.get_by_text("Not shared yet")).to_be_visible()
    row.get_by_role("button", name="Share").click()
    expect(
        page.get_by_role("row").filter(has_text="Statement 2026.pdf").get_by_text("Shared", exact=True)
    ).to_be_visible()

    events = _events(room.receiver, room.secret, 3)
    by_type = [(e["type"], e["data"]["name"]) for e in events]
    assert sorted(by_type) == sorted(
        [
            ("exchange.document.uploaded", "Statement 2026.pdf"),
            ("exchange.document.uploaded", "notes.txt"),
            ("exchange.document.shared", "Statement 2026.pdf"),
        ]
    )
    shared = next(e["data"] for e in events if e["type"] == "exchange.document.shared")
    assert shared["side"] == "client" and shared["byteSize"] == len(content) + 9
    assert shared["by"].startswith("client:")

    advisor_context = browser.new_context(base_url=room.base_url, locale="en-US", accept_downloads=True)
    try:
        advisor = advisor_context.new_page()
        _sign_in_with_password(advisor, room.advisor)
        _submit_code(advisor, room.advisor.totp.now())
        advisor.goto(f"/portal/exchanges/{room.exchange['id']}")
        expect(advisor.get_by_role("link", name="notes.txt")).to_have_count(0)  # not shared
        with advisor.expect_download() as download_info:
            advisor.get_by_role("link", name="Statement 2026.pdf").click()
        download = download_info.value
        assert download.suggested_filename == "Statement 2026.pdf"
        assert Path(download.path()).read_bytes() == b"%PDF-1.7\n" + content
    finally:
        advisor_context.close()
