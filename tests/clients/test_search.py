"""Contact search: the filter language as JSON and as GraphQL text, name prefixes, paging."""

from __future__ import annotations

from typing import Any

import httpx

from ..factories import TenantFixture
from .conftest import CONTACTS, Person, anna, create_contact

SEARCH = f"{CONTACTS}/search"

# The reference's export example, exactly as it is printed (empty `items { }` included).
REFERENCE_QUERY = """query {
  contacts(
    where: {
      and: [{ personalInformation: { displayName: { contains: "Shannon" } } }]
    }
  ) {
    items {
    }
  }
}"""


async def three(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    people = {
        "anna": anna(),
        "bruno": anna(
            personalInformation={"firstName": "Bruno", "lastName": "Meier", "language": "EN"},
            address={"city": "Bern"},
        ),
        "chloe": anna(
            personalInformation={"firstName": "Chloé", "lastName": "Favre", "language": "FR", "displayName": "Shannon"},
            address={"city": "Genève", "postalCode": "1201"},
        ),
    }
    return {name: (await create_contact(client, headers, details))["id"] for name, details in people.items()}


async def found(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> list[str]:
    response = await client.post(SEARCH, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_where_objects_filter_by_details_and_record_fields(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    ids = await three(client, tenant.headers)
    headers = tenant.headers

    async def names(where: dict[str, Any]) -> set[str]:
        hits = await found(client, headers, where=where)
        return {name for name, contact_id in ids.items() if contact_id in hits}

    assert await names({"personalInformation": {"lastName": {"eq": "Meier"}}}) == {"bruno"}
    either = {"or": [{"address": {"city": {"startsWith": "zü"}}}, {"personalInformation": {"language": {"eq": "FR"}}}]}
    assert await names(either) == {"anna", "chloe"}
    assert await names({"personalInformation": {"firstName": {"ncontains": "N"}}}) == {"chloe"}
    assert await names({"address": {"city": {"endsWith": "ÈVE"}}}) == {"chloe"}
    both = {"personalInformation": {"language": {"in": ["DE", "FR"]}}, "address": {"postalCode": {"gte": "2000"}}}
    assert await names(both) == {"anna"}
    assert await names({"personalInformation": {"displayName": {"neq": "Shannon"}}}) == {"anna", "bruno"}
    assert await names({"personalInformation": {"displayName": {"eq": None}}}) == {"anna", "bruno"}
    assert await names({"personalInformation": {"language": {"nin": ["DE"]}}}) == {"bruno", "chloe"}
    assert await names({"personalInformation": {"lastName": {"contains": "%"}}}) == set()  # no wildcard
    assert await names({"id": {"in": [ids["anna"], ids["chloe"]]}}) == {"anna", "chloe"}
    assert await names({"and": [{"contactTypeId": {"eq": 1}}, {"username": {"startsWith": "client"}}]}) == set(ids)
    assert await names({"createdAt": {"lt": "2000-01-01T00:00:00+00:00"}}) == set()


async def test_the_references_graphql_example_works_as_written(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    ids = await three(client, tenant.headers)
    assert await found(client, tenant.headers, query=REFERENCE_QUERY) == [ids["chloe"]]
    either = '{or: [{address: {city: {eq: "Bern"}}}, {id: {eq: "%s"}}]}'
    spelled_out = "query { contacts(where: " + either + ") { items { id } } }"
    hits = await found(client, tenant.headers, query=spelled_out % ids["anna"])
    assert set(hits) == {ids["anna"], ids["bruno"]}


async def test_name_prefix_paging_and_sorting(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    ids = await three(client, tenant.headers)
    assert await found(client, tenant.headers, name="ANN") == [ids["anna"]]
    assert await found(client, tenant.headers, name="shannon") == [ids["chloe"]]  # display name first
    assert await found(client, tenant.headers, name="x%") == []
    first = await client.post(SEARCH, headers=tenant.headers, json={"pageSize": 2})
    page = first.json()
    assert [page["totalCount"], page["pageCount"], page["page"]] == [3, 2, 1]
    assert page["items"][0]["id"] == ids["anna"] and page["items"][0]["details"]["personalInformation"]
    newest = await found(client, tenant.headers, sortBy="CreatedAt", sortOrder="Descending")
    assert newest == [ids["chloe"], ids["bruno"], ids["anna"]]


async def test_bad_filters_are_refused_with_where_they_went_wrong(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"where": {"personalInformation": {"nickname": {"eq": "x"}}}}, "where/personalInformation/nickname"),
        ({"where": {"personalInformation": {"lastName": {"eq": "x", "lastName": 1}}}}, "where/personalInformation"),
        ({"where": {"personalInformation": {"lastName": {"contains": 5}}}}, "where/personalInformation/lastName"),
        ({"where": {"and": []}}, "where/and"),
        ({"where": {"eq": "x"}}, "where"),
        ({"where": {"id": {"eq": "not-a-uuid"}}}, "where/id"),
        ({"query": "query { contacts(where: {"}, "query"),
        ({"query": "query { legalEntities { items { id } } }"}, "query"),
        ({"query": "query($w: X) { contacts(where: $w) { items { id } } }"}, "query/where"),
    ]
    for body, at in cases:
        response = await client.post(SEARCH, headers=tenant.headers, json=body)
        problem = response.json()
        assert response.status_code == 400 and problem["subCode"] == "FilterInvalid", (body, problem)
        assert at in problem["detail"], (body, problem["detail"])
    both = await client.post(SEARCH, headers=tenant.headers, json={"where": {}, "query": "query { contacts }"})
    assert both.status_code == 422
    german = await client.post(
        f"{SEARCH}?language=de", headers=tenant.headers, json={"where": {"and": []}, "pageSize": 1}
    )
    assert "nicht-leere Liste" in german.json()["detail"]


async def test_members_find_only_the_contacts_they_may_see(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    await three(client, tenant.headers)
    own = await create_contact(client, advisor.headers)
    assert await found(client, advisor.headers) == [own["id"]]
    assert len(await found(client, tenant.headers)) == 4
