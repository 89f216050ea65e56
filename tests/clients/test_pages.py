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
