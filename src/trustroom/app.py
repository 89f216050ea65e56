"""The HTTP application: `create_app(settings)` wires settings, database, keys, routes and pages."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from . import __doc__ as product_summary
from . import http, logs, request_context, web
from .audit import routes as audit_routes
from .audit.service import DeferredAudit
from .auth import deps as auth_deps
from .auth import events as auth_events
from .auth import pages as auth_pages
from .auth import routes as auth_routes
from .auth.service.usage import UsageRecorder
from .clients import events as clients_events
from .clients import pages as clients_pages
from .clients import routes as clients_routes
from .db import Database
from .errors import AppError
from .exchange import deps as exchange_deps
from .exchange import events as exchange_events
from .exchange import pages as exchange_pages
from .exchange import routes as exchange_routes
from .generations import Generations
from .http import API_PREFIX
from .jobs import routes as jobs_routes
from .jobs.catalogue import Catalogue
from .keys import ServerKeys
from .metrics import Metrics
from .settings import Settings
from .signing import events as signing_events
from .signing import pages as signing_pages
from .signing import routes as signing_routes
from .webhooks import events as webhooks_events
from .webhooks import routes as webhooks_routes
from .worker import run_worker

VERSION = "0.1.0"


def _docs_assets() -> Path:
    """Swagger UI's files as the fastapi-offline package ships them (found, not imported)."""
    spec = importlib.util.find_spec("fastapi_offline")
    assert spec is not None and spec.origin is not None, "fastapi-offline is a dependency"
    return Path(spec.origin).parent / "static"


PAGE_PREFIXES = ("/portal", "/x/", "/s/")
DOCUMENT_UPLOAD_PATHS = rf"^({API_PREFIX}/exchanges/[^/]+|/portal/exchanges/[^/]+|/x)/folders/[^/]+/documents$"
DOSSIER_UPLOAD_PATHS = rf"^({API_PREFIX}|/portal)/dossiers/[^/]+/documents$"
# Boundaries and part headers around the file; the file itself is held to the exact limit.
MULTIPART_OVERHEAD = 64 * 1024
EVENT_TYPES = (
    *auth_events.TYPES,
    *clients_events.TYPES,
    *exchange_events.TYPES,
    *signing_events.TYPES,
    *webhooks_events.TYPES,
)


def create_app(settings: Settings | None = None, *, run_worker_in_process: bool | None = None) -> FastAPI:
    settings = settings or Settings()
    keys = ServerKeys.from_settings(settings)  # refuses to start without usable secrets
    logs.configure(settings.log_level, as_json=settings.log_json)
    metrics = Metrics()
    with_worker = settings.run_worker_in_process if run_worker_in_process is None else run_worker_in_process

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(_flush_every(USAGE_FLUSH_SECONDS, app.state.usage.flush, app, stop, "last-used times")),
            asyncio.create_task(_flush_every(AUDIT_FLUSH_SECONDS, app.state.audit_queue.flush, app, stop, "audit")),
        ]
        if with_worker:
            background.append(
                asyncio.create_task(run_worker(settings, stop, database=app.state.database, metrics=metrics))
            )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*background)
            await app.state.generations.close()
            await app.state.database.dispose()
            app.state.validation_executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="Trustroom API",
        version=VERSION,
        description=product_summary,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.database = Database(settings.resolved_database_url)
    app.state.generations = Generations(settings.resolved_database_url)
    app.state.auth_caches = auth_deps.AuthCaches(app.state.generations)
    app.state.pages = web.Pages(keys.derive_all("csrf"), secure_cookies=settings.cookies_secure)
    app.state.authenticator = auth_deps.authenticate_api_request
    app.state.metrics = metrics
    app.state.usage = UsageRecorder()
    app.state.audit_queue = DeferredAudit()
    app.state.catalogue = Catalogue(EVENT_TYPES)
    # Signature validation is CPU-bound pure Python: a few threads, each with its own loop.
    app.state.validation_executor = ThreadPoolExecutor(
        settings.signing.validation_concurrency, thread_name_prefix="signing-validate"
    )

    _install_error_handlers(app)
    # First, so probes (/healthz) match on the first try instead of after every API route.
    app.include_router(_operations_router())
    routers = (
        auth_routes.api_key_router,
        auth_routes.invitation_router,
        auth_routes.member_router,
        audit_routes.router,
    )
    platform = (jobs_routes.router, jobs_routes.events_router, webhooks_routes.router, webhooks_routes.messages)
    for router in (*routers, *platform, *clients_routes.ROUTERS, *exchange_routes.ROUTERS, *signing_routes.ROUTERS):
        app.include_router(router)
    app.include_router(auth_pages.router)
    for router in (*clients_pages.ROUTERS, *exchange_pages.ROUTERS, *signing_pages.ROUTERS):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    app.mount("/api/docs-assets", StaticFiles(directory=_docs_assets()), name="docs-assets")
    app.add_middleware(
        request_context.RequestContext,
        observe=metrics.observe_request,
        default_language=settings.default_language,
        max_body_bytes=settings.max_request_bytes,
        upload_limits=(
            (f"^{http.API_PREFIX}/imports/", settings.clients.import_max_bytes),
            (DOCUMENT_UPLOAD_PATHS, settings.exchange.upload_max_bytes + MULTIPART_OVERHEAD),
            (f"^{API_PREFIX}/signing/validate$", settings.signing.validate_max_bytes + MULTIPART_OVERHEAD),
            (DOSSIER_UPLOAD_PATHS, settings.signing.max_total_bytes + MULTIPART_OVERHEAD),
        ),
    )
    app.add_middleware(web.SecurityHeaders)
    return app


USAGE_FLUSH_SECONDS = 5.0
# Download audit entries wait at most this long in memory (and are written at shutdown).
AUDIT_FLUSH_SECONDS = 1.0
SHUTDOWN_FLUSH_ATTEMPTS = 3
log = logging.getLogger("trustroom.app")


async def _flush_every(
    seconds: float, flush: Callable[[Database], Awaitable[int]], app: FastAPI, stop: asyncio.Event, what: str
) -> None:
    """Write what requests noted in memory every few seconds, and once more on the way out
    (the lifespan ends after the last request has finished)."""
    while True:
        stopping = stop.is_set()
        # On the way out there is no next round: a failed write (say, a lock held a moment
        # too long) is tried a few more times before the process gives up on it.
        for attempt in range(SHUTDOWN_FLUSH_ATTEMPTS if stopping else 1):
            try:
                await flush(app.state.database)
                break
            except Exception:
                log.exception("could not write %s", what)
                if stopping and attempt + 1 < SHUTDOWN_FLUSH_ATTEMPTS:
                    await asyncio.sleep(1)
        if stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


def _install_error_handlers(app: FastAPI) -> None:
    http.install_exception_handlers(app)

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if request.url.path.startswith(PAGE_PREFIXES):
            return web.render_error(request, exc)
        return http.problem_response(exc, request.url.path)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        return RedirectResponse(f"{auth_deps.sign_in_path(request)}{web.language_query()}", status_code=303)

    app.add_exception_handler(AppError, app_error)

    async def client_sign_in_required(request: Request, exc: Exception) -> Response:
        return RedirectResponse(f"/x/login{web.language_query()}", status_code=303)

    app.add_exception_handler(auth_deps.SignInRequired, sign_in_required)
    app.add_exception_handler(exchange_deps.ClientSignInRequired, client_sign_in_required)


def _operations_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def home() -> Response:
        return RedirectResponse("/portal/", status_code=303)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """The process is up."""
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """The database answers and the data directory is writable."""
        checks: dict[str, str] = {}
        database: Database = request.app.state.database
        try:
            async with database.session(write=False) as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the kind is reported
            checks["database"] = f"failed: {type(exc).__name__}"
        data_dir: Path = request.app.state.settings.data_dir
        probe = data_dir / ".readyz"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
            checks["dataDir"] = "ok"
        except OSError as exc:
            checks["dataDir"] = f"failed: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503)

    @router.get("/metrics")
    async def prometheus(request: Request) -> PlainTextResponse:
        metrics: Metrics = request.app.state.metrics
        return PlainTextResponse(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/api/docs")
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="Trustroom API",
            swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs-assets/swagger-ui.css",
            swagger_favicon_url="/api/docs-assets/favicon.png",
        )

    return router
