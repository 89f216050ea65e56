"""Health, readiness, metrics, OpenAPI and API docs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from trustroom.app import create_app
from trustroom.settings import Settings

from .factories import TenantFixture


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "dataDir": "ok"}


async def test_not_ready_without_database_or_data_dir(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    broken = settings.model_copy(update={"data_dir": blocker, "database_url": f"sqlite:///{tmp_path}/no/such/dir.db"})
    app = create_app(broken, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/readyz")
    await app.state.database.dispose()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("failed") and checks["dataDir"].startswith("failed")


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await client.get(f"/api/v1/members/{tenant.api_key_id}", headers=tenant.headers)
    text = (await client.get("/metrics")).text
    assert 'trustroom_http_requests_total{method="GET",route="/api/v1/members/{member_id}",status="404"} 1.0' in text
    assert "trustroom_http_request_duration_seconds_bucket" in text
    assert "trustroom_jobs_total" in text or "# HELP trustroom_jobs_total" in text


async def test_openapi_documents_examples_and_errors_for_every_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            problems = [status for status in operation["responses"] if status.startswith(("4", "5"))]
            assert {"401", "403", "404", "500"} <= set(problems), (method, path)
            for status in problems:
                content = operation["responses"][status]["content"]["application/problem+json"]
                assert content["examples"], (method, path, status)
            assert operation.get("summary") or operation.get("description"), (method, path)
    create_key = spec["paths"]["/api/v1/api-keys"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create_key["parameters"])
    schema = spec["components"]["schemas"]["ApiKeyCreate"]["properties"]
    assert schema["name"]["examples"] and schema["scopes"]["examples"]


async def test_api_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/api/docs-assets/swagger-ui-bundle.js" in page.text
    assert (await client.get("/api/docs-assets/swagger-ui-bundle.js")).status_code == 200
    assert (await client.get("/static/app.css")).headers["x-content-type-options"] == "nosniff"


async def test_root_leads_to_the_portal(client: httpx.AsyncClient) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/portal/"
    login = await client.get("/portal/", follow_redirects=False)
    assert login.headers["location"] == "/portal/login"


def test_start_up_refuses_a_missing_or_weak_secret(settings: Settings) -> None:
    from trustroom.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="TRUSTROOM_SECRET_KEY: not set"):
        create_app(settings.model_copy(update={"secret_key": None, "dev": False}))
    with pytest.raises(ConfigurationError, match="at least 32"):
        Settings(secret_key="short").secret()


def test_log_lines_carry_the_correlation_id() -> None:
    import json
    import logging

    from trustroom.logs import JsonFormatter, TextFormatter, correlation_id

    token = correlation_id.set("cid-42")
    try:
        record = logging.LogRecord("trustroom.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.route = "/api/v1/members"
        entry = json.loads(JsonFormatter().format(record))
        assert entry["correlationId"] == "cid-42" and entry["message"] == "hello world"
        assert entry["route"] == "/api/v1/members"
        assert "[cid-42]" in TextFormatter().format(record)
    finally:
        correlation_id.reset(token)
