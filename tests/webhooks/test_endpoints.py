"""Webhook endpoints: CRUD, URL rules, sealed headers and secrets, secret rotation."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update

from trustroom.app import create_app
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks import service
from trustroom.webhooks.models import WebhookEndpoint, WebhookSecret

from ..factories import TenantFixture

URL = "https://crm.bank.example/hooks"


@pytest.fixture
async def local_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app that admits http and 127.0.0.0/8 receivers, as a self-hosted bank may."""
    local = settings.model_copy(
        update={
            "webhooks": settings.webhooks.model_copy(update={"allow_http": True, "allowed_networks": ["127.0.0.0/8"]})
        }
    )
    app = create_app(local, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.database.dispose()


async def test_create_read_update_delete(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": URL, "description": "CRM", "eventTypes": ["member.created"], "headers": {"X-Token": "t0p"}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert endpoint["headerNames"] == ["X-Token"] and "t0p" not in created.text.replace(secret, "")

    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    read = await client.get(path, headers=tenant.headers)
    assert read.json()["eventTypes"] == ["member.created"] and "secret" not in read.json()
    assert (await client.get(f"{path}/secret", headers=tenant.headers)).json() == {"secret": secret}

    patched = await client.patch(
        path,
        json={"enabled": False, "eventTypes": [], "rateLimit": 5},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False and patched.json()["disabledReason"] == "disabled by the tenant"
    assert patched.json()["eventTypes"] == [] and patched.json()["rateLimit"] == 5
    stale = await client.patch(
        path, json={"enabled": True}, headers={**tenant.headers, "If-Match": read.headers["etag"]}
    )
    assert stale.status_code == 409

    listed = (await client.get("/api/v1/webhook-endpoints", headers=tenant.headers)).json()
    assert [item["id"] for item in listed["items"]] == [endpoint["id"]]
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize(
    ("url", "sub_code"),
    [
        ("http://crm.bank.example/hooks", "UrlSchemeNotAllowed"),
        ("https://127.0.0.1/hooks", "UrlAddressNotAllowed"),
        ("https://10.1.2.3/hooks", "UrlAddressNotAllowed"),
        ("https://169.254.169.254/latest/meta-data", "UrlAddressNotAllowed"),
        ("https://[::1]/hooks", "UrlAddressNotAllowed"),
        ("https://[::ffff:192.168.0.1]/hooks", "UrlAddressNotAllowed"),
        ("https://user:pw@crm.bank.example/hooks", "UrlInvalid"),
        ("https://[crm.bank.example/hooks", "UrlInvalid"),
        ("ftp://crm.bank.example/hooks", "ValidationFailed"),
        ("/relative", "ValidationFailed"),
    ],
)
async def test_urls_that_may_not_receive_webhooks_are_refused(
    client: httpx.AsyncClient, tenant: TenantFixture, url: str, sub_code: str
) -> None:
    response = await client.post("/api/v1/webhook-endpoints", json={"url": url}, headers=tenant.headers)
    assert response.status_code == (422 if sub_code == "ValidationFailed" else 400)
    assert response.json()["subCode"] == sub_code


async def test_allowed_networks_and_http_are_settings(local_client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await local_client.post(
        "/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9999/hooks"}, headers=tenant.headers
    )
    assert response.status_code == 201
    elsewhere = await local_client.post(
        "/api/v1/webhook-endpoints", json={"url": "http://192.168.1.5/hooks"}, headers=tenant.headers
    )
    assert elsewhere.json()["subCode"] == "UrlAddressNotAllowed"


async def test_unknown_event_types_and_reserved_headers_are_refused(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    unknown = await client.post(
        "/api/v1/webhook-endpoints", json={"url": URL, "eventTypes": ["no.such.event"]}, headers=tenant.headers
    )
    assert unknown.json()["subCode"] == "UnknownEventType"
    reserved = await client.post(
        "/api/v1/webhook-endpoints", json={"url": URL, "headers": {"Webhook-Signature": "x"}}, headers=tenant.headers
    )
    assert reserved.json()["subCode"] == "HeaderNotAllowed"
    assert (await client.get("/api/v1/webhook-endpoints", headers=tenant.headers)).json()["totalCount"] == 0


async def test_former_event_type_names_are_taken_and_stored_as_the_new_ones(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    created = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": URL, "eventTypes": ["api_key.created", "apiKey.created", "webhook.test", "member.created"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["eventTypes"] == ["apiKey.created", "member.created", "webhookEndpoint.tested"]
    path = f"/api/v1/webhook-endpoints/{created.json()['id']}"
    patched = await client.patch(path, json={"eventTypes": ["channel.verified"]}, headers=tenant.headers)
    assert patched.json()["eventTypes"] == ["contact.channel.verified"]
    stored = await client.get(path, headers=tenant.headers)
    assert stored.json()["eventTypes"] == ["contact.channel.verified"]


async def test_the_signing_secret_is_called_secret_everywhere(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = (await client.post("/api/v1/webhook-endpoints", json={"url": URL}, headers=tenant.headers)).json()
    path = f"/api/v1/webhook-endpoints/{created['id']}/secret"
    read = (await client.get(path, headers=tenant.headers)).json()
    rotated = (await client.post(f"{path}/rotate", headers=tenant.headers)).json()
    assert set(read) == set(rotated) == {"secret"}
    assert created["secret"] == read["secret"] != rotated["secret"]
    assert all(value.startswith("whsec_") for value in (created["secret"], read["secret"], rotated["secret"]))
    schemas = (await client.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    assert set(schemas["SecretRead"]["properties"]) == {"secret"}
    assert (
        "secret" in schemas["EndpointCreated"]["properties"] and "key" not in schemas["EndpointCreated"]["properties"]
    )


async def test_secrets_and_headers_are_sealed_at_rest(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    created = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": URL, "headers": {"Authorization": "Bearer rcv-9z"}},
        headers=tenant.headers,
    )
    secret = created.json()["secret"]
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        dump = repr((await session.execute(text("SELECT * FROM webhook_endpoints"))).all())
        dump += repr((await session.execute(text("SELECT * FROM webhook_secrets"))).all())
    assert "rcv-9z" not in dump and secret not in dump and secret.removeprefix("whsec_") not in dump


async def test_rotation_keeps_the_old_secret_signing_for_the_overlap(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    created = (await client.post("/api/v1/webhook-endpoints", json={"url": URL}, headers=tenant.headers)).json()
    path = f"/api/v1/webhook-endpoints/{created['id']}/secret"
    rotated = await client.post(f"{path}/rotate", headers=tenant.headers)
    new = rotated.json()["secret"]
    assert new != created["secret"]
    assert (await client.get(path, headers=tenant.headers)).json()["secret"] == new

    async def signing() -> list[str]:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            endpoint = await session.get(WebhookEndpoint, UUID(created["id"]))
            assert endpoint is not None
            return await service.active_secrets(session, endpoint, keys)

    assert await signing() == [new, created["secret"]]
    async with database.session() as session:  # the overlap ends
        await bind_tenant(session, tenant.id)
        await session.execute(
            update(WebhookSecret)
            .where(WebhookSecret.expires_at.is_not(None), WebhookSecret.tenant_id == tenant.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert await signing() == [new]
