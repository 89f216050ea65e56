"""Advisor-portal pages of client records over HTTP: list and search, the contact form
from the schema layout, four-eyes review in the queue, history, and what is refused."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from trustroom.auth.models import Role
from trustroom.auth.service.members import NewMember
from trustroom.db import Database
from trustroom.keys import ServerKeys

from ..auth.test_portal import password_step, totp_step
from ..factories import TenantFixture, make_member
from .conftest import anna, create_contact

_addresses = iter(range(1, 250))


async def signed_in(app: FastAPI, member: NewMember) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(f"203.0.113.{next(_addresses)}", 4000))
    client = httpx.AsyncClient(transport=transport, base_url="https://testserver", follow_redirects=False)
    assert (await password_step(client, member)).status_code == 303
    assert (await totp_step(client, pyotp.TOTP(member.totp_secret).now())).status_code == 303
    return client


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def form_values(page: httpx.Response) -> dict[str, str]:
    """The text inputs of the contact form, by name (JSON Pointer)."""
    return dict(re.findall(r'<input id="[^"]+" name="(/[^"]+)" type="[a-z-]+" value="([^"]*)"', page.text))


@pytest.fixture
async def advisor_member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> NewMember:
    return await make_member(database, keys, tenant.id, role=Role.ADVISOR)


@pytest.fixture
async def reviewer_member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> NewMember:
    return await make_member(database, keys, tenant.id, role=Role.REVIEWER)


async def test_an_advisor_edits_and_a_reviewer_approves_in_the_portal(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    advisor_member: NewMember,
    reviewer_member: NewMember,
) -> None:
    acting: dict[str, Any] = {**tenant.headers, "X-Acting-Member": str(advisor_member.member.id)}
    mine = await create_contact(client, acting, anna())
    await create_contact(client, tenant.headers, anna(personalInformation={"firstName": "Zora", "lastName": "Other"}))
    advisor = await signed_in(app, advisor_member)
    reviewer = await signed_in(app, reviewer_member)

    listed = await advisor.get("/portal/contacts")
    assert listed.status_code == 200
    assert "Anna Muster" in listed.text and "Zora" not in listed.text  # only the advisor's own contacts
    assert "Anna Muster" not in (await advisor.get("/portal/contacts?q=zz")).text
    assert "Anna Muster" in (await advisor.get("/portal/contacts?q=ANN")).text  # the name it sorts by, any case

    page = await advisor.get(f"/portal/contacts/{mine['id']}")
    values = form_values(page)
    assert values["/personalInformation/firstName"] == "Anna"
    assert values["/address/city"] == "Zürich"
    assert "Personal information" in page.text and "needs approval" in page.text

    saved = await advisor.post(
        f"/portal/contacts/{mine['id']}",
        data={
            "csrf_token": csrf_of(page),
            "concurrencyToken": mine["concurrencyToken"],
            "/personalInformation/lastName": "Muster-Keller",
            "/address/city": "Basel",
            "comment": "married",
        },
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"/portal/contacts/{mine['id']}?saved=review")
    after = await advisor.get(saved.headers["location"])
    assert "wait for a reviewer" in after.text
    assert form_values(after)["/address/city"] == "Basel"  # not approval-bound: applied at once
    assert "<del>Muster</del>" in after.text and "<ins>Muster-Keller</ins>" in after.text

    # The advisor has no review queue; the reviewer sees the request and must justify a rejection.
    assert (await advisor.get("/portal/reviews")).status_code == 403
    queue = await reviewer.get("/portal/reviews")
    assert "Muster-Keller" in queue.text and "married" in queue.text
    [(contact_id, request_id)] = re.findall(r'action="/portal/reviews/([0-9a-f-]+)/([0-9a-f-]+)"', queue.text)
    assert contact_id == mine["id"]
    unjustified = await reviewer.post(
        f"/portal/reviews/{contact_id}/{request_id}", data={"csrf_token": csrf_of(queue), "decision": "reject"}
    )
    assert unjustified.status_code == 400 and 'role="alert"' in unjustified.text
    approved = await reviewer.post(
        f"/portal/reviews/{contact_id}/{request_id}",
        data={"csrf_token": csrf_of(queue), "decision": "approve", "comment": "checked the certificate"},
    )
    assert (approved.status_code, approved.headers["location"]) == (303, "/portal/reviews?done=approved")
    assert "Nothing waits for review." in (await reviewer.get(approved.headers["location"])).text

    shown = await advisor.get(f"/portal/contacts/{mine['id']}")
    assert form_values(shown)["/personalInformation/lastName"] == "Muster-Keller"
    history = await advisor.get(f"/portal/contacts/{mine['id']}/history")
    assert history.status_code == 200
    assert "Muster-Keller" in history.text and "approved request" in history.text
    assert advisor_member.member.display_name in history.text


async def test_pages_refuse_without_csrf_and_hide_other_contacts(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, advisor_member: NewMember
) -> None:
    foreign = await create_contact(client, tenant.headers)
    advisor = await signed_in(app, advisor_member)
    assert (await advisor.get(f"/portal/contacts/{foreign['id']}")).status_code == 404
    acting = {**tenant.headers, "X-Acting-Member": str(advisor_member.member.id)}
    mine = await create_contact(client, acting)
    forged = await advisor.post(f"/portal/contacts/{mine['id']}", data={"/address/city": "Basel"})
    assert forged.status_code == 403
    page = await advisor.get(f"/portal/contacts/{mine['id']}")
    stale = await advisor.post(
        f"/portal/contacts/{mine['id']}",
        data={"csrf_token": csrf_of(page), "concurrencyToken": "999", "/address/city": "Basel"},
    )
    assert stale.status_code == 409 and form_values(stale)["/address/city"] == "Basel"
    invalid = await advisor.post(
        f"/portal/contacts/{mine['id']}",
        data={"csrf_token": csrf_of(page), "concurrencyToken": mine["concurrencyToken"], "/communication/email": "x"},
    )
    assert invalid.status_code == 400 and 'aria-invalid="true"' in invalid.text
    signed_out = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")
    assert (await signed_out.get("/portal/contacts")).status_code == 303


def selected(page: httpx.Response, pointer: str) -> str:
    """What the select of a field shows as chosen (the option's text)."""
    select = re.search(rf'<select id="[^"]+" name="{re.escape(pointer)}"[^>]*>(.*?)</select>', page.text, re.S)
    assert select, pointer
    option = re.search(r'<option value="[^"]*" selected>([^<]*)</option>', select.group(1))
    assert option, select.group(1)[:300]
    return option.group(1)


async def test_countries_subdivisions_languages_and_dates_read_in_the_pages_language(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    advisor_member: NewMember,
    reviewer_member: NewMember,
) -> None:
    acting: dict[str, Any] = {**tenant.headers, "X-Acting-Member": str(advisor_member.member.id)}
    details = anna(
        personalInformation={"nationality": "FR", "language": "FR"}, address={"country": "CH", "subdivision": "CH-GE"}
    )
    contact = await create_contact(client, acting, details)
    advisor = await signed_in(app, advisor_member)
    url = f"/portal/contacts/{contact['id']}"

    german = await advisor.get(f"{url}?language=de")
    shown = {pointer: selected(german, pointer) for pointer in ("/address/country", "/address/subdivision")}
    assert shown == {"/address/country": "Schweiz", "/address/subdivision": "Genf"}
    assert selected(german, "/personalInformation/nationality") == "Frankreich"
    assert selected(german, "/personalInformation/language") == "Französisch"
    # A country's subdivisions only, named too; the stored codes stay the values posted.
    assert '<option value="CH-ZH" >Zürich</option>' in german.text and 'value="DE-BY"' not in german.text
    french = await advisor.get(f"{url}?language=fr")
    assert (selected(french, "/address/country"), selected(french, "/address/subdivision")) == ("Suisse", "Genève")
    assert selected(french, "/personalInformation/language") == "Français"

    saved = await advisor.post(
        f"{url}?language=de",
        data={
            "csrf_token": csrf_of(german),
            "concurrencyToken": contact["concurrencyToken"],
            "/personalInformation/language": "IT",
        },
    )
    assert saved.status_code == 303, saved.text
    history = await advisor.get(f"{url}/history?language=de")
    assert "<td>Französisch</td><td>Italienisch</td>" in history.text
    # 05.03.2025, 14:30 UTC: German order and separators, in UTC.
    assert re.search(r'<time datetime="[^"]+">\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC</time>', history.text)
    assert re.search(r"<time[^>]*>[A-Z][a-z]{2} \d{1,2}, \d{4}", (await advisor.get(f"{url}/history")).text)

    # A reviewer sees the names read-only and gets no Save button that could change nothing.
    reviewer = await signed_in(app, reviewer_member)
    read_only = await reviewer.get(f"{url}?language=it")
    assert selected(read_only, "/address/country") == "Svizzera"
    assert 'name="/address/country" disabled' in read_only.text
    assert ">Save<" not in read_only.text and 'name="comment"' not in read_only.text
    assert ">Salvare<" not in read_only.text
    # …and may not change a record through the page either (as through the API).
    refused = await reviewer.post(
        url, data={"csrf_token": csrf_of(read_only), "/address/city": "Bern", "concurrencyToken": "x"}
    )
    assert refused.status_code == 403
    assert form_values(await advisor.get(url))["/address/city"] == "Zürich"


async def test_a_subdivision_waits_for_its_country(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, advisor_member: NewMember
) -> None:
    acting: dict[str, Any] = {**tenant.headers, "X-Acting-Member": str(advisor_member.member.id)}
    details = anna()
    del details["address"]["country"]
    contact = await create_contact(client, acting, details)
    page = await (await signed_in(app, advisor_member)).get(f"/portal/contacts/{contact['id']}?language=de")
    assert "Wählen Sie zuerst das Land" in page.text
    assert 'value="CH-ZH"' not in page.text
