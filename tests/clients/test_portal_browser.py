"""End-to-end in a real Chromium: an advisor changes a contact in the portal, a reviewer
approves the change in the review queue, and the contact page shows the new value."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ..auth.test_portal_browser import (
    NewMember,
    Server,
    _cli_result,
    _sign_in_with_password,
    _start_cli,
    _submit_code,
    browser,
    playwright,
    server,
)
from .conftest import anna

__all__ = ["browser", "playwright", "server"]  # fixtures shared with the sign-in tests


def _members_and_key(server: Server) -> tuple[NewMember, NewMember, str]:
    """An advisor, a reviewer and an API key, made by concurrent CLI runs (each costs seconds)."""
    tag = uuid.uuid4().hex[:10]
    runs = [
        _start_cli(
            server.env,
            "member",
            "create",
            "--tenant",
            server.tenant_id,
            "--email",
            f"{role}-{tag}@bank.example",
            "--role",
            role,
        )
        for role in ("advisor", "reviewer")
    ]
    runs.append(_start_cli(server.env, "api-key", "create", "--tenant", server.tenant_id))
    advisor, reviewer, key = (_cli_result(run) for run in runs)
    made = [
        NewMember(m["email"], m["password"], pyotp.TOTP(m["totpSecret"]), server.tenant_id) for m in (advisor, reviewer)
    ]
    return made[0], made[1], key["key"]


def _contact_of(server: Server, key: str, advisor: NewMember) -> str:
    """A contact made through the API by an app acting for the advisor (so it is theirs)."""
    body = {"contactTypeId": 1, "username": f"browser-{advisor.email}", "details": anna()}
    request = urllib.request.Request(  # noqa: S310 - the test server on 127.0.0.1
        f"{server.base_url}/api/v1/contacts",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "X-Acting-Member": advisor.email,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        contact_id: str = json.loads(answer.read())["id"]
    return contact_id


@pytest.fixture
def contexts(browser: Browser, server: Server) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """Two cookie jars, one per member; anything but the test server is refused."""
    made = []
    for _ in range(2):
        context = browser.new_context(base_url=server.base_url, locale="en-US")
        context.set_default_timeout(10_000)
        context.route(re.compile(r"^(?!" + re.escape(server.base_url) + r"/|data:)"), lambda route: route.abort())
        made.append(context)
    yield made[0], made[1]
    for context in made:
        context.close()


def _sign_in(page: Page, member: NewMember) -> None:
    _sign_in_with_password(page, member)
    _submit_code(page, member.totp.now())
    expect(page).to_have_url(re.compile(r"/portal/(\?|$)"))


def test_a_reviewer_approves_another_members_change_and_the_page_shows_it(
    server: Server, contexts: tuple[BrowserContext, BrowserContext]
) -> None:
    advisor, reviewer, key = _members_and_key(server)
    contact_id = _contact_of(server, key, advisor)
    maker, checker = contexts[0].new_page(), contexts[1].new_page()

    _sign_in(maker, advisor)
    maker.get_by_role("link", name="Clients").click()
    maker.get_by_label("Name, email or city").fill("anna")
    maker.get_by_role("button", name="Search").click()
    maker.get_by_role("link", name="Anna Muster").click()
    expect(maker).to_have_url(re.compile(f"/portal/contacts/{contact_id}"))
    expect(maker.get_by_role("heading", level=1)).to_have_text("Anna Muster")
    last_name = maker.get_by_label(re.compile(r"^Last name"))
    expect(last_name).to_have_value("Muster")
    last_name.fill("Muster-Keller")
    maker.get_by_label("Comment (kept in the history)").fill("Married in May")
    maker.get_by_role("button", name="Save").click()
    expect(maker.get_by_role("status")).to_have_text("Your changes wait for a reviewer's approval.")
    expect(maker.get_by_label(re.compile(r"^Last name"))).to_have_value("Muster")  # not before the review

    _sign_in(checker, reviewer)
    checker.get_by_role("link", name="Review queue").click()
    request = checker.get_by_role("article").filter(has_text="Married in May")
    expect(request).to_contain_text("Muster-Keller")
    request.get_by_label("Comment (required to reject)").fill("Certificate seen")
    request.get_by_role("button", name="Approve").click()
    expect(checker.get_by_role("status")).to_have_text("The change was approved and applied.")
    expect(checker.get_by_role("article").filter(has_text="Married in May")).to_have_count(0)

    maker.reload()
    expect(maker.get_by_label(re.compile(r"^Last name"))).to_have_value("Muster-Keller")
    maker.get_by_role("link", name="History").click()
    expect(maker.get_by_role("cell", name="Muster-Keller")).to_be_visible()
