"""The advisor portal's field editor in a real Chromium: the advisor signs in, places a
signature field by clicking on a rendered page, moves it with the keyboard, saves, and sends
the dossier with a link invite. The server is a real `trustroom serve` process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from ..auth.test_portal_browser import NewMember, _sign_in_with_password, _submit_code, browser, playwright
from ..exchange.serving import served
from .support import make_pdf

__all__ = ["browser", "playwright"]  # fixtures shared with the sign-in tests
expect.set_options(timeout=30_000)  # page rendering and the worker take their time on busy cores
A4 = (595.28, 841.89)


@dataclass
class Draft:
    base_url: str
    advisor: NewMember
    dossier: dict[str, Any]
    document_id: str
    api: Any


@pytest.fixture(scope="module")
def draft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Draft]:
    with served(tmp_path_factory.mktemp("signing-portal"), members=["advisor@sign-bank.example"]) as server:
        member = server.created["advisor@sign-bank.example"]
        with server.api() as api:
            dossier = api.post(
                "/dossiers",
                json={
                    "name": "Mandate Keller",
                    "ownerMemberId": member["id"],
                    "invitees": [{"name": "Anna Keller", "email": "anna.keller@mail.example"}],
                },
            ).json()
            document = api.post(
                f"/dossiers/{dossier['id']}/documents",
                files={"file": ("Mandate.pdf", make_pdf(2), "application/pdf")},
            )
            assert document.status_code == 201, document.text
            advisor = NewMember(member["email"], member["password"], pyotp.TOTP(member["totpSecret"]), server.tenant_id)
            yield Draft(server.base_url, advisor, dossier, document.json()["id"], api)


@pytest.fixture
def context(browser: Browser, draft: Draft) -> Iterator[BrowserContext]:
    browser_context = browser.new_context(
        base_url=draft.base_url, locale="en-US", viewport={"width": 1200, "height": 900}
    )
    browser_context.set_default_timeout(30_000)
    browser_context.route(re.compile(r"^(?!" + re.escape(draft.base_url) + r"/|data:)"), lambda route: route.abort())
    yield browser_context
    browser_context.close()


def test_the_advisor_places_a_signature_field_by_clicking_and_sends(context: BrowserContext, draft: Draft) -> None:
    page = context.new_page()
    _sign_in_with_password(page, draft.advisor)
    _submit_code(page, draft.advisor.totp.now())
    page.goto("/portal/dossiers")
    page.get_by_role("link", name="Mandate Keller").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mandate Keller")
    page.locator("#field-editor[data-ready=true]").wait_for()
    image = page.get_by_role("img", name="Page 1 of Mandate.pdf")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    page.get_by_label("Type").select_option("signature")

    image.click(position={"x": 100, "y": 150})
    field = page.get_by_role("button", name="Signature of Anna Keller, page 1")
    expect(field).to_be_focused()
    field.press("Shift+ArrowRight")  # ten points to the right
    page.get_by_role("button", name="Save fields").click()
    expect(page.locator("#editor-status")).to_have_text("The fields were saved.")

    box = image.bounding_box()
    assert box is not None
    scale = box["width"] / A4[0]  # pixels per point
    fields = draft.api.get(f"/dossiers/{draft.dossier['id']}/documents/{draft.document_id}").json()["fields"]
    assert len(fields) == 1
    placed = fields[0]
    assert (placed["type"], placed["page"], placed["inviteeId"]) == ("signature", 1, draft.dossier["invitees"][0]["id"])
    assert (placed["width"], placed["height"]) == (180, 50)
    # The click is the field's top-left corner on the image; PDF points count from the bottom.
    assert abs(placed["x"] - (100 / scale + 10)) < 1.5
    assert abs(placed["y"] + placed["height"] - (A4[1] - 150 / scale)) < 1.5

    page.get_by_label("Invite Anna Keller").select_option("link")
    page.get_by_role("button", name="Send the dossier").click()
    expect(page.locator("h1 .state")).to_have_text("Pending")
    link = page.get_by_label("Link for Anna Keller (deliver it yourself)")
    expect(link).to_have_value(re.compile(re.escape(draft.base_url) + r"/s/"))
    assert draft.api.get(f"/dossiers/{draft.dossier['id']}").json()["state"] == "pending"
    page.goto("/portal/dossiers?state=pending")
    expect(page.get_by_role("link", name="Mandate Keller")).to_be_visible()
