"""Problem details, correlation ids and the language of every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from trustroom import errors, i18n
from trustroom.db import Database
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from .factories import TenantFixture, make_tenant

BAD_KEY = {"Authorization": "Bearer trk_not-a-key"}


async def test_problem_details_carry_code_subcode_and_correlation_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/members", headers={"X-Correlation-Id": "abc-123", **BAD_KEY})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "abc-123"
    body = response.json()
    assert body["correlationId"] == "abc-123"
    assert body["code"] == "Unauthorized" and body["subCode"] == "InvalidApiKey"
    assert body["status"] == 401 and body["type"].endswith("InvalidApiKey")
    assert body["instance"] == "/api/v1/members"


@pytest.mark.parametrize(
    ("authorization", "sub_code", "challenge"),
    [
        (None, "AuthenticationRequired", 'Bearer realm="trustroom"'),
        ("", "InvalidApiKey", 'Bearer realm="trustroom", error="invalid_token"'),
        ("Bearer", "InvalidApiKey", 'Bearer realm="trustroom", error="invalid_token"'),
        ("Basic dXNlcjpwYXNz", "InvalidApiKey", 'Bearer realm="trustroom", error="invalid_token"'),
        ("Bearer not-our-format", "InvalidApiKey", 'Bearer realm="trustroom", error="invalid_token"'),
        ("Bearer trk_unknown0123456789", "InvalidApiKey", 'Bearer realm="trustroom", error="invalid_token"'),
    ],
)
async def test_no_credentials_and_bad_credentials_are_told_apart(
    client: httpx.AsyncClient, authorization: str | None, sub_code: str, challenge: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get("/api/v1/members", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized" and response.json()["subCode"] == sub_code
    assert response.headers["www-authenticate"] == challenge


async def test_a_revoked_key_is_an_invalid_token(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    created = (
        await client.post("/api/v1/api-keys", json={"name": "gone", "scopes": ["members:read"]}, headers=tenant.headers)
    ).json()
    await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    response = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 401 and response.json()["subCode"] == "ApiKeyRevoked"
    assert response.headers["www-authenticate"] == 'Bearer realm="trustroom", error="invalid_token"'


async def test_the_openapi_document_names_every_401(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    unauthorized = document["paths"]["/api/v1/members"]["get"]["responses"]["401"]
    examples = unauthorized["content"]["application/problem+json"]["examples"]
    assert set(examples) == {"AuthenticationRequired", "InvalidApiKey", "ApiKeyRevoked", "ApiKeyExpired"}
    assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True


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
    fields = {problem["pointer"]: problem for problem in body["errors"]}
    assert set(fields) == {"/email", "/role", "/extra"}
    assert fields["/extra"]["code"] == "extra_forbidden"
    assert all(set(problem) == {"pointer", "message", "code"} for problem in body["errors"])


async def test_body_errors_point_into_the_body_as_sent(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    body = {
        "url": "https://crm.bank.example/hooks",
        "eventTypes": ["member.created", "x" * 101],
        "headers": {"Bad Name": "v", "X-Fine": "ok\r\nInjected: yes"},
        "rateLimit": "many",
    }
    response = await client.post("/api/v1/webhook-endpoints", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    pointers = {problem["pointer"]: problem["code"] for problem in response.json()["errors"]}
    # Pydantic's own location names (`[key]`, union members) never reach the pointer.
    assert pointers == {
        "/eventTypes/1": "string_too_long",
        "/headers/Bad Name": "string_pattern_mismatch",
        "/headers/X-Fine": "string_pattern_mismatch",
        "/rateLimit": "int_parsing",
    }
    empty = await client.post("/api/v1/members", headers={**tenant.headers, "Content-Type": "application/json"})
    assert [(p["pointer"], p["code"]) for p in empty.json()["errors"]] == [("", "missing")]


async def test_json_pointers_escape_slash_and_tilde(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    response = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://crm.bank.example/hooks", "headers": {"a/b~c": "v"}},
        headers=tenant.headers,
    )
    assert [problem["pointer"] for problem in response.json()["errors"]] == ["/headers/a~1b~0c"]


async def test_parameter_errors_name_the_parameter_and_where_it_is(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    response = await client.get("/api/v1/members?pagesize=5&page=1&language=de", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "pagesize"
    assert response.json()["errors"][0]["in"] == "query"
    assert "pointer" not in response.json()["errors"][0]
    assert (await client.get("/api/v1/members?pageSize=5&language=de", headers=tenant.headers)).status_code == 200
    too_big = await client.get("/api/v1/members?pageSize=500", headers=tenant.headers)
    assert [(p["parameter"], p["in"]) for p in too_big.json()["errors"]] == [("pageSize", "query")]
    path = await client.get("/api/v1/exchanges/not-a-uuid", headers=tenant.headers)
    assert [(p["parameter"], p["in"], p["code"]) for p in path.json()["errors"]] == [
        ("exchange_id", "path", "uuid_parsing")
    ]
    header = await client.post(
        "/api/v1/api-keys",
        json={"name": "k", "scopes": ["members:read"]},
        headers={**tenant.headers, "Idempotency-Key": "k" * 201},
    )
    assert [(p["parameter"], p["in"]) for p in header.json()["errors"]] == [("Idempotency-Key", "header")]


async def test_a_body_that_is_not_json_says_where_it_breaks(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    broken = b'{\n  "email": "anna@bank.example"\n  "role": "advisor"\n}'
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/members", content=broken, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["subCode"]) == ("BadRequest", "JsonInvalid")
    assert body["detail"] == "The body is not valid JSON: Expecting ',' delimiter at line 3, column 3."
    german = await client.post("/api/v1/members?language=de", content=b"[1, 2", headers=headers)
    assert (
        german.json()["detail"]
        == "Der Anfragetext ist kein gültiges JSON: Expecting ',' delimiter in Zeile 1, Spalte 6."
    )
    # Filters sent as JSON are parsed by the route itself, with the same answer.
    export = await client.post("/api/v1/contacts/export", content=b'{"where": }', headers=headers)
    assert export.status_code == 400 and export.json()["subCode"] == "JsonInvalid"
    assert export.json()["detail"].endswith("at line 1, column 11.")
    # JSON is UTF-8 text: a stray byte is named like a syntax error, on either kind of route.
    for path in ("/api/v1/members", "/api/v1/contacts/export"):
        latin1 = await client.post(path, content=b'{\n "email": "r\xe9a@bank.example"}', headers=headers)
        assert latin1.status_code == 400 and latin1.json()["subCode"] == "JsonInvalid", latin1.text
        assert latin1.json()["detail"] == "The body is not valid JSON: Invalid UTF-8 at line 2, column 13."


@pytest.mark.parametrize(
    ("content_type", "status", "sub_code"),
    [
        ("text/plain", 415, "UnsupportedMediaType"),
        ("application/x-www-form-urlencoded", 415, "UnsupportedMediaType"),
        ("multipart/form-data; boundary=x", 415, "UnsupportedMediaType"),
        (None, 415, "ContentTypeMissing"),
        ("application/json; charset=utf-8", 201, None),
        ("application/merge-patch+json", 201, None),
    ],
)
async def test_a_json_route_takes_only_json(
    client: httpx.AsyncClient, tenant: TenantFixture, content_type: str | None, status: int, sub_code: str | None
) -> None:
    headers = dict(tenant.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = b'{"name": "typed", "scopes": ["members:read"]}'
    response = await client.post("/api/v1/api-keys?language=fr", content=body, headers=headers)
    assert response.status_code == status, response.text
    if sub_code is not None:
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["code"], response.json()["subCode"]) == ("UnsupportedMediaType", sub_code)
        error = errors.ContentTypeMissing if content_type is None else errors.UnsupportedMediaType
        french = i18n.translations("fr").gettext(error.message)
        assert french != error.message
        params = {"content_type": content_type, "accepted": "application/json"}
        assert response.json()["detail"] == french % params
        created = await client.get("/api/v1/api-keys?pageSize=200", headers=tenant.headers)
        assert "typed" not in {key["name"] for key in created.json()["items"]}


async def test_routes_without_a_json_body_ignore_the_content_type(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    headers = {**tenant.headers, "Content-Type": "text/plain"}
    assert (await client.get("/api/v1/members", headers=headers)).status_code == 200
    # An upload route takes multipart only, with its own 415.
    uploaded = await client.post(
        "/api/v1/exchanges/0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d/folders/0190b5a0-6c1e-7a3b-9c2d-3e4f5a6b7c8d/documents",
        content=b"{}",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert uploaded.status_code in (404, 415)


async def test_the_openapi_document_shows_415_on_json_routes_only(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert "415" in paths["/api/v1/members"]["post"]["responses"]
    assert (
        "JsonInvalid"
        in paths["/api/v1/members"]["post"]["responses"]["400"]["content"]["application/problem+json"]["examples"]
    )
    assert "415" not in paths["/api/v1/members"]["get"]["responses"]


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

    json_headers = {**tenant.headers, "Content-Type": "application/json"}
    streamed = await client.post("/api/v1/members", content=chunks(), headers=json_headers)
    assert streamed.status_code == 413 and streamed.json()["subCode"] == "PayloadTooLarge"


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
    response = await client.get("/api/v1/members", params=params, headers={**headers, **BAD_KEY})
    assert response.json()["detail"] == expected


async def test_tenant_default_language_applies_when_the_request_names_none(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys
) -> None:
    italian = await make_tenant(database, keys, language="it")
    response = await client.get("/api/v1/exchanges/not-a-uuid", headers=italian.headers)
    assert response.status_code == 422
    assert response.json()["detail"] == i18n.translations("it").gettext("Some fields are not valid.")
    assert response.json()["detail"] != "Some fields are not valid."
    chosen = await client.get("/api/v1/exchanges/not-a-uuid", params={"language": "en"}, headers=italian.headers)
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
