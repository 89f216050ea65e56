"""Problem details, correlation ids and the language of every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from trustroom import i18n
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from .factories import TenantFixture, make_tenant


async def test_problem_details_carry_code_subcode_and_correlation_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/members", headers={"X-Correlation-Id": "abc-123"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "abc-123"
    body = response.json()
    assert body["correlationId"] == "abc-123"
    assert body["code"] == "Unauthorized" and body["subCode"] == "InvalidApiKey"
    assert body["status"] == 401 and body["type"].endswith("InvalidApiKey")
    assert body["instance"] == "/api/v1/members"


async def test_a_correlation_id_is_generated_when_missing_or_unusable(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Correlation-Id": "x" * 500}):
        response = await client.get("/healthz", headers=headers)
        generated = response.headers["x-correlation-id"]
        assert len(generated) == 32


async def test_validation_errors_name_each_field(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.post(
        "/api/v1/members", json={"email": "not-an-email", "role": "boss", "extra": 1}, headers=tenant.headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["subCode"] == "ValidationFailed"
    fields = {problem["field"]: problem for problem in body["errors"]}
    assert set(fields) == {"body.email", "body.role", "body.extra"}
    assert fields["body.extra"]["code"] == "extra_forbidden"


async def test_unknown_query_parameters_are_refused(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.get("/api/v1/members?pagesize=5&page=1&language=de", headers=tenant.headers)
    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["errors"]] == ["query.pagesize"]
    assert (await client.get("/api/v1/members?pageSize=5&language=de", headers=tenant.headers)).status_code == 200


async def test_a_literal_path_is_not_taken_for_an_id(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    # POST /contacts/search beside GET /contacts/{contact_id}: GET on it is not a contact.
    response = await client.get("/api/v1/contacts/search", headers=tenant.headers)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_a_body_past_the_limit_is_refused_declared_or_streamed(
    client: httpx.AsyncClient, tenant: TenantFixture, settings: Settings
) -> None:
    too_much = b"{" + b" " * settings.max_request_bytes + b"}"
    declared = await client.post("/api/v1/members", content=too_much, headers=tenant.headers)
    assert declared.status_code == 413 and declared.json()["subCode"] == "PayloadTooLarge"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(settings.max_request_bytes // 65536 + 1):
            yield b" " * 65536
        yield b"}"

    streamed = await client.post("/api/v1/members", content=chunks(), headers=tenant.headers)
    assert streamed.status_code == 413 and streamed.json()["subCode"] == "PayloadTooLarge"


async def test_malformed_json_is_a_validation_error(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.post(
        "/api/v1/members", content=b"{nope", headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "json_invalid"


async def test_unknown_route_and_method(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["subCode"] == "RouteNotFound"
    wrong = await client.put("/api/v1/members", headers=tenant.headers)
    assert wrong.status_code == 405 and wrong.json()["subCode"] == "MethodNotAllowed"
    assert wrong.headers["allow"] == "GET, POST"
    one = await client.put(f"/api/v1/members/{tenant.api_key_id}", headers=tenant.headers)
    assert one.headers["allow"] == "GET, PATCH"


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({"language": "de"}, {}, "Der API-Schlüssel ist ungültig."),
        ({"language": "FR"}, {"Accept-Language": "de"}, "La clé API n'est pas valide."),
        ({}, {"Accept-Language": "it-CH,it;q=0.9,en;q=0.5"}, "La chiave API non è valida."),
        ({}, {"Accept-Language": "es, de;q=0.3"}, "Der API-Schlüssel ist ungültig."),
        ({}, {}, "The API key is not valid."),
    ],
)
async def test_errors_are_localized(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str], expected: str
) -> None:
    response = await client.get("/api/v1/members", params=params, headers=headers)
    assert response.json()["detail"] == expected


async def test_tenant_default_language_applies_when_the_request_names_none(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys
) -> None:
    italian = await make_tenant(database, keys, language="it")
    response = await client.get("/api/v1/members/not-a-uuid", headers=italian.headers)
    assert response.status_code == 422
    assert response.json()["detail"] == i18n.translations("it").gettext("Some fields are not valid.")
    assert response.json()["detail"] != "Some fields are not valid."
    chosen = await client.get("/api/v1/members/not-a-uuid", params={"language": "en"}, headers=italian.headers)
    assert chosen.json()["detail"] == "Some fields are not valid."


async def test_unsupported_language_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", params={"language": "xx"})
    assert response.status_code == 400
    assert response.json()["subCode"] == "UnsupportedLanguage"


def test_every_message_is_translated() -> None:
    from babel.messages.pofile import read_po

    for language in ("de", "fr", "it"):
        with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = read_po(po)
        untranslated = [m.id for m in catalog if m.id and not m.string]
        assert not untranslated, (language, untranslated)
