"""Search by any part of a name, email or city (`text`), ignoring case and accents: the
trigram index on both databases, kept in step with every write, within the tenant."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from trustroom.auth.models import Role
from trustroom.clients import searchtext
from trustroom.clients.models import SEARCH_INDEX
from trustroom.clients.service.search import name_starts_with, text_match
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings

from ..factories import TenantFixture, make_member
from .conftest import CONTACTS, Person, anna, create_contact
from .test_import import sync as sync_import
from .test_import import upload
from .test_pages import signed_in

SEARCH = f"{CONTACTS}/search"


async def people(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    details = {
        "anna": anna(),  # Anna Muster, anna.muster@example.com, Zürich
        "bruno": anna(
            personalInformation={"firstName": "Bruno", "lastName": "Meier", "language": "EN"},
            communication={"email": "b.meier@bank.example"},
            address={"city": "Bern"},
        ),
        "chloe": anna(
            personalInformation={"firstName": "Chloé", "lastName": "Favre", "displayName": "Shannon"},
            communication={"email": "chloe.favre@mail.ch"},
            address={"city": "Genève", "postalCode": "1201"},
        ),
        "hans": anna(
            personalInformation={"firstName": "Hans", "lastName": "Müller"},
            communication={"email": "hm@post.example"},
            address={"city": "Basel"},
        ),
    }
    return {name: (await create_contact(client, headers, found))["id"] for name, found in details.items()}


async def search(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(SEARCH, headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def names(client: httpx.AsyncClient, headers: dict[str, str], ids: dict[str, str], query: str) -> list[str]:
    """Who `query` finds, in the order of the answer."""
    by_id = {contact_id: name for name, contact_id in ids.items()}
    return [by_id.get(item["id"], item["id"]) for item in (await search(client, headers, text=query))["items"]]


async def test_any_part_of_each_field_in_any_case_with_or_without_accents(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    ids = await people(client, tenant.headers)

    async def found(query: str) -> list[str]:
        return await names(client, tenant.headers, ids, query)

    # first name, last name, display name, email, city; from the start, the middle, the end
    assert await found("nna") == ["anna"]
    assert await found("ruN") == ["bruno"]
    assert await found("Mus") == ["anna"]
    assert await found("eier") == ["bruno"]
    assert await found("hanno") == ["chloe"]
    assert await found("favre@mail") == ["chloe"]
    assert await found("bank.example") == ["bruno"]
    assert await found("Bern") == ["bruno"]
    assert await found("asel") == ["hans"]
    # accents in the data, not in the query, and the other way round; any case
    assert await found("zur") == ["anna"]
    assert await found("ZÜR") == ["anna"]
    assert await found("muller") == ["hans"]
    assert await found("MÜLLER") == ["hans"]
    assert await found("geneve") == ["chloe"]
    assert await found("Chloe") == ["chloe"]
    assert await found("bérn") == ["bruno"]
    assert await found("ÀNNA") == ["anna"]
    # the full name as typed, but no match that runs from one field into the next
    assert await found("anna  Muster") == ["anna"]
    assert await found("muster anna") == []
    # LIKE wildcards are plain characters; a common part finds several, ordered by name
    assert await found("a_m") == []
    assert await found("a.m") == ["anna"]
    assert await found("%") == []
    assert await found("example") == ["anna", "bruno", "hans"]
    assert await found("zzz") == []


async def test_one_or_two_characters_match_the_start_of_the_name(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    ids = await people(client, tenant.headers)

    async def found(query: str) -> list[str]:
        return await names(client, tenant.headers, ids, query)

    assert await found("AN") == ["anna"]
    assert await found("b") == ["bruno"]
    assert await found("Sh") == ["chloe"]  # the display name is the name it sorts by
    assert await found("hä") == ["hans"]
    assert await found("ür") == []  # inside a name: three characters are needed
    assert await found("  ") == ["anna", "bruno", "hans", "chloe"]  # no text, no filter


async def test_paging_combines_with_the_filter_and_the_sort(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    ids = await people(client, tenant.headers)
    first = await search(client, tenant.headers, text="example", pageSize=2)
    assert [first["totalCount"], first["pageCount"], first["page"]] == [3, 2, 1]
    assert [item["id"] for item in first["items"]] == [ids["anna"], ids["bruno"]]
    second = await search(client, tenant.headers, text="example", pageSize=2, page=2)
    assert [item["id"] for item in second["items"]] == [ids["hans"]]
    descending = await search(client, tenant.headers, text="example", sortOrder="Descending")
    assert [item["id"] for item in descending["items"]] == [ids["hans"], ids["bruno"], ids["anna"]]
    english = {"personalInformation": {"language": {"eq": "EN"}}}
    both = await search(client, tenant.headers, text="example", where=english)
    assert [item["id"] for item in both["items"]] == [ids["bruno"]]
    assert (await search(client, tenant.headers, text="example", name="hans"))["totalCount"] == 1


async def test_bad_text_is_refused(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for bad in (5, ["Bern"], "x" * 201, "a\x00b"):
        response = await client.post(SEARCH, headers=tenant.headers, json={"text": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["code"] and response.json()["correlationId"]


async def test_changes_reach_the_index(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, reviewer: Person, admin: Person
) -> None:
    contact = await create_contact(client, advisor.headers)
    url = f"{CONTACTS}/{contact['id']}"

    async def found(query: str) -> bool:
        return contact["id"] in [item["id"] for item in (await search(client, tenant.headers, text=query))["items"]]

    assert await found("zürich") and not await found("lugano")
    changed = await client.patch(
        f"{url}/details",
        headers=advisor.headers,
        json={"details": {"personalInformation": {"lastName": "Keller"}, "address": {"city": "Lugano"}}},
    )
    assert changed.status_code == 200 and changed.json()["appliedPaths"] == ["/address/city"], changed.text
    assert await found("lugano") and not await found("zürich")
    # the new last name waits for review, and only then is it found
    assert await found("anna muster") and not await found("keller")
    request_id = changed.json()["changeRequestId"]
    approved = await client.post(
        f"{url}/change-requests/{request_id}/review", headers=reviewer.headers, json={"isApproved": True}
    )
    assert approved.status_code == 200, approved.text
    assert await found("anna keller") and not await found("anna muster")
    put = await client.put(
        f"{url}/details",
        headers=tenant.headers,
        json={"details": anna(personalInformation={"lastName": "Keller", "displayName": "Nanny K"})},
    )
    assert put.status_code == 200, put.text
    assert await found("nanny") and await found("zürich") and not await found("lugano")

    done = await client.post(f"{CONTACTS}/anonymize", headers=admin.headers, json={"contactIds": [contact["id"]]})
    assert done.status_code == 200, done.text
    for query in ("nanny", "anna", "keller", "zürich", "example.com", "anonym", "An"):
        assert not await found(query), query


async def test_imported_contacts_are_found_and_follow_a_new_import(
    client: httpx.AsyncClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    record = {"externalId": "CBS-9", "contactTypeId": 1, "username": "imported.nine", "details": anna()}
    await upload(client, tenant, ("one.json", json.dumps([record]).encode()))
    assert (await sync_import(client, database, settings, tenant))["createdCount"] == 1
    assert (await search(client, tenant.headers, text="zurich"))["totalCount"] == 1
    moved = {**record, "details": anna(address={"city": "Neuchâtel"})}
    await upload(client, tenant, ("one.json", json.dumps([moved]).encode()))
    assert (await sync_import(client, database, settings, tenant))["updatedCount"] == 1
    assert (await search(client, tenant.headers, text="neuchat"))["totalCount"] == 1
    assert (await search(client, tenant.headers, text="zurich"))["totalCount"] == 0


async def test_another_tenants_contacts_never_match(
    client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    mine = await create_contact(client, tenant.headers, anna())
    theirs = await create_contact(client, other_tenant.headers, anna())
    for query in ("zür", "anna muster", "example.com", "An"):
        assert [item["id"] for item in (await search(client, tenant.headers, text=query))["items"]] == [mine["id"]]
        found = (await search(client, other_tenant.headers, text=query))["items"]
        assert [item["id"] for item in found] == [theirs["id"]]


async def test_members_find_only_the_contacts_they_see(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    own = await create_contact(client, advisor.headers, anna())
    await create_contact(client, tenant.headers, anna(personalInformation={"firstName": "Annabel"}))
    found = await search(client, advisor.headers, text="anna")
    assert [item["id"] for item in found["items"]] == [own["id"]] and found["totalCount"] == 1


async def test_the_portal_search_box_finds_any_part(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    member = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    await people(client, tenant.headers)
    portal = await signed_in(app, member)
    page = await portal.get("/portal/contacts")
    assert "Name, email or city" in page.text
    for query, shown, hidden in (
        ("zur", "Anna Muster", "Hans Müller"),
        ("MÜLL", "Hans Müller", "Anna Muster"),
        ("geneve", "Shannon", "Bruno Meier"),
        ("bank.example", "Bruno Meier", "Shannon"),
        ("zü\x00r", "Anna Muster", "Shannon"),  # a control character is dropped, not a 500
    ):
        listed = await portal.get("/portal/contacts", params={"q": query})
        assert listed.status_code == 200
        assert shown in listed.text and hidden not in listed.text, query
    german = await portal.get("/portal/contacts", params={"q": "zur", "language": "de"})
    assert "Name, E-Mail oder Ort" in german.text and "Anna Muster" in german.text


def test_the_openapi_documents_text_with_an_example(app: FastAPI) -> None:
    body = app.openapi()["components"]["schemas"]["RecordSearch"]["properties"]["text"]
    assert body["examples"] == ["Zür"] and "accents" in body["description"]


async def test_the_index_is_there_and_in_step(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture
) -> None:
    ids = await people(client, tenant.headers)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        if session.get_bind().dialect.name == "postgresql":
            # The query as the service writes it is answered from the trigram index.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            condition = text_match("zur", "postgresql")
            assert condition is not None
            compiled = condition.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = (await session.execute(text(f"EXPLAIN SELECT id FROM client_records WHERE {compiled}"))).all()
            assert any(SEARCH_INDEX in line for (line,) in plan), plan
            return
        triggers = await session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        assert {"client_records_search_insert", "client_records_search_update", "client_records_search_delete"} <= set(
            triggers
        )
        # Every record has exactly its own text in the FTS table, and a deleted one leaves none.
        stray = text(
            "SELECT count(*) FROM client_records r "
            "LEFT JOIN client_record_search_keys k ON k.record_id = r.id "
            "LEFT JOIN client_record_search s ON s.rowid = k.key "
            "WHERE s.search_text IS NOT r.search_text"
        )
        assert await session.scalar(stray) == 0
        hex_id = ids["anna"].replace("-", "")
        await session.execute(text("DELETE FROM client_records WHERE id = :id"), {"id": hex_id})
        assert await session.scalar(stray) == 0
        orphans = text(
            "SELECT count(*) FROM client_record_search_keys k LEFT JOIN client_records r ON r.id = k.record_id "
            "WHERE r.id IS NULL"
        )
        assert await session.scalar(orphans) == 0
        await session.rollback()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Zür", "zur"),
        ("  MÜLLER\n ", "muller"),
        ("Søren", "soren"),
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("a\x00b\x07c", "abc"),
    ],
)
def test_queries_fold_like_the_stored_text(query: str, expected: str) -> None:
    from trustroom.clients.searchtext import fold_text, search_text

    assert fold_text(query) == expected
    assert search_text({"address": {"city": query}}) == expected


# --- counting stops at a limit ------------------------------------------------------------


async def many(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> dict[str, str]:
    """`count` contacts found by "example", named Anna A…, Anna B…, …; ids by last name."""
    ids = {}
    for letter in "ABCDEFGHIJ"[:count]:
        last = f"{letter}muster"
        details = anna(
            personalInformation={"lastName": last}, communication={"email": f"{letter.lower()}@bank.example"}
        )
        ids[last] = (await create_contact(client, headers, details))["id"]
    return ids


@pytest.fixture
def limit_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(searchtext, "COUNT_LIMIT", 3)


@pytest.mark.usefixtures("limit_three")
async def test_counting_stops_at_the_limit_and_says_so(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    ids = await many(client, tenant.headers, 5)
    found = await search(client, tenant.headers, text="example", pageSize=2)
    assert (found["totalCount"], found["isTotalCountExact"], found["pageCount"]) == (3, False, 2)
    second = await search(client, tenant.headers, text="example", pageSize=2, page=2)
    assert (second["totalCount"], second["isTotalCountExact"], len(second["items"])) == (3, False, 1)
    beyond = await search(client, tenant.headers, text="example", pageSize=2, page=3)
    assert (beyond["items"], beyond["totalCount"], beyond["isTotalCountExact"]) == ([], 3, False)
    # The pages hold three of the five, once each, in order; every page the same three.
    paged = [item["id"] for item in found["items"] + second["items"]]
    by_id = {contact_id: last for last, contact_id in ids.items()}
    assert len(set(paged)) == 3 and set(paged) <= set(by_id)
    assert [by_id[i] for i in paged] == sorted(by_id[i] for i in paged)
    whole = await search(client, tenant.headers, text="example", pageSize=50)
    assert [item["id"] for item in whole["items"]] == paged
    backwards = await search(client, tenant.headers, text="example", sortOrder="Descending")
    assert [item["id"] for item in backwards["items"]] == paged[::-1]
    # Other searches count every match; so does a text that matches few enough.
    everyone = await search(client, tenant.headers, pageSize=2)
    assert (everyone["totalCount"], everyone["isTotalCountExact"]) == (5, True)
    named = await search(client, tenant.headers, text="an")  # two letters: the start of the name
    assert (named["totalCount"], named["isTotalCountExact"]) == (5, True)
    one = await search(client, tenant.headers, text="cmuster")
    assert (one["totalCount"], one["isTotalCountExact"], one["items"][0]["id"]) == (1, True, ids["Cmuster"])


@pytest.mark.usefixtures("limit_three")
async def test_exactly_the_limit_is_an_exact_count(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await many(client, tenant.headers, 3)
    found = await search(client, tenant.headers, text="example", pageSize=2, page=2)
    assert (found["totalCount"], found["isTotalCountExact"], found["pageCount"], len(found["items"])) == (
        3,
        True,
        2,
        1,
    )
    nothing = await search(client, tenant.headers, text="zzz", page=2)
    assert (nothing["items"], nothing["totalCount"], nothing["isTotalCountExact"]) == ([], 0, True)


@pytest.mark.usefixtures("limit_three")
async def test_a_member_counts_only_the_contacts_they_see(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    await many(client, tenant.headers, 5)  # the app's: not the advisor's
    own = await create_contact(client, advisor.headers, anna())
    found = await search(client, advisor.headers, text="example")
    assert [item["id"] for item in found["items"]] == [own["id"]]
    assert (found["totalCount"], found["isTotalCountExact"]) == (1, True)


@pytest.mark.usefixtures("limit_three")
async def test_the_portal_says_when_more_match(
    app: FastAPI, client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture
) -> None:
    member = await make_member(database, keys, tenant.id, role=Role.ADMIN)
    await many(client, tenant.headers, 5)
    portal = await signed_in(app, member)
    listed = await portal.get("/portal/contacts", params={"q": "example"})
    assert listed.status_code == 200
    assert "More than 3 clients" in listed.text and listed.text.count("muster</a>") == 3
    german = await portal.get("/portal/contacts", params={"q": "example", "language": "de"})
    assert "Mehr als 3 Kunden" in german.text
    few = await portal.get("/portal/contacts", params={"q": "cmuster"})
    assert "1 client" in few.text and "More than" not in few.text


def test_the_openapi_documents_the_limit(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/contacts/search"]["post"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = app.openapi()["components"]["schemas"][reference.rpartition("/")[2]]
    flag = page["properties"]["isTotalCountExact"]
    assert flag["type"] == "boolean" and flag["default"] is True
    assert str(searchtext.COUNT_LIMIT) in flag["description"]
    assert "lower bound" in page["properties"]["totalCount"]["description"]
    text_field = app.openapi()["components"]["schemas"]["RecordSearch"]["properties"]["text"]
    assert "isTotalCountExact" in text_field["description"]


# --- PostgreSQL under row-level security ----------------------------------------------------


async def _plan_as_ordinary_role(database: Database, tenant: TenantFixture, sql: str) -> str:
    """EXPLAIN of `sql` as a role that row-level security binds, as production runs."""
    async with database.session() as session:
        exists = await session.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = 'trustroom_rls_probe'"))
        if not exists:
            await session.execute(text("CREATE ROLE trustroom_rls_probe NOLOGIN NOSUPERUSER NOBYPASSRLS"))
        await session.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO trustroom_rls_probe"))
        await session.commit()
    async with database.session() as session:
        await session.execute(text("SET LOCAL ROLE trustroom_rls_probe"))
        # Only the sort-name index gives this order without sorting: the question is then
        # whether the prefix is a range of it (an index condition) or a filter over it.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_sort = off"))
        await bind_tenant(session, tenant.id)
        plan = "\n".join(line for (line,) in await session.execute(text(f"EXPLAIN {sql}")))
        await session.rollback()
    return plan


async def test_a_name_prefix_uses_its_index_under_row_level_security(database: Database, tenant: TenantFixture) -> None:
    if not database.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature")
    for condition in (name_starts_with("ber", "postgresql"), text_match("be", "postgresql")):
        assert condition is not None
        compiled = condition.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        sql = (
            f"SELECT id FROM client_records WHERE tenant_id = '{tenant.id}' AND kind = 'contact' AND {compiled} "
            "ORDER BY sort_name LIMIT 20"
        )
        plan = await _plan_as_ordinary_role(database, tenant, sql)
        # A range of the sort-name index, not a filter over every contact of the tenant.
        condition_line = next(line for line in plan.splitlines() if "Index Cond" in line)
        assert "ix_client_records_tenant_id_kind_sort_name" in plan, plan
        assert "sort_name" in condition_line and ">= 'be" in condition_line, plan


async def test_tenant_policies_read_their_settings_once_per_statement(database: Database) -> None:
    if not database.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature")
    async with database.session() as session:
        policies = (await session.execute(text("SELECT tablename, qual FROM pg_policies"))).all()
    assert len(policies) > 20
    for table, qual in policies:
        # Sub-selects are init plans, evaluated once; bare, the settings were read per row.
        assert qual.count("SELECT") == 2 and "current_setting" in qual, (table, qual)
