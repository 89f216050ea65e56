"""Delivery to real HTTP receivers on 127.0.0.1, signatures judged by `standardwebhooks`."""

from __future__ import annotations

from uuid import UUID

import httpx
from sqlalchemy import select
from standardwebhooks import Webhook

from trustroom.db import Database, bind_tenant, cross_tenant
from trustroom.jobs.models import Event
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.webhooks import tasks
from trustroom.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

from ..factories import TenantFixture
from ..receivers import Receiver
from .conftest import add_endpoint, create_member, delivery_of, run_until, status_is


async def test_a_500_is_retried_and_both_attempts_carry_the_same_signed_message(
    local: Settings, world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]
) -> None:
    database, keys, tenant, client = world
    receiver = Receiver([(500, 0.0), (200, 0.0)])
    try:
        _, secret = await add_endpoint(database, keys, local, tenant, receiver.url)
        member_id = await create_member(client, tenant)

        delivered = status_is(database, tenant, DeliveryStatus.DELIVERED)

        await run_until(database, local, delivered)
    finally:
        receiver.close()
    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "member.created" and payload["data"]["memberId"] == member_id
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]
    delivery, attempts = await delivery_of(database, tenant)
    assert delivery is not None and delivery.attempts == 2 and delivery.last_status_code == 200
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 200)]


async def test_a_receiver_that_sleeps_past_the_timeout_is_retried(
    local: Settings, world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]
) -> None:
    database, keys, tenant, client = world
    receiver = Receiver([(200, 1.5), (200, 0.0)])
    try:
        await add_endpoint(database, keys, local, tenant, receiver.url)
        await create_member(client, tenant)

        delivered = status_is(database, tenant, DeliveryStatus.DELIVERED)

        await run_until(database, local, delivered)
    finally:
        receiver.close()
    _, attempts = await delivery_of(database, tenant)
    assert attempts[0].status_code is None and "timed out" in (attempts[0].error or "")
    assert attempts[-1].status_code == 200


async def test_410_disables_the_endpoint_and_says_so(
    local: Settings, world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]
) -> None:
    database, keys, tenant, client = world
    receiver = Receiver([(410, 0.0)])
    try:
        endpoint, _ = await add_endpoint(database, keys, local, tenant, receiver.url)
        await create_member(client, tenant)

        failed = status_is(database, tenant, DeliveryStatus.FAILED)

        await run_until(database, local, failed)
    finally:
        receiver.close()
    assert len(receiver.received) == 1
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        stored = await session.get(WebhookEndpoint, endpoint.id)
        async with cross_tenant(session):
            disabled = await session.scalar(
                select(Event).where(Event.type == "webhookEndpoint.disabled", Event.tenant_id == tenant.id)
            )
    assert stored is not None and stored.enabled is False and stored.disabled_reason == "gone (410)"
    assert disabled is not None and disabled.data == {"endpointId": str(endpoint.id), "reason": "gone (410)"}


async def test_private_addresses_are_refused_at_delivery_time(local: Settings) -> None:
    from trustroom.webhooks import delivery

    async with delivery.ConnectionPool() as pool:
        outcome = await pool.post("http://10.0.0.7/hooks", {}, b"{}", local.webhooks)
    assert outcome.status_code is None and "may not receive webhooks" in (outcome.error or "")
    assert delivery.retry_after_seconds("120") == 120.0 and delivery.retry_after_seconds("soon") is None


def test_the_retry_schedule_fills_every_attempt() -> None:
    assert len(tasks.RETRY_DELAYS) + 1 == tasks.MAX_ATTEMPTS
    assert tasks.RETRY_DELAYS == (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


async def test_the_test_button_sends_an_example_event_to_that_endpoint_only(
    local: Settings, world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]
) -> None:
    database, keys, tenant, client = world
    receiver = Receiver([])
    other = Receiver([])
    try:
        endpoint, secret = await add_endpoint(database, keys, local, tenant, receiver.url)
        await add_endpoint(database, keys, local, tenant, other.url)
        sent = await client.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test", headers=tenant.headers)
        assert sent.status_code == 202

        async def arrived() -> bool:
            return bool(receiver.received)

        await run_until(database, local, arrived)
    finally:
        receiver.close()
        other.close()
    [(headers, body)] = receiver.received
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "webhookEndpoint.tested" and payload["data"]["endpointId"] == str(endpoint.id)
    assert headers["webhook-id"] == sent.json()["eventId"]
    assert other.received == []


async def test_messages_show_attempts_and_can_be_resent_and_recovered(
    local: Settings, world: tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]
) -> None:
    database, keys, tenant, client = world
    receiver = Receiver([(503, 0.0)] * len(tasks.RETRY_DELAYS) + [(500, 0.0), (200, 0.0), (200, 0.0)])
    try:
        endpoint, secret = await add_endpoint(database, keys, local, tenant, receiver.url)
        await create_member(client, tenant)

        failed = status_is(database, tenant, DeliveryStatus.FAILED)

        await run_until(database, local, failed)
        listing = (
            await client.get("/api/v1/webhook-messages", params={"status": "failed"}, headers=tenant.headers)
        ).json()
        [message] = listing["items"]
        assert message["eventType"] == "member.created" and message["attempts"] == tasks.MAX_ATTEMPTS
        detail = (await client.get(f"/api/v1/webhook-messages/{message['id']}", headers=tenant.headers)).json()
        assert [a["statusCode"] for a in detail["attemptLog"]] == [503] * len(tasks.RETRY_DELAYS) + [500]
        assert detail["payload"]["type"] == "member.created" and detail["eventId"] == message["eventId"]

        resent = await client.post(f"/api/v1/webhook-messages/{message['id']}/resend", headers=tenant.headers)
        assert resent.status_code == 202

        delivered = status_is(database, tenant, DeliveryStatus.DELIVERED)

        await run_until(database, local, delivered)
        detail = (await client.get(f"/api/v1/webhook-messages/{message['id']}", headers=tenant.headers)).json()
        assert detail["attemptLog"][-1]["trigger"] == "manual" and detail["attemptLog"][-1]["statusCode"] == 200

        # Recover finds nothing failed any more; fail it again by hand and it is re-queued.
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            row = await session.get(WebhookDelivery, UUID(message["id"]))
            assert row is not None
            row.status = DeliveryStatus.FAILED
            await session.commit()
        recovered = await client.post(
            f"/api/v1/webhook-endpoints/{endpoint.id}/recover",
            json={"since": "2000-01-01T00:00:00Z"},
            headers=tenant.headers,
        )
        assert recovered.json() == {"requeued": 1}
        await run_until(database, local, delivered)
    finally:
        receiver.close()
    assert all(Webhook(secret).verify(body, headers) for headers, body in receiver.received[-2:])
