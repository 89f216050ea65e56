"""HTML plumbing shared by every page: templates, localization, CSRF and security headers.

CSRF protection uses a token bound to a random, HttpOnly seed cookie by an HMAC under a
server key: a forged form cannot carry a valid token because the attacker can neither
read the seed nor compute the HMAC. Form posts must also come from our own origin when the
browser says where they come from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import i18n
from .errors import AppError, CsrfFailed

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
CSRF_COOKIE = "trustroom_csrf"
CSRF_FIELD = "csrf_token"
# How long a browser remembers the tenant of the last sign-in page it showed (see
# Pages.remember_tenant): about the longest lifetime browsers allow a cookie.
TENANT_COOKIE_MAX_AGE = 400 * 24 * 3600

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Pages:
    """The template environment and CSRF key of one app."""

    def __init__(self, csrf_keys: list[bytes], *, secure_cookies: bool) -> None:
        # The first key signs new tokens; older ones (a server-secret rotation) still verify.
        self.csrf_keys = csrf_keys
        self.secure_cookies = secure_cookies
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext, i18n.ngettext, newstyle=True
        )
        # Codes, moments and numbers as the page's language writes them (see i18n).
        self.env.filters.update(
            country=i18n.country_name,
            subdivision=i18n.subdivision_name,
            language_name=i18n.language_name,
            datetime=i18n.format_datetime,
            day=i18n.format_day,
            number=i18n.format_number,
            filesize=i18n.format_size,
        )

    def _seed(self, request: Request) -> str:
        seed: str | None = getattr(request.state, "csrf_seed", None)
        if seed is None:
            seed = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
            request.state.csrf_seed = seed
        return seed

    def csrf_token(self, request: Request) -> str:
        return hmac.new(self.csrf_keys[0], self._seed(request).encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, token: str | None) -> None:
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise CsrfFailed()
        seed = request.cookies.get(CSRF_COOKIE)
        if not seed or not token:
            raise CsrfFailed()
        valid = (hmac.new(key, seed.encode(), hashlib.sha256).hexdigest() for key in self.csrf_keys)
        if not any(hmac.compare_digest(expected, token) for expected in valid):
            raise CsrfFailed()

    def refuse(
        self,
        request: Request,
        template: str,
        *,
        status: int,
        message: str,
        retry_after: int | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A form page again, with `message` as its error (and when to retry, if known)."""
        response = self.render(request, template, status_code=status, error=message, **context)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def cookie_name(self, base: str) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless Secure, host-only and Path=/.
        return f"__Host-{base}" if self.secure_cookies else base

    def cookie(self, request: Request, base: str) -> str | None:
        return request.cookies.get(self.cookie_name(base))

    def set_cookie(self, response: Response, base: str, value: str, *, max_age: int) -> None:
        """A session-like cookie: HttpOnly, SameSite=Lax, Secure outside development."""
        response.set_cookie(
            self.cookie_name(base), value, max_age=max_age, httponly=True, secure=self.secure_cookies, samesite="lax"
        )

    def clear_cookie(self, response: Response, base: str) -> None:
        # Browsers ignore a __Host- cookie, even one that deletes, unless it is Secure with Path=/.
        response.delete_cookie(
            self.cookie_name(base), path="/", secure=self.secure_cookies, httponly=True, samesite="lax"
        )

    def remember_tenant(self, response: Response, base: str, tenant_id: UUID) -> None:
        """Remember the tenant of a sign-in page in this browser, so the portal's sign-in URL
        without a tenant (after signing out, when a session ended) can lead back to it.
        Not a secret: tenant ids appear in sign-in URLs."""
        self.set_cookie(response, base, str(tenant_id), max_age=TENANT_COOKIE_MAX_AGE)

    def remembered_tenant(self, request: Request, base: str) -> UUID | None:
        """The tenant `remember_tenant` noted in this browser, if any (a garbled cookie is none)."""
        remembered = self.cookie(request, base)
        try:
            return UUID(remembered) if remembered else None
        except ValueError:
            return None

    def render(self, request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request,
            language=i18n.current_language.get(),
            languages=("de", "en", "fr", "it"),
            csrf_field=CSRF_FIELD,
            csrf_token=self.csrf_token(request),
            language_query=language_query(),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
        if request.cookies.get(CSRF_COOKIE) != self._seed(request):
            response.set_cookie(
                CSRF_COOKIE, self._seed(request), httponly=True, secure=self.secure_cookies, samesite="lax", path="/"
            )
        return response


def language_query() -> str:
    """`?language=xx` when the visitor chose a language, so redirects keep it."""
    return f"?language={i18n.current_language.get()}" if i18n.language_chosen.get() else ""


def render_error(request: Request, error: AppError) -> HTMLResponse:
    """The HTML twin of a problem response, for page routes."""
    pages = get_pages(request)
    if request.url.path.startswith("/s/"):
        # A signer has no account to sign in to: a friendly page that says what happened.
        detail = i18n.gettext(error.text, **error.params)
        return pages.render(
            request, "sign/refused.html", status_code=error.status, detail=detail, sub_code=error.sub_code
        )
    return pages.render(
        request,
        "error.html",
        status_code=error.status,
        title=error.code,
        detail=i18n.gettext(error.text, **error.params),
        sub_code=error.sub_code,
        sign_in_url="/x/login" if request.url.path.startswith("/x/") else "/portal/login",
    )


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


class SecurityHeaders:
    """Adds `nosniff` to every answer, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)
