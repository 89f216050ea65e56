"""The middleware around every request (`RequestContext`): correlation id, language,
body limit, access log, metrics and the last-resort 500 for anything unexpected.

Plain ASGI, not BaseHTTPMiddleware: it costs a few microseconds per request (ADR 0012).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors, i18n
from .errors import AppError
from .http import CLIENT_PAGES_PREFIX, CORRELATION_HEADER, LANGUAGE_PARAMETER, problem_response
from .logs import correlation_id

# The access log keeps the logger name it always had.
log = logging.getLogger("trustroom.http")
# An invite's link carries the signer's credential (ADR 0017): never written to the log.
INVITE_LINK = re.compile(r"^/s/[A-Za-z0-9_=-]{32,}")


def logged_path(path: str) -> str:
    return INVITE_LINK.sub("/s/…", path) if path.startswith("/s/") else path


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` that refuses a body growing past `limit` (also one sent without a length)."""
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise StarletteHTTPException(413)
        return message

    return capped


class RequestContext:
    """Correlation id, language, metrics, access log and the last-resort 500, for every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        observe: Callable[[str, str, int, float], None],
        default_language: str,
        max_body_bytes: int,
        upload_limits: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.app = app
        self.observe = observe
        self.default_language = default_language
        self.max_body_bytes = max_body_bytes
        # (path pattern, limit): upload endpoints that stream large bodies to storage.
        self.upload_limits = tuple((re.compile(pattern), limit) for pattern, limit in upload_limits)

    def body_limit(self, path: str) -> int:
        for pattern, limit in self.upload_limits:
            if pattern.match(path):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(CORRELATION_HEADER.lower(), "")
        cid = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        correlation_id.set(cid)
        started = time.perf_counter()
        status = 500
        response_started = False
        error = _choose_language(scope, headers, self.default_language)
        declared = headers.get("content-length", "")
        limit = self.body_limit(scope["path"])
        if error is None and declared.isdigit() and int(declared) > limit:
            error = errors.PayloadTooLarge()
        receive = _capped(receive, limit)

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-correlation-id"]
                message["headers"] = [*raw, (CORRELATION_HEADER.encode(), cid.encode())]
            await send(message)

        try:
            if error is not None:
                await problem_response(error, scope["path"])(scope, receive, send_with_context)
            else:
                await self.app(scope, receive, send_with_context)
        except Exception:
            log.exception("unhandled error", extra={"path": logged_path(scope["path"])})
            if response_started:
                raise
            await problem_response(errors.InternalError(), scope["path"])(scope, receive, send_with_context)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # The template without convertors (`{member_id}`, not `{member_id:uuid}`): a stable label.
            template = getattr(route, "path_format", None) or "unmatched"
            self.observe(scope["method"], template, status, elapsed)
            log.info(
                "%s %s %s",
                scope["method"],
                logged_path(scope["path"]),
                status,
                extra={"status": status, "durationMs": round(elapsed * 1000, 2), "route": template},
            )


def _choose_language(scope: Scope, headers: dict[str, str], default: str) -> AppError | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    asked = query.get(LANGUAGE_PARAMETER, [None])[0]
    chosen = i18n.normalize(asked) if asked else i18n.from_accept_language(headers.get("accept-language"))
    i18n.language_asked.set(bool(asked) and chosen is not None)
    # On the client portal the room's language (set by the advisor for this client) beats the
    # browser's guess: there only `?language=` counts as a choice, Accept-Language merely
    # renders the pages shown before the room is known.
    guess_counts = not scope["path"].startswith(CLIENT_PAGES_PREFIX)
    i18n.language_chosen.set(i18n.language_asked.get() or (chosen is not None and guess_counts))
    i18n.current_language.set(chosen or default)
    if asked and chosen is None:
        return errors.UnsupportedLanguage(language=asked)
    return None
