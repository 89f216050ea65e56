"""Details schemas (read, fields, layout, versioned update) and lists (built-in and the tenant's)."""

from __future__ import annotations

import httpx
import jsonschema

from trustroom.http import API_PREFIX

from ..factories import TenantFixture
from .conftest import Person, anna

SCHEMAS = f"{API_PREFIX}/schemas"
LISTS = f"{API_PREFIX}/lists"


async def test_the_default_schema_validates_details_elsewhere(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    """The JSON-Schema-only read is usable by an independent validator as it stands."""
    document = (await client.get(f"{SCHEMAS}/contact/json-schema", headers=tenant.headers)).json()["jsonSchema"]
    jsonschema.Draft202012Validator.check_schema(document)
    validator = jsonschema.Draft202012Validator(document)
    assert validator.is_valid(anna())
    missing = anna()
    del missing["personalInformation"]["lastName"]
    assert not validator.is_valid(missing)  # isMandatory fields are in `required` too
    assert not validator.is_valid(anna(personalInformation={"hobby": "golf"}))


async def test_schema_fields_and_layout(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    schema = (await client.get(f"{SCHEMAS}/contact?language=de", headers=tenant.headers)).json()
    assert schema["version"] == 0
    by_key = {field["key"]: field for field in schema["fields"]}
    email = by_key["communication.email"]
    assert email["requiresVerification"] and email["isContactUpdatable"] and email["isPersonalData"]
    assert email["label"] == "E-Mail"
    assert (
        by_key["personalInformation.lastName"]["isApprovalRequired"]
        and by_key["personalInformation.lastName"]["isMandatory"]
    )
    assert by_key["address.country"]["listKey"] == "countries"
    assert set(by_key["personalInformation.firstName"]["labels"]) == {"de", "en", "fr", "it"}

    layout = (await client.get(f"{SCHEMAS}/contact/layout?language=fr", headers=tenant.headers)).json()["fields"]
    assert [section["key"] for section in layout] == ["personalInformation", "communication", "address"]
    assert layout[2]["label"] == "Adresse"
    assert [child["key"] for child in layout[2]["children"]][:2] == ["address.street", "address.postalCode"]

    picked = await client.post(
        f"{SCHEMAS}/contact/fields", headers=tenant.headers, json={"layoutPathKey": "communication"}
    )
    assert [field["key"] for field in picked.json()["fields"]] == ["communication.email", "communication.mobile"]
    named = await client.post(
        f"{SCHEMAS}/contact/fields", headers=tenant.headers, json={"fieldKeys": ["address.city", "nope.field"]}
    )
    assert named.status_code == 400
    assert named.json()["errors"][0]["pointer"] == "/fieldKeys/1"
    assert (await client.get(f"{SCHEMAS}/unknown", headers=tenant.headers)).json()["subCode"] == "SchemaNotFound"
    legal = (await client.get(f"{SCHEMAS}/legalEntity", headers=tenant.headers)).json()
    assert "details.name" in {field["key"] for field in legal["fields"]}


async def test_schema_update_is_versioned_checked_and_admin_only(
    client: httpx.AsyncClient, tenant: TenantFixture, admin: Person, advisor: Person
) -> None:
    current = (await client.get(f"{SCHEMAS}/contact", headers=admin.headers)).json()
    document = current["jsonSchema"]
    document["properties"]["communication"]["properties"]["fax"] = {"type": "string", "x-field": {"isExportable": True}}
    refused = await client.put(
        f"{SCHEMAS}/contact", headers=advisor.headers, json={"jsonSchema": document, "concurrencyToken": "0"}
    )
    assert refused.status_code == 403
    saved = await client.put(
        f"{SCHEMAS}/contact", headers=admin.headers, json={"jsonSchema": document, "concurrencyToken": "0"}
    )
    assert saved.json() == {"version": 1, "concurrencyToken": "1"}
    stale = await client.put(
        f"{SCHEMAS}/contact", headers=admin.headers, json={"jsonSchema": document, "concurrencyToken": "0"}
    )
    assert stale.json()["subCode"] == "ConcurrencyTokenMismatch"
    for bad, reason in [
        ({"type": "object", "properties": {"a": {"type": "string", "x-field": {"isExportable": "yes"}}}}, "true"),
        ({"type": "object", "properties": {"a": {"type": 5}}}, "valid"),
        ({"type": "array"}, "object"),
        ('{"type": ', "JSON"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "x-field": {"requiresVerification": True}}}},
            "email",
        ),
    ]:
        answer = await client.put(
            f"{SCHEMAS}/contact", headers=admin.headers, json={"jsonSchema": bad, "concurrencyToken": "1"}
        )
        assert answer.json()["subCode"] == "SchemaInvalid", (bad, answer.text)
        assert reason in answer.json()["detail"], answer.json()["detail"]
    now = (await client.get(f"{SCHEMAS}/contact", headers=tenant.headers)).json()
    assert now["version"] == 1
    assert "communication.fax" in {field["key"] for field in now["fields"]}


async def test_built_in_lists_are_localized_and_hierarchical(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    items = (
        await client.post(f"{LISTS}/items?language=de", headers=tenant.headers, json={"listKeys": ["countries"]})
    ).json()["items"]
    assert {"listKey": "countries", "id": "CH", "name": "Schweiz", "parentId": None} in items
    found = (
        await client.post(f"{LISTS}/countries/lookup?language=fr", headers=tenant.headers, json={"filter": "sui"})
    ).json()
    assert found["items"][0]["id"] == "CH" and found["items"][0]["name"] == "Suisse"
    default_limit = (await client.post(f"{LISTS}/countries/lookup", headers=tenant.headers, json={})).json()
    assert len(default_limit["items"]) == 10 and default_limit["totalCount"] == 249
    cantons = (
        await client.post(
            f"{LISTS}/subdivisions/lookup",
            headers=tenant.headers,
            json={"isFilteredByHierarchy": True, "hierarchyListItemId": "CH", "filter": "zür", "limit": 5},
        )
    ).json()
    assert [item["id"] for item in cantons["items"]] == ["CH-ZH"]
    included = (
        await client.post(
            f"{LISTS}/countries/lookup?language=fr",
            headers=tenant.headers,
            json={"filter": "sui", "includeId": "DE", "limit": 1},
        )
    ).json()
    assert [item["id"] for item in included["items"]] == ["DE", "CH"]
    unknown = await client.post(f"{LISTS}/nope/lookup", headers=tenant.headers, json={})
    assert unknown.status_code == 404


async def test_tenant_lists_and_contact_types(client: httpx.AsyncClient, tenant: TenantFixture, admin: Person) -> None:
    types = (
        await client.post(f"{LISTS}/items?language=it", headers=tenant.headers, json={"listKeys": ["contactTypes"]})
    ).json()["items"]
    assert [(item["id"], item["name"]) for item in types] == [("1", "Cliente"), ("2", "Potenziale cliente")]
    body = {"items": [{"id": "7", "labels": {"en": "Foundation", "de": "Stiftung"}}]}
    defined = await client.put(f"{LISTS}/contactTypes/items", headers=admin.headers, json=body)
    assert defined.status_code == 204
    types = (
        await client.post(f"{LISTS}/items?language=de", headers=tenant.headers, json={"listKeys": ["contactTypes"]})
    ).json()["items"]
    assert [(item["id"], item["name"]) for item in types] == [("7", "Stiftung")]
    old_type = await client.post(
        f"{API_PREFIX}/contacts", headers=tenant.headers, json={"contactTypeId": 1, "username": "t1", "details": anna()}
    )
    assert old_type.json()["subCode"] == "ContactTypeUnknown"
    new_type = await client.post(
        f"{API_PREFIX}/contacts", headers=tenant.headers, json={"contactTypeId": 7, "username": "t1", "details": anna()}
    )
    assert new_type.status_code == 201
    fixed = await client.put(f"{LISTS}/countries/items", headers=admin.headers, json=body)
    assert fixed.json()["subCode"] == "ListReadOnly"
    twice = {"items": [{"id": "a", "labels": {"en": "A"}}, {"id": "a", "labels": {"en": "B"}}]}
    duplicate = await client.put(f"{LISTS}/branches/items", headers=admin.headers, json=twice)
    assert duplicate.json()["subCode"] == "ListItemDuplicate"
    everything = (await client.post(f"{LISTS}/items", headers=tenant.headers, json={})).json()["items"]
    assert {item["listKey"] for item in everything} == {
        "countries",
        "subdivisions",
        "languages",
        "contactTypes",
        "legalEntityRoles",
    }
