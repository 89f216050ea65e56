"""A dossier signed end to end against a real `trustroom serve` process (issue #14, "Tests
that must exist"): Anna opens the link from the invitation caught by a real SMTP server in
Debian's Chromium, enters the emailed code, draws her signature and signs; after her, Beat
signs through the JSON API with the code a real HTTP SMS gateway received; a real webhook
receiver gets the dossier's events, each signature judged by the `standardwebhooks`
library; the advisor downloads the ZIP and every PDF in it is judged by pyHanko (AdES-LTA,
trusting only the root the server publishes), pdfsig and qpdf.

One test on purpose: every step needs the state the one before left, and a served server
with its worker, a browser and three receivers are the expensive part. It takes about a
minute on two busy cores: the server's start-up (~30 s), two signatures applied by its
worker, the finalisation to B-LTA and the judges; every wait is on a condition, none fixed.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from standardwebhooks import Webhook

from ..auth.test_portal_browser import NewMember, _sign_in_with_password, _submit_code, browser, playwright
from ..exchange.serving import Served, served
from ..outbound import MailCatcher
from ..receivers import Receiver
from .judging import judge_signed_pdf
from .support import make_pdf

__all__ = ["browser", "playwright"]  # fixtures shared with the sign-in tests
expect.set_options(timeout=30_000)
# A signature is applied by the worker (a fresh certificate, a timestamp, B-T), the dossier
# finalised to B-LTA after the last one: on two loaded cores that has taken tens of seconds.
WORK = 180.0
LINK = re.compile(r"https?://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]{64})")
CODE = re.compile(r"\b(\d{6})\b")
ANNA = {"name": "Anna Keller", "email": "anna.keller@mail.example"}
BEAT = {"name": "Beat Brändli", "email": "beat.braendli@mail.example", "phoneNumber": "+41791234567"}
T = TypeVar("T")


@dataclass
class World:
    server: Served
    api: httpx.Client
    advisor: NewMember
    advisor_id: str
    mail: MailCatcher
    sms: Receiver
    hooks: Receiver
    secret: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mail = MailCatcher()
    mail.controller.start()
    sms, hooks = Receiver([]), Receiver([])
    env = {
        "TRUSTROOM_MAIL__SMTP_HOST": "127.0.0.1",
        "TRUSTROOM_MAIL__SMTP_PORT": str(mail.port),
        "TRUSTROOM_MAIL__SMTP_SECURITY": "none",
        "TRUSTROOM_SMS__GATEWAY_URL": sms.url,
        "TRUSTROOM_WEBHOOKS__ALLOW_HTTP": "true",
        "TRUSTROOM_WEBHOOKS__ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    }
    with ExitStack() as stack:
        stack.callback(mail.controller.stop)
        stack.callback(sms.close)
        stack.callback(hooks.close)
        server = stack.enter_context(
            served(tmp_path_factory.mktemp("signing-e2e"), env=env, members=["advisor@sign-bank.example"])
        )
        api = stack.enter_context(server.api())
        endpoint = api.post("/webhook-endpoints", json={"url": hooks.url})  # every event type
        assert endpoint.status_code == 201, endpoint.text
        member = server.created["advisor@sign-bank.example"]
        advisor = NewMember(member["email"], member["password"], pyotp.TOTP(member["totpSecret"]), server.tenant_id)
        yield World(server, api, advisor, member["id"], mail, sms, hooks, endpoint.json()["secret"])


@pytest.fixture
def context(browser: Browser, world: World) -> Iterator[BrowserContext]:
    base_url = world.server.base_url
    browser_context = browser.new_context(base_url=base_url, locale="en-GB", viewport={"width": 1200, "height": 900})
    browser_context.set_default_timeout(30_000)
    browser_context.route(re.compile(r"^(?!" + re.escape(base_url) + r"/|data:)"), lambda route: route.abort())
    yield browser_context
    browser_context.close()


def _until(what: str, check: Callable[[], T | None], within: float = WORK) -> T:
    """`check()` once it answers something, polled; never a fixed sleep."""
    deadline = time.monotonic() + within
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"waited {within:.0f} s for {what}"
        time.sleep(0.2)
    return found


def _mail_to(mail: MailCatcher, address: str, seen: int) -> str:
    """The text of the next mail to `address` after the `seen` it had."""
    arrived = _until(f"mail {seen + 1} to {address}", lambda: mail.to(address)[seen:] or None, within=60)
    text: str = arrived[0].get_content()
    return text


def _sms_code(sms: Receiver, number: str) -> str:
    def code() -> str | None:
        for _, body in sms.received:
            message = json.loads(body)
            if message["to"] == number and (found := CODE.search(message["text"])):
                return found.group(1)
        return None

    return _until(f"a code by SMS to {number}", code, within=60)


def _send(world: World, dossier: dict[str, Any]) -> tuple[str, str]:
    """One two-page PDF with a signature field each, Anna invited by email, Beat (after her)
    by link: the document's id and Beat's invite token."""
    anna, beat = dossier["invitees"]
    documents = f"/dossiers/{dossier['id']}/documents"
    uploaded = world.api.post(documents, files={"file": ("Mandate.pdf", make_pdf(2), "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["id"]
    box = {"type": "signature", "page": 2, "y": 80, "width": 180, "height": 60}
    fields = [{"inviteeId": anna["id"], "x": 60, **box}, {"inviteeId": beat["id"], "x": 300, **box}]
    placed = world.api.put(f"{documents}/{document_id}/fields", json={"fields": fields})
    assert placed.status_code == 200, placed.text
    invites = world.api.post(
        f"/dossiers/{dossier['id']}/invites",
        json=[{"inviteeId": anna["id"], "channel": "email"}, {"inviteeId": beat["id"], "channel": "link"}],
    )
    assert invites.status_code == 201, invites.text
    beat_invite = next(made for made in invites.json() if made["inviteeId"] == beat["id"])
    found = LINK.search(beat_invite["inviteUri"])
    assert found, beat_invite
    return document_id, found.group(1)


def _sign_in_chromium(page: Page, world: World) -> None:
    """Anna: the link from her invitation, Start, the emailed code, a drawn signature, Sign."""
    invitation = _mail_to(world.mail, ANNA["email"], 0)
    link = LINK.search(invitation)
    assert link, invitation
    page.goto(link.group(0).removeprefix(world.server.base_url))
    expect(
        page.get_by_text("Hello Anna Keller, you are invited to sign these documents electronically.")
    ).to_be_visible()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your identity")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_role("status")).to_contain_text("code")
    code = CODE.search(_mail_to(world.mail, ANNA["email"], 1))
    assert code, "no code in the mail"
    page.get_by_label("Code", exact=True).fill(code.group(1))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Mandate Keller")
    expect(page.get_by_role("img", name="Page 2")).to_be_visible()
    pad = page.locator("#signature-pad[data-ready=true]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(left + 0.1 * width, top + 0.7 * height)
    page.mouse.down()
    for step in range(1, 9):  # a zigzag of a signature, drawn stroke by stroke
        page.mouse.move(left + (0.1 + 0.1 * step) * width, top + (0.3 if step % 2 else 0.7) * height, steps=4)
    page.mouse.up()
    page.locator(".consent").get_by_role("checkbox").check()
    page.get_by_role("button", name="Sign", exact=True).click()
    # The "being signed" page polls and moves on by itself once the worker applied it.
    expect(page.get_by_role("status")).to_have_text(
        "Thank you: you have signed. You can close this page.", timeout=WORK * 1000
    )


def _sign_through_the_api(world: World, token: str) -> None:
    """Beat, after Anna: the JSON API with his invite token and the SMS code."""
    signer = httpx.Client(
        base_url=f"{world.server.base_url}/api/v1/signer",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    with signer:

        def opened() -> dict[str, Any] | None:
            answer = signer.get("/dossier")
            if answer.status_code == 409 and answer.json()["subCode"] == "InviteNotOpenYet":
                return None
            assert answer.status_code == 200, answer.text
            read: dict[str, Any] = answer.json()
            return read

        dossier = _until("Beat's turn", opened)
        assert dossier["invitee"]["name"] == BEAT["name"] and not dossier["authenticated"]
        assert signer.post("/viewed").status_code == 200
        sent = signer.post("/codes", json={"method": "otp_sms"})
        assert sent.status_code == 200, sent.text
        verified = signer.post(
            "/codes/verify", json={"method": "otp_sms", "code": _sms_code(world.sms, BEAT["phoneNumber"])}
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["authenticated"] is True
        signed = signer.post("/sign", json={"typedName": BEAT["name"], "consent": True})
        assert signed.status_code == 202, signed.text

        def completed() -> dict[str, Any] | None:
            status: dict[str, Any] = signer.get("/status").json()
            return status if status["dossierState"] == "completed" else None

        assert _until("the dossier completed", completed)["inviteeState"] == "signed"


def _advisor_downloads(browser: Browser | None, world: World, dossier_id: str, tmp_path: Path) -> bytes:
    """The advisor signs in to the portal and downloads the dossier's ZIP from its page."""
    assert browser is not None
    advisor_context = browser.new_context(base_url=world.server.base_url, locale="en-GB", accept_downloads=True)
    try:
        advisor_context.set_default_timeout(30_000)
        page = advisor_context.new_page()
        _sign_in_with_password(page, world.advisor)
        _submit_code(page, world.advisor.totp.now())
        page.goto(f"/portal/dossiers/{dossier_id}")
        expect(page.locator("h1 .state")).to_have_text("Completed")
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download the signed documents (ZIP)").click()
        download = download_info.value
        assert download.suggested_filename == "Mandate Keller.zip"
        saved = tmp_path / "portal.zip"
        download.save_as(saved)
        return saved.read_bytes()
    finally:
        advisor_context.close()


def _events(world: World, dossier_id: str) -> list[dict[str, Any]]:
    """The deliveries so far, each verified by the Standard Webhooks library, once per message."""
    verified: dict[str, dict[str, Any]] = {}
    for headers, body in list(world.hooks.received):
        verified[headers["webhook-id"]] = Webhook(world.secret).verify(body, headers)
    return [event for event in verified.values() if event["data"].get("dossierId") == dossier_id]


def test_a_dossier_signed_in_chromium_and_through_the_api(
    context: BrowserContext, world: World, tmp_path: Path
) -> None:
    created = world.api.post(
        "/dossiers",
        json={
            "name": "Mandate Keller",
            "method": "aes",
            "locale": "en-GB",
            "ownerMemberId": world.advisor_id,
            "invitees": [
                {**ANNA, "position": 1, "authenticationMethods": ["otp_email"], "locale": "en-GB"},
                {**BEAT, "position": 2, "authenticationMethods": ["otp_sms"], "locale": "en-GB"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    dossier = created.json()
    anna_id, beat_id = (person["id"] for person in dossier["invitees"])
    document_id, beat_token = _send(world, dossier)
    early = httpx.get(
        f"{world.server.base_url}/api/v1/signer/dossier", headers={"Authorization": f"Bearer {beat_token}"}, timeout=60
    )
    assert (early.status_code, early.json()["subCode"]) == (409, "InviteNotOpenYet")  # Anna's turn first

    _sign_in_chromium(context.new_page(), world)
    _sign_through_the_api(world, beat_token)
    # The audit log has it as it happened: Anna drew in Chromium, Beat typed his name.
    for who, how, agent in ((anna_id, "drawn", "Chrome/"), (beat_id, "typed", "python-httpx/")):
        found = world.api.get("/audit-events", params={"action": "signing.invitee.submitted", "targetId": who})
        assert found.status_code == 200, found.text
        (submitted,) = found.json()["items"]
        assert submitted["data"]["signature"] == how and agent in submitted["data"]["userAgent"], submitted

    # The webhooks: every dossier event on its way, each delivery signed.
    wanted = {
        ("dossier.created", None),
        ("dossier.prepared", None),
        ("dossier.state.updated", "pending"),
        ("dossier.invite.created", anna_id),
        ("dossier.invite.created", beat_id),
        ("dossier.invite.viewed", anna_id),
        ("dossier.invite.viewed", beat_id),
        ("dossier.invitee.state.updated", (anna_id, "signed")),
        ("dossier.invitee.state.updated", (beat_id, "signed")),
        ("dossier.state.updated", "completed"),
        ("dossier.completed", None),
    }

    def seen(event: dict[str, Any]) -> tuple[str, Any]:
        data, kind = event["data"], event["type"]
        if kind == "dossier.state.updated":
            return kind, data["state"]
        if kind.startswith("dossier.invite."):
            return kind, data["inviteeId"]
        if kind == "dossier.invitee.state.updated":
            return kind, (data["inviteeId"], data["state"])
        return kind, None

    def every_event() -> list[dict[str, Any]] | None:
        events = _events(world, dossier["id"])
        return events if wanted <= {seen(event) for event in events} else None

    events = _until("the dossier's webhooks", every_event, within=90)
    assert sum(event["type"] == "dossier.completed" for event in events) == 1
    for event in events:  # thin payloads: ids and states, nobody's name or address
        assert not {"name", "email", "phoneNumber"} & set(event["data"]), event

    # The signed document, as the API serves it, stands before independent judges.
    root = httpx.get(f"{world.server.base_url}/pki/root/ca.pem", timeout=60)
    assert root.status_code == 200, root.text
    current = world.api.get(f"/dossiers/{dossier['id']}/documents/{document_id}/content")
    assert current.status_code == 200, current.text
    signers = judge_signed_pdf(current.content, root.content, tmp_path / "signed")
    assert sorted(signers) == ["Anna Keller", "Beat Brändli"]

    # The advisor downloads the ZIP from the portal: the signed document and the sealed audit report.
    zipped = _advisor_downloads(context.browser, world, dossier["id"], tmp_path)
    by_api = world.api.get(f"/dossiers/{dossier['id']}/download", headers={"X-Acting-Member": world.advisor_id})
    assert by_api.status_code == 200, by_api.text
    assert by_api.headers["content-type"].startswith("application/zip")
    assert by_api.content == zipped  # the same dossier, the same bytes
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == ["Audit report Mandate Keller.pdf", "Mandate.pdf"], archive.namelist()
    assert archive.read("Mandate.pdf") == current.content
    report = archive.read("Audit report Mandate Keller.pdf")
    assert judge_signed_pdf(report, root.content, tmp_path / "report") == []  # sealed, no approvals
