from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings as hsettings
from schemathesis.python import asgi

from trustroom.app import create_app
from trustroom.settings import Settings

from .factories import TenantFixture


@pytest.fixture
def api_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings, run_worker_in_process=False)
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture
def api_schema(api_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", api_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api(case: schemathesis.Case, tenant: TenantFixture) -> None:
    case.call_and_validate(headers=tenant.headers)
