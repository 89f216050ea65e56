"""Events: declared once with a schema, recorded in the caller's transaction, handed to
subscribers by the dispatcher once committed, published in the catalogue."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import jsonschema
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from trustroom.auth import events as auth_events
from trustroom.db import Database, cross_tenant, utcnow
from trustroom.jobs import service
from trustroom.jobs.dispatcher import Dispatcher
from trustroom.jobs.models import Event
from trustroom.jobs.runner import Runner
from trustroom.metrics import Metrics
from trustroom.settings import Settings

from ..factories import TenantFixture


async def events_of(database: Database, tenant_id: UUID) -> list[Event]:
    async with database.session(write=False) as session, cross_tenant(session):
        rows = await session.scalars(select(Event).where(Event.tenant_id == tenant_id).order_by(Event.id))
        return list(rows)


async def test_a_rolled_back_change_emits_nothing(database: Database, tenant: TenantFixture) -> None:
    async with database.session() as session:
        event = await service.emit(
            session, auth_events.MEMBER_CREATED, {"member_id": tenant.api_key_id}, tenant_id=tenant.id
        )
        await session.rollback()
    assert event.id not in {e.id for e in await events_of(database, tenant.id)}


async def test_api_changes_emit_thin_events_that_match_their_schema(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    created = await client.post(
        "/api/v1/members", json={"email": "events@bank.example", "role": "advisor"}, headers=tenant.headers
    )
    member_id = created.json()["id"]
    await client.patch(f"/api/v1/members/{member_id}", json={"role": "reviewer"}, headers=tenant.headers)
    key = await client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["jobs:read"]}, headers=tenant.headers)
    await client.delete(f"/api/v1/api-keys/{key.json()['id']}", headers=tenant.headers)

    events = await events_of(database, tenant.id)
    assert [e.type for e in events] == ["member.created", "member.updated", "apiKey.created", "apiKey.revoked"]
    assert events[0].data == {"memberId": member_id, "role": "advisor", "changed": []}
    assert events[1].data["changed"] == ["role"]
    assert "events@bank.example" not in str([e.data for e in events])  # ids, not personal data
    catalogue = {t.name: t for t in auth_events.TYPES}
    for event in events:
        jsonschema.validate(event.data, catalogue[event.type].json_schema())
        envelope = event.envelope()
        assert set(envelope) == {"type", "timestamp", "data"} and envelope["timestamp"].endswith("Z")
        assert event.event_id.startswith("msg_")


async def test_the_dispatcher_hands_each_committed_event_to_every_subscriber(
    settings: Settings, database: Database, tenant: TenantFixture
) -> None:
    seen: list[tuple[str, str]] = []

    async def subscriber(session: AsyncSession, settings: Settings, batch: Sequence[Event]) -> None:
        seen.extend((event.type, event.event_id) for event in batch)

    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    runner = Runner(database, fast, (), subscribers=(subscriber,))
    async with database.session() as session:
        event = await service.emit(
            session, auth_events.API_KEY_REVOKED, {"api_key_id": tenant.api_key_id}, tenant_id=tenant.id
        )
        await session.commit()
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    for _ in range(200):
        if (event.type, event.event_id) in seen:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    assert (event.type, event.event_id) in seen
    [stored] = [e for e in await events_of(database, tenant.id) if e.id == event.id]
    assert stored.dispatched_at is not None


async def test_an_event_that_cannot_be_dispatched_is_set_aside_without_holding_up_others(
    settings: Settings, database: Database, tenant: TenantFixture
) -> None:
    async with database.session() as session:
        bad, good = [
            await service.emit(session, auth_events.MEMBER_CREATED, {"member_id": uuid4()}, tenant_id=tenant.id)
            for _ in range(2)
        ]
        await session.commit()
    seen: list[UUID] = []

    async def picky(session: AsyncSession, settings: Settings, batch: Sequence[Event]) -> None:
        if any(event.id == bad.id for event in batch):
            raise RuntimeError("cannot handle this one")
        seen.extend(event.id for event in batch)

    dispatcher = Dispatcher(database, settings, (picky,), Metrics())
    while await dispatcher.dispatch_batch():
        pass
    stored = {e.id: e for e in await events_of(database, tenant.id)}
    assert good.id in seen and bad.id not in seen
    assert stored[good.id].dispatched_at is not None
    assert stored[bad.id].dispatched_at is None and stored[bad.id].dispatch_after is not None
    assert stored[bad.id].dispatch_after > utcnow()  # tried again later, not lost


@pytest.mark.parametrize(
    ("language", "text"), [("en", "A member was added."), ("de", "Ein Mitglied wurde hinzugefügt.")]
)
async def test_the_catalogue_lists_every_type_with_its_schema(
    client: httpx.AsyncClient, tenant: TenantFixture, language: str, text: str
) -> None:
    response = await client.get("/api/v1/events", params={"language": language}, headers=tenant.headers)
    assert response.status_code == 200
    listed = {item["type"]: item for item in response.json()["items"]}
    assert set(listed) >= {"member.created", "member.updated", "apiKey.created", "apiKey.revoked"}
    assert listed["member.created"]["description"] == text
    schema = listed["member.created"]["dataSchema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "memberId" in schema["properties"]
    assert listed["apiKey.created"]["formerly"] == "api_key.created"
    assert listed["member.created"]["formerly"] is None


async def test_the_catalogue_answers_the_list_envelope_in_name_order(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    whole = (await client.get("/api/v1/events", params={"pageSize": 200}, headers=tenant.headers)).json()
    names = [item["type"] for item in whole["items"]]
    assert names == sorted(names) and len(names) == whole["totalCount"] > 3
    assert (whole["page"], whole["pageSize"], whole["pageCount"]) == (1, 200, 1)
    second = (await client.get("/api/v1/events?page=2&pageSize=2", headers=tenant.headers)).json()
    assert [item["type"] for item in second["items"]] == names[2:4]
    assert second["pageCount"] == (len(names) + 1) // 2 and second["totalCount"] == len(names)
    backwards = await client.get("/api/v1/events?pageSize=3&sortOrder=Descending", headers=tenant.headers)
    assert [item["type"] for item in backwards.json()["items"]] == names[::-1][:3]
    past_the_end = (await client.get("/api/v1/events?page=99", headers=tenant.headers)).json()
    assert past_the_end["items"] == [] and past_the_end["totalCount"] == len(names)


def test_every_event_type_follows_the_naming_rule() -> None:
    """`<resource>.<pastParticiple>`, lowerCamelCase parts (README, "Events")."""
    from trustroom.app import EVENT_TYPES
    from trustroom.jobs.catalogue import Catalogue, EventType

    catalogue = Catalogue(EVENT_TYPES)
    irregular = {"sent", "done", "made", "taken", "given", "written", "withdrawn", "begun"}
    for name in catalogue.types:
        verb = name.rsplit(".", 1)[1]
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+", name), name
        assert verb.endswith("ed") or verb in irregular, name
    assert catalogue.accepted_names["webhook.test"] == "webhookEndpoint.tested"
    assert catalogue.accepted_names["member.created"] == "member.created"
    with pytest.raises(ValueError, match="breaks the rule"):
        Catalogue([EventType("api_key.created", auth_events.ApiKeyChanged, "An API key was created.")])


async def test_old_dispatched_events_are_purged_with_their_deliveries(
    database: Database, tenant: TenantFixture
) -> None:
    async with database.session() as session:
        old, fresh, undispatched = [
            await service.emit(
                session, auth_events.API_KEY_REVOKED, {"api_key_id": tenant.api_key_id}, tenant_id=tenant.id
            )
            for _ in range(3)
        ]
        async with cross_tenant(session):
            long_ago = utcnow() - timedelta(days=40)
            await session.execute(
                update(Event).where(Event.id == old.id).values(occurred_at=long_ago, dispatched_at=utcnow())
            )
            await session.execute(update(Event).where(Event.id == fresh.id).values(dispatched_at=utcnow()))
            await session.execute(update(Event).where(Event.id == undispatched.id).values(occurred_at=long_ago))
        await session.commit()
    async with database.session() as session:
        removed = await service.purge_events(session, timedelta(days=30))
        await session.commit()
    assert removed >= 1
    left = {e.id for e in await events_of(database, tenant.id)}
    assert old.id not in left and {fresh.id, undispatched.id} <= left
