"""OpenAPI conformance: Schemathesis drives every operation of /api/v1/openapi.json.

The app runs in-process over ASGI (a fresh `create_app(settings)` per test) and every
request carries the all-scopes API key of a fresh tenant. Responses go through all of
Schemathesis' default checks: no 5xx, status code / content type / headers / body as
documented, invalid input rejected, valid input accepted, unsupported methods answered
with 405 and a matching `Allow`.

- `test_*_operations_conform`: generated requests (examples, coverage, fuzzing), in groups.
- `test_stateful_links`: scenarios along the links Schemathesis infers (create -> read /
  update / revoke), so the 2xx answers of the by-id operations are checked as well;
  random ids alone only ever reach their 404s.
- `test_idempotent_replay_and_key_reuse_conform`: the answers the fuzzing avoids on purpose.
- `test_edge_input_conforms`: inputs that once answered 500, kept as fixed cases.

Generation is derandomized, so a run is reproducible; drop `derandomize` locally to
explore further.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.python import asgi

from trustroom.app import create_app
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from .conftest import ON_POSTGRES
from .factories import TenantFixture, make_tenant

OPENAPI_PATH = "/api/v1/openapi.json"
IDEMPOTENCY_HEADER = "Idempotency-Key"

# `format: email` leaves open which addresses count; the API takes deliverable-looking
# ones (email-validator refuses special-use domains such as `.test`, which Schemathesis'
# own email strategy produces), so valid addresses come from Hypothesis' `emails()`.
schemathesis.openapi.format("email", st.emails())

# The API contract is the same code over either database: PostgreSQL runs fewer examples,
# enough to catch what only it refuses (NUL characters, out-of-range numbers). Both are
# sized to keep the whole suite well within its time budget as operations are added
# (130 operations: 25 examples each made these the suite's longest tests; 18 since).
SCHEMATHESIS_SETTINGS = hypothesis.settings(
    max_examples=12 if ON_POSTGRES else 18,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STATEFUL_SETTINGS = hypothesis.settings(SCHEMATHESIS_SETTINGS, max_examples=15, stateful_step_count=6)

# DELETE /api-keys/{id} revokes: the key stays readable with `revokedAt` set, as ApiKeyRead
# documents. `use_after_free` expects a 404 after a DELETE, which this API does not promise.
OPERATIONS_CONFIG = [
    # Which hosts may receive webhooks (https only, no private addresses) is policy that
    # JSON Schema cannot state; a well-formed URL may still be refused with a 400.
    *(
        {"include-name": name, "checks": {"positive_data_acceptance": {"enabled": False}}}
        for name in ("POST /api/v1/webhook-endpoints", "PATCH /api/v1/webhook-endpoints/{endpoint_id}")
    ),
    {"include-name": "GET /api/v1/api-keys/{api_key_id}", "checks": {"use_after_free": {"enabled": False}}},
    # The stateful run links `statusId` of GET /change-request-statuses (a number) into this
    # path by name; the path takes an import's status id, a UUID, so a number is refused (422).
    {
        "include-name": "GET /api/v1/imports/status/{status_id}",
        "checks": {"positive_data_acceptance": {"enabled": False}},
    },
    # Contact details follow the tenant's own schema (GET /api/v1/schemas/contact), which the
    # OpenAPI document cannot state: schema-valid bodies may still break a tenant rule (400
    # DetailsInvalid), as may a username that is taken or a field key the schema lacks. A
    # search filter names fields of that schema, and its `query` must be GraphQL; the same
    # holds for legal entities, whose access policies must name existing contacts.
    *(
        {"include-name": name, "checks": {"positive_data_acceptance": {"enabled": False}}}
        for name in (
            "POST /api/v1/contacts",
            "POST /api/v1/contacts/search",
            "PUT /api/v1/contacts/{contact_id}/details",
            "PATCH /api/v1/contacts/{contact_id}/details",
            "PUT /api/v1/contacts/{contact_id}/username",
            "PUT /api/v1/schemas/{key}",
            "POST /api/v1/schemas/{key}/fields",
            "PUT /api/v1/lists/{list_key}/items",
            "POST /api/v1/contacts/{contact_id}/change-requests/{change_request_id}/review",
            "POST /api/v1/legal-entities",
            "PUT /api/v1/legal-entities/{legal_entity_id}/details",
            "PATCH /api/v1/legal-entities/{legal_entity_id}/details",
            "PUT /api/v1/legal-entities/{legal_entity_id}/contacts",
            "POST /api/v1/legal-entities/{legal_entity_id}/change-requests/{change_request_id}/review",
            # Advisors must be active members of the tenant (else 400 AdvisorNotFound or
            # AdvisorDisabled), and a reassignment needs two different members.
            "PUT /api/v1/contacts/{contact_id}/advisors",
            "POST /api/v1/contacts/advisors/reassign",
            # Usernames and external ids must be unique (a repeated example is refused with
            # 400), a contactId must name an existing contact, and a mobile number that fits
            # the E.164 pattern must also exist in the numbering plan (else 422).
            "POST /api/v1/exchanges",
            "PATCH /api/v1/exchanges/{exchange_id}",
            # A name with nothing usable left once cleaned (only dots, spaces or control
            # characters) is refused with 400 NameInvalid.
            "POST /api/v1/exchanges/{exchange_id}/folders",
            "PATCH /api/v1/exchanges/{exchange_id}/folders/{folder_id}",
            # Export filters name schema fields; an upload must hold JSON arrays of records,
            # and a sync needs an uploaded file waiting (else 400 NothingToImport).
            "POST /api/v1/contacts/export",
            "POST /api/v1/legal-entities/export",
            "POST /api/v1/imports/contacts",
            "POST /api/v1/imports/legal-entities",
            "POST /api/v1/imports/contacts/sync",
            "POST /api/v1/imports/legal-entities/sync",
            # A dossier needs an owner (an app acting for nobody names an active member), a
            # locale in one of our four languages, contacts and an exchange that exist and
            # belong together, and invitees that fit its method (an aes signer authenticates,
            # otp_sms needs a phone number); ves and qes are refused until a trust service
            # is supported (400 MethodNotAvailable).
            "POST /api/v1/dossiers",
            "PATCH /api/v1/dossiers/{dossier_id}",
            # A schema-valid upload is any file; validation wants a PDF (else 400 NotAPdf).
            "POST /api/v1/signing/validate",
        )
    ),
    # A picture must be a PNG or JPEG image, which a base64 string in the schema cannot say.
    {
        "include-name": "PUT /api/v1/contacts/{contact_id}/profile-picture",
        "checks": {"positive_data_acceptance": {"enabled": False}},
    },
]


NEGATIVE_DATA_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


def schemathesis_config(api_key: str) -> schemathesis.Config:
    """Checks as configured above, with the tenant's key for the schema's Bearer scheme.

    Given as auth (not as extra headers), Schemathesis knows when a case leaves the key
    out on purpose, and then expects the 401 it gets.
    """
    return schemathesis.Config.from_dict(
        {
            "operations": OPERATIONS_CONFIG,
            "auth": {"openapi": {"HTTPBearer": {"bearer": api_key}}},
            # Oversized invalid bodies are refused before they are read (413, documented).
            "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_STATUSES}},
        }
    )


@pytest.fixture
def api_app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings, run_worker_in_process=False)
    yield application
    # Loading the schema started the app's lifespan on Schemathesis' event-loop thread;
    # ending it there disposes the app's database engine on the loop that opened it.
    asgi.shutdown_lifespans()


@pytest.fixture
def api_schema(api_app: FastAPI, tenant: TenantFixture, request: pytest.FixtureRequest) -> schemathesis.BaseSchema:
    # Schemathesis' lazy loader (`from_fixture`) renames the running item through
    # `Node._nodeid`, which pytest 9.2 no longer has; a no-op where it still exists.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_asgi(OPENAPI_PATH, api_app, config=schemathesis_config(tenant.api_key))


schema = schemathesis.pytest.from_fixture("api_schema")


def _fresh_idempotency_key(case: schemathesis.Case) -> None:
    """A generated but valid Idempotency-Key becomes unique.

    Hypothesis draws the same few keys again and again; re-sending one with another body
    is *meant* to be refused (IdempotencyKeyReused), which would read as valid data being
    rejected. Invalid keys (empty, too long) stay as generated, for the negative cases.
    """
    headers = case.headers or {}
    key = headers.get(IDEMPOTENCY_HEADER)
    if isinstance(key, str) and 1 <= len(key) <= 200:
        headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex


def _assert_authenticated(response: schemathesis.Response, case: schemathesis.Case, tenant: TenantFixture) -> None:
    # 401 is a documented answer, so a key that stopped working would pass every check
    # while testing nothing but the authentication error. The schema declares Bearer auth,
    # so Schemathesis also sends cases without the header on purpose (and expects 401).
    sent = response.request.headers.get("Authorization")
    if sent != tenant.headers["Authorization"]:
        return
    assert response.status_code != 401, f"{case.operation.label}: the tenant's API key was refused: {response.text}"


def _exercise(case: schemathesis.Case, tenant: TenantFixture) -> schemathesis.Response:
    _fresh_idempotency_key(case)
    response = case.call_and_validate()
    _assert_authenticated(response, case, tenant)
    return response


# The operations in four groups, each its own test, so that the test processes share them
# out (one test running every operation was the suite's longest by far). A new path
# prefix must join a group: `test_every_operation_is_in_a_group` says when one is missing.
GROUPS = {
    "contacts": r"^/api/v1/contacts",
    "signing": r"^/api/v1/(dossiers|signer|signing)\b",
    "records": r"^/api/v1/(exchanges|legal-entities|lists|exports|change-request-statuses|schemas)\b",
    "platform": r"^/api/v1/(webhook-endpoints|webhook-messages|members|api-keys|imports|audit-events|jobs|events)\b",
}


@schema.include(path_regex=GROUPS["contacts"]).parametrize()
@SCHEMATHESIS_SETTINGS
@pytest.mark.timeout(600)
def test_contact_operations_conform(case: schemathesis.Case, tenant: TenantFixture) -> None:
    _exercise(case, tenant)


@schema.include(path_regex=GROUPS["signing"]).parametrize()
@SCHEMATHESIS_SETTINGS
@pytest.mark.timeout(600)
def test_signing_operations_conform(case: schemathesis.Case, tenant: TenantFixture) -> None:
    _exercise(case, tenant)


@schema.include(path_regex=GROUPS["records"]).parametrize()
@SCHEMATHESIS_SETTINGS
@pytest.mark.timeout(600)
def test_exchange_and_record_operations_conform(case: schemathesis.Case, tenant: TenantFixture) -> None:
    _exercise(case, tenant)


@schema.include(path_regex=GROUPS["platform"]).parametrize()
@SCHEMATHESIS_SETTINGS
@pytest.mark.timeout(600)
def test_platform_operations_conform(case: schemathesis.Case, tenant: TenantFixture) -> None:
    _exercise(case, tenant)


def test_every_operation_is_in_a_group(api_app: FastAPI) -> None:
    paths = [path for path in api_app.openapi()["paths"] if path.startswith("/api/v1/")]
    for path in paths:
        matching = [name for name, pattern in GROUPS.items() if re.match(pattern, path)]
        assert len(matching) == 1, f"{path} is in the groups {matching}: give it exactly one"


def test_stateful_links(api_schema: schemathesis.BaseSchema, settings: Settings, keys: ServerKeys) -> None:
    """Scenarios along the inferred links, each in a tenant of its own.

    A fresh tenant per scenario keeps scenarios independent (a replayed member create
    would otherwise hit EmailNotUnique), which Hypothesis needs to replay and shrink.
    """
    with asyncio.Runner() as runner:
        database = Database(settings.resolved_database_url)

        class Scenarios(api_schema.as_state_machine()):  # type: ignore[misc]
            tenant: TenantFixture

            def setup(self) -> None:
                self.tenant = runner.run(make_tenant(database, keys))

            def before_call(self, case: schemathesis.Case) -> None:
                _fresh_idempotency_key(case)

            def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
                return {"headers": self.tenant.headers}

            def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
                super().after_call(response, case)  # records the step for the stateful checks
                _assert_authenticated(response, case, self.tenant)

        try:
            Scenarios.run(settings=STATEFUL_SETTINGS)
        finally:
            runner.run(database.dispose())


def test_idempotent_replay_and_key_reuse_conform(api_schema: schemathesis.BaseSchema, tenant: TenantFixture) -> None:
    create = api_schema["/api/v1/api-keys"]["POST"]
    headers = {**tenant.headers, IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    body = {"name": "CRM integration", "scopes": ["contacts:read"]}

    first = create.Case(body=body).call_and_validate(headers=headers)
    replay = create.Case(body=body).call_and_validate(headers=headers)
    reused = create.Case(body={**body, "name": "Other"}).call_and_validate(headers=headers)

    assert (first.status_code, replay.status_code, reused.status_code) == (201, 201, 422)
    assert replay.headers["idempotency-replayed"] == ["true"]
    assert replay.json() == first.json()


@pytest.mark.parametrize(
    ("path", "query"),
    [
        pytest.param("/api/v1/api-keys", {"page": 461168601842738791, "pageSize": 200}, id="api-keys-page-overflow"),
        pytest.param("/api/v1/members", {"page": 9223372036854775807}, id="members-page-overflow"),
        pytest.param("/api/v1/audit-events", {"page": 99999999999999999999}, id="audit-events-page-overflow"),
        pytest.param("/api/v1/audit-events", {"to": "0.5"}, id="audit-events-number-as-to"),
        pytest.param("/api/v1/audit-events", {"from": "2024-01-01T00:00:00"}, id="audit-events-naive-from"),
        pytest.param("/api/v1/audit-events", {"to": "2024-01-01"}, id="audit-events-date-only-to"),
        pytest.param("/api/v1/audit-events", {"from": "9999-12-31T23:59:59-23:59"}, id="audit-events-from-past-9999"),
        pytest.param("/api/v1/audit-events", {"actor": "\x00"}, id="audit-events-nul-actor"),
        pytest.param("/api/v1/audit-events", {"targetId": "\x00"}, id="audit-events-nul-target"),
    ],
)
def test_edge_input_conforms(
    api_schema: schemathesis.BaseSchema, tenant: TenantFixture, path: str, query: dict[str, Any]
) -> None:
    """Inputs that answered 500 (page OFFSET overflow, naive or out-of-range date-times, NUL
    reaching PostgreSQL) or were accepted against the schema: refused as documented now."""
    response = _exercise(api_schema[path]["GET"].Case(query=query, headers=dict(tenant.headers)), tenant)
    assert response.status_code == 422, response.text
