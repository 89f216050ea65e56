"""One HTTP attempt: resolve, check the address, connect to exactly that address, POST.

The SSRF guard resolves the host itself and refuses the attempt when any address is
private, loopback or link-local (unless an allowed network admits it); the request then
goes to the checked address, with the original Host header and TLS server name, so a DNS
answer that changes between check and connect (rebinding) cannot redirect it. Redirects
are never followed.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..settings import WebhookSettings
from .service import address_allowed

EXCERPT_BYTES = 4096
USER_AGENT = "Trustroom-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int
    retry_after: float | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AddressRefused(Exception):
    pass


async def _checked_address(host: str, port: int, settings: WebhookSettings) -> str:
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(address_allowed(address, settings) for address in addresses):
        raise AddressRefused(f"{host} resolves to an address that may not receive webhooks")
    return str(addresses[0])


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.astimezone(UTC) - datetime.now(UTC)).total_seconds())


class ConnectionPool:
    """HTTP clients kept open across deliveries, so a busy endpoint reuses its connections.

    One client per (scheme, host name, checked address, port): a connection made for one
    host name (its TLS server name) is never reused for another. The least recently used
    clients are closed beyond `MAX_CLIENTS`.
    """

    MAX_CLIENTS = 256

    def __init__(self) -> None:
        self._clients: OrderedDict[tuple[str, str, str, int], httpx.AsyncClient] = OrderedDict()

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.aclose()

    async def _client(self, key: tuple[str, str, str, int], settings: WebhookSettings) -> httpx.AsyncClient:
        client = self._clients.pop(key, None)
        if client is None:
            limits = httpx.Limits(
                max_connections=settings.endpoint_concurrency, max_keepalive_connections=settings.endpoint_concurrency
            )
            client = httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False, limits=limits)
        self._clients[key] = client
        while len(self._clients) > self.MAX_CLIENTS:
            _, oldest = self._clients.popitem(last=False)
            await oldest.aclose()
        return client

    async def post(self, url: str, headers: dict[str, str], body: bytes, settings: WebhookSettings) -> Outcome:
        started = time.perf_counter()
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)

        def done(
            status: int | None, error: str | None, excerpt: str | None = None, retry: float | None = None
        ) -> Outcome:
            return Outcome(status, error, excerpt, int((time.perf_counter() - started) * 1000), retry)

        try:
            address = await _checked_address(host, port, settings)
        except (AddressRefused, OSError) as exc:
            return done(None, str(exc)[:500])
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        request_headers = {**headers, "host": parts.netloc.rsplit("@", 1)[-1], "user-agent": USER_AGENT}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        client = await self._client((parts.scheme, host, address, port), settings)
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt, so a receiver
            # that trickles its answer cannot hold a delivery longer.
            async with (
                asyncio.timeout(settings.timeout_seconds),
                client.stream("POST", target, content=body, headers=request_headers, extensions=extensions) as response,
            ):
                excerpt = b""
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
        except (TimeoutError, httpx.TimeoutException):
            return done(None, f"timed out after {settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return done(None, f"{type(exc).__name__}: {exc}"[:500])
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        return done(response.status_code, None, text, retry_after_seconds(response.headers.get("retry-after")))
