"""Limits of delivery: a slow endpoint holds a bounded share of the workers and delays no
other endpoint; connections are reused; an endpoint's rate limit is kept."""

from __future__ import annotations

import time

import httpx

from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture
from ..receivers import Receiver
from .conftest import add_endpoint, emit_members_created, run_until, with_webhooks

World = tuple[Database, ServerKeys, TenantFixture, httpx.AsyncClient]


async def test_a_slow_endpoint_holds_at_most_its_share_and_delays_no_other(local: Settings, world: World) -> None:
    database, keys, tenant, _ = world
    settings = with_webhooks(local, timeout_seconds=5.0, endpoint_concurrency=2)
    slow, fast = Receiver([], pause=1.0), Receiver([])
    try:
        await add_endpoint(database, keys, settings, tenant, slow.url)
        await add_endpoint(database, keys, settings, tenant, fast.url)
        await emit_members_created(database, tenant, 12)
        started = time.monotonic()

        async def fast_has_all() -> bool:
            return len(fast.received) == 12

        await run_until(database, settings, fast_has_all, concurrency=8)
        fast_took = time.monotonic() - started
    finally:
        slow.close()
        fast.close()
    # The slow endpoint needs 6 s for its 12 messages two at a time; the fast one did not wait.
    assert fast_took < 4.0, fast_took
    assert slow.most_in_flight <= 2 and len(slow.received) < 12
    assert fast.most_in_flight <= 2
    # Two connections at most carried the fast endpoint's twelve messages.
    assert len(fast.client_ports) <= 2, fast.client_ports


async def test_an_endpoints_rate_limit_spaces_its_deliveries(local: Settings, world: World) -> None:
    database, keys, tenant, _ = world
    receiver = Receiver([])
    try:
        await add_endpoint(database, keys, local, tenant, receiver.url, rate_limit=5)
        await emit_members_created(database, tenant, 15)

        async def all_arrived() -> bool:
            return len(receiver.received) == 15

        await run_until(database, local, all_arrived, concurrency=8)
    finally:
        receiver.close()
    arrivals = sorted(receiver.arrivals)
    # One second's worth (5, and the one at its edge) at once, then one every 0.2 s: the
    # i-th delivery cannot arrive before (i - 5) / 5 s after the first.
    assert arrivals[-1] - arrivals[0] >= 1.5, arrivals[-1] - arrivals[0]
    for index, arrived in enumerate(arrivals):
        assert arrived - arrivals[0] >= (index - 6) * 0.2 * 0.9, (index, arrived - arrivals[0])
    for start in arrivals:
        assert len([t for t in arrivals if start <= t < start + 1.0]) <= 11
