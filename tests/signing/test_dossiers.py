"""Dossiers through the API (issue #14, item 1): create with invitees and every rule of the
body, read, list with filters and pages, change and delete while a draft, cancel while
pending, who sees which dossier, and the audit entries and events of every change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text, update

from trustroom.actor import Scope
from trustroom.auth.models import Role
from trustroom.auth.service import tenants
from trustroom.db import Database, bind_tenant
from trustroom.http import API_PREFIX
from trustroom.keys import ServerKeys
from trustroom.signing.errors import DossierNotDraft, InviteeStateInvalid, NoSigners
from trustroom.signing.models import Dossier, Invitee, InviteeState
from trustroom.signing.service import access, lifecycle

from ..clients.conftest import CONTACTS, Person, anna, create_contact, person
from ..exchange.conftest import create_exchange
from ..factories import TenantFixture, make_api_key
from ..helpers import events_of

DOSSIERS = f"{API_PREFIX}/dossiers"
THIRTY_DAYS = 30 * 86400
NINETY_DAYS = 90 * 86400


def signer(**extra: Any) -> dict[str, Any]:
    return {"name": "Anna Muster", "email": "anna.muster@mail.example", "phoneNumber": "+41791234567", **extra}


def dossier_body(**extra: Any) -> dict[str, Any]:
    return {"name": "Mandate agreement", "invitees": [signer()], **extra}


async def create_dossier(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = await client.post(DOSSIERS, headers=headers, json=dossier_body(**extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def send(database: Database, tenant: TenantFixture, dossier_id: str) -> None:
    """What the first invite does (item 3): the dossier becomes pending."""
    actor = tenants.operator(tenant.id)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        dossier = await access.load_dossier(session, actor, UUID(dossier_id), for_update=True)
        await lifecycle.mark_sent(session, actor, dossier)
        await session.commit()


def problem(response: httpx.Response, status: int, code: str, sub_code: str) -> list[dict[str, Any]]:
    """The problem's `errors`, once status, code and subCode are as expected."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["subCode"]) == (code, sub_code), body
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = body.get("errors") or []
    return errors


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def pointers(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(error["pointer"], error["code"]) for error in errors]


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADVISOR)


@pytest.fixture
async def team(database: Database, keys: ServerKeys, tenant: TenantFixture) -> dict[str, Person]:
    """A lead with an advisor reporting to them, a peer of that advisor, and an admin."""
    lead = await person(database, keys, tenant, Role.ADVISOR)
    advisor = await person(database, keys, tenant, Role.ADVISOR)
    peer = await person(database, keys, tenant, Role.ADVISOR)
    admin = await person(database, keys, tenant, Role.ADMIN)
    return {"lead": lead, "advisor": advisor, "peer": peer, "admin": admin}


async def report_to(client: httpx.AsyncClient, tenant: TenantFixture, member: Person, supervisor: Person) -> None:
    answer = await client.patch(
        f"{API_PREFIX}/members/{member.id}", headers=tenant.headers, json={"supervisorId": str(supervisor.id)}
    )
    assert answer.status_code == 200, answer.text


# --- create and read ----------------------------------------------------------------------


async def test_create_answers_the_reference_fields_and_get_reads_them_back(
    client: httpx.AsyncClient, advisor: Person
) -> None:
    body = {
        "name": "Purchase contract",
        "method": "aes",
        "locale": "de-ch",
        "reminderIn": 604800,
        "invitees": [
            signer(authenticationMethods=["otp_sms", "otp_email"], reference="crm-17", position=1),
            {"firstName": "Beat", "lastName": "Berater", "role": "approver", "position": 2, "locale": "fr-CH"},
            {"name": "Carla Copy", "email": "carla@mail.example", "role": "viewer", "position": 2},
        ],
    }
    response = await client.post(DOSSIERS, headers=advisor.headers, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{DOSSIERS}/{created['id']}"
    assert response.headers["ETag"] == f'"{created["concurrencyToken"]}"'
    assert {key: created[key] for key in ("name", "method", "state", "locale", "completed")} == {
        "name": "Purchase contract",
        "method": "aes",
        "state": "draft",
        "locale": "de-CH",
        "completed": False,
    }
    assert (created["reminderIn"], created["expiresIn"], created["expiresAt"]) == (604800, THIRTY_DAYS, None)
    assert (created["ownerMemberId"], created["contactId"], created["exchangeId"]) == (str(advisor.id), None, None)
    assert created["stateChanged"] == created["createdAt"]
    assert (created["sentAt"], created["cancelReason"]) == (None, None)
    anna_, beat, carla = created["invitees"]
    assert {key: value for key, value in anna_.items() if key not in ("id", "stateChanged")} == {
        "name": "Anna Muster",
        "firstName": None,
        "lastName": None,
        "email": "anna.muster@mail.example",
        "phoneNumber": "+41791234567",
        "authenticationMethods": ["otp_sms", "otp_email"],
        "reference": "crm-17",
        "state": "waiting",
        "position": 1,
        "locale": "de-CH",  # the dossier's
        "role": "signer",
        "contactId": None,
    }
    assert (beat["name"], beat["firstName"], beat["lastName"], beat["locale"]) == (
        "Beat Berater",
        "Beat",
        "Berater",
        "fr-CH",
    )
    assert (beat["role"], beat["position"], beat["authenticationMethods"]) == ("approver", 2, [])
    assert (carla["role"], carla["phoneNumber"], carla["state"]) == ("viewer", None, "waiting")
    assert len({anna_["id"], beat["id"], carla["id"]}) == 3

    read = await client.get(f"{DOSSIERS}/{created['id']}", headers=advisor.headers)
    assert read.status_code == 200 and read.json() == created
    assert read.headers["ETag"] == response.headers["ETag"]


async def test_defaults_the_tenant_language_ses_and_thirty_days(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    created = await create_dossier(client, tenant.headers, ownerMemberId=str(advisor.id), invitees=[])
    assert (created["method"], created["locale"], created["expiresIn"]) == ("ses", "en", THIRTY_DAYS)
    assert (created["reminderIn"], created["invitees"]) == (None, [])


async def test_an_app_names_the_owner_and_a_member_owns_what_they_create(
    client: httpx.AsyncClient, tenant: TenantFixture, team: dict[str, Person]
) -> None:
    errors = problem(
        await client.post(DOSSIERS, headers=tenant.headers, json=dossier_body()),
        400,
        "BadRequest",
        "OwnerMemberRequired",
    )
    assert pointers(errors) == [("/ownerMemberId", "OwnerMemberRequired")]
    owned = await create_dossier(client, tenant.headers, ownerMemberId=str(team["peer"].id))
    assert owned["ownerMemberId"] == str(team["peer"].id)

    unknown = await client.post(DOSSIERS, headers=tenant.headers, json=dossier_body(ownerMemberId=str(uuid.uuid4())))
    assert pointers(problem(unknown, 400, "BadRequest", "AdvisorNotFound")) == [("/ownerMemberId", "AdvisorNotFound")]
    # An advisor names only themselves: naming another decides who sees it (contacts:assign).
    mine = await create_dossier(client, team["advisor"].headers, ownerMemberId=str(team["advisor"].id))
    assert mine["ownerMemberId"] == str(team["advisor"].id)
    handed = await client.post(
        DOSSIERS, headers=team["advisor"].headers, json=dossier_body(ownerMemberId=str(team["peer"].id))
    )
    problem(handed, 403, "Forbidden", "MissingScope")
    admins = await create_dossier(client, team["admin"].headers, ownerMemberId=str(team["peer"].id))
    assert admins["ownerMemberId"] == str(team["peer"].id)


@pytest.mark.parametrize("method", ["ves", "qes"])
async def test_ves_and_qes_are_not_available_yet(client: httpx.AsyncClient, advisor: Person, method: str) -> None:
    refused = await client.post(DOSSIERS, headers=advisor.headers, json=dossier_body(method=method))
    errors = problem(refused, 400, "BadRequest", "MethodNotAvailable")
    assert pointers(errors) == [("/method", "MethodNotAvailable")]
    assert method in refused.json()["detail"]


async def test_expiry_is_thirty_days_by_default_and_at_most_ninety(client: httpx.AsyncClient, advisor: Person) -> None:
    headers = advisor.headers
    assert (await create_dossier(client, headers))["expiresIn"] == THIRTY_DAYS
    assert (await create_dossier(client, headers, expiresIn=NINETY_DAYS))["expiresIn"] == NINETY_DAYS
    assert (await create_dossier(client, headers, expiresIn=3600))["expiresIn"] == 3600
    cases = [
        ({"expiresIn": NINETY_DAYS + 1}, "/expiresIn", "less_than_equal"),
        ({"expiresIn": 3599}, "/expiresIn", "greater_than_equal"),
        ({"expiresIn": "soon"}, "/expiresIn", "int_parsing"),
        ({"reminderIn": 60}, "/reminderIn", "greater_than_equal"),
        ({"reminderIn": NINETY_DAYS + 1}, "/reminderIn", "less_than_equal"),
    ]
    for extra, pointer, code in cases:
        refused = await client.post(DOSSIERS, headers=headers, json=dossier_body(**extra))
        assert pointers(problem(refused, 422, "UnprocessableEntity", "ValidationFailed")) == [(pointer, code)], extra


@pytest.mark.parametrize(
    ("body", "status", "sub_code", "pointer"),
    [
        pytest.param(
            dossier_body(method="aes", invitees=[signer(authenticationMethods=["otp_sms"]), signer()]),
            400,
            "AuthenticationMethodRequired",
            "/invitees/1/authenticationMethods",
            id="aes-signer-without-method",
        ),
        pytest.param(
            dossier_body(invitees=[signer(phoneNumber=None, authenticationMethods=["otp_sms"])]),
            400,
            "PhoneNumberRequired",
            "/invitees/0/phoneNumber",
            id="otp-sms-without-phone",
        ),
        pytest.param(
            dossier_body(invitees=[signer(), signer(email=None, authenticationMethods=["otp_email"])]),
            400,
            "EmailRequired",
            "/invitees/1/email",
            id="otp-email-without-email",
        ),
        pytest.param(
            dossier_body(invitees=[{"email": "x@mail.example"}]),
            400,
            "InviteeNameRequired",
            "/invitees/0/name",
            id="no-name",
        ),
        pytest.param(
            dossier_body(invitees=[{"firstName": "Anna"}]),
            400,
            "InviteeNameRequired",
            "/invitees/0/name",
            id="first-name-only",
        ),
        pytest.param(dossier_body(locale="nl-NL"), 400, "LocaleNotSupported", "/locale", id="dossier-locale"),
        pytest.param(
            dossier_body(invitees=[signer(locale="es-ES")]),
            400,
            "LocaleNotSupported",
            "/invitees/0/locale",
            id="invitee-locale",
        ),
        pytest.param(
            dossier_body(invitees=[signer(id=str(uuid.uuid4()))]),
            400,
            "InviteeNotFound",
            "/invitees/0/id",
            id="invitee-id-on-create",
        ),
        pytest.param(
            dossier_body(contactId=str(uuid.uuid4())), 404, "ContactNotFound", "/contactId", id="unknown-contact"
        ),
        pytest.param(
            dossier_body(invitees=[signer(contactId=str(uuid.uuid4()))]),
            404,
            "ContactNotFound",
            "/invitees/0/contactId",
            id="unknown-invitee-contact",
        ),
        pytest.param(
            dossier_body(exchangeId=str(uuid.uuid4())), 404, "ExchangeNotFound", "/exchangeId", id="unknown-exchange"
        ),
    ],
)
async def test_every_rule_of_the_body_names_its_place(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,
    body: dict[str, Any],
    status: int,
    sub_code: str,
    pointer: str,
) -> None:
    refused = await client.post(DOSSIERS, headers=advisor.headers, json=body)
    code = {400: "BadRequest", 404: "NotFound"}[status]
    assert pointers(problem(refused, status, code, sub_code)) == [(pointer, sub_code)]
    assert (await client.get(DOSSIERS, headers=tenant.headers)).json()["totalCount"] == 0
    assert await events_of(database, tenant, "dossier.") == []


@pytest.mark.parametrize(
    ("invitee", "pointer", "code"),
    [
        pytest.param(
            signer(phoneNumber="0791234567"), "/invitees/0/phoneNumber", "string_pattern_mismatch", id="phone"
        ),
        pytest.param(signer(phoneNumber="+4179123456789"), "/invitees/0/phoneNumber", "value_error", id="no-number"),
        pytest.param(signer(email="not-an-email"), "/invitees/0/email", "value_error", id="email"),
        pytest.param(signer(role="witness"), "/invitees/0/role", "enum", id="role"),
        pytest.param(signer(position=0), "/invitees/0/position", "greater_than_equal", id="position"),
        pytest.param(
            signer(authenticationMethods=["otp_sms", "otp_sms"]),
            "/invitees/0/authenticationMethods",
            "value_error",
            id="method-twice",
        ),
        pytest.param(
            signer(authenticationMethods=["passkey"]), "/invitees/0/authenticationMethods/0", "enum", id="method"
        ),
        pytest.param(signer(locale="de_CH"), "/invitees/0/locale", "string_pattern_mismatch", id="locale-form"),
        pytest.param(signer(readOnly=True), "/invitees/0/readOnly", "extra_forbidden", id="unknown-field"),
    ],
)
async def test_a_malformed_invitee_is_refused_with_422_at_its_field(
    client: httpx.AsyncClient, advisor: Person, invitee: dict[str, Any], pointer: str, code: str
) -> None:
    refused = await client.post(DOSSIERS, headers=advisor.headers, json=dossier_body(invitees=[invitee]))
    assert pointers(problem(refused, 422, "UnprocessableEntity", "ValidationFailed")) == [(pointer, code)]


async def test_an_aes_signer_authenticates_while_approvers_and_viewers_need_not(
    client: httpx.AsyncClient, advisor: Person
) -> None:
    invitees = [
        signer(authenticationMethods=["otp_email"]),
        signer(role="approver"),
        signer(role="viewer"),
    ]
    created = await create_dossier(client, advisor.headers, method="aes", invitees=invitees)
    assert [i["authenticationMethods"] for i in created["invitees"]] == [["otp_email"], [], []]


async def test_an_invitee_from_a_contact_takes_its_verified_email_and_mobile(
    client: httpx.AsyncClient, team: dict[str, Person]
) -> None:
    advisor = team["advisor"]
    contact = await create_contact(client, advisor.headers)
    invitee = {"contactId": contact["id"], "authenticationMethods": ["otp_email", "otp_sms"]}
    created = await create_dossier(client, advisor.headers, method="aes", invitees=[invitee])
    (made,) = created["invitees"]
    assert (made["name"], made["firstName"], made["lastName"]) == ("Anna Muster", "Anna", "Muster")
    assert (made["email"], made["phoneNumber"], made["contactId"]) == (
        "anna.muster@example.com",
        "+41791234567",
        contact["id"],
    )
    # What the body gives wins.
    given = {**invitee, "name": "A. Muster", "email": "anna@privat.example"}
    (mixed,) = (await create_dossier(client, advisor.headers, invitees=[given]))["invitees"]
    assert (mixed["name"], mixed["email"], mixed["phoneNumber"]) == ("A. Muster", "anna@privat.example", "+41791234567")

    # A mobile waiting for its key is not verified: otp_sms has no number to go to.
    details = anna()
    del details["communication"]["mobile"]
    unverified = await create_contact(client, advisor.headers, details)
    pending = await client.patch(
        f"{CONTACTS}/{unverified['id']}/details",
        headers=advisor.headers,
        json={"details": {"communication": {"mobile": "+41791112233"}}},
    )
    assert pending.status_code == 200 and pending.json()["hasPendingMobile"], pending.text
    refused = await client.post(
        DOSSIERS,
        headers=advisor.headers,
        json=dossier_body(invitees=[signer(), {"contactId": unverified["id"], "authenticationMethods": ["otp_sms"]}]),
    )
    assert pointers(problem(refused, 400, "BadRequest", "PhoneNumberRequired")) == [
        ("/invitees/1/phoneNumber", "PhoneNumberRequired")
    ]
    # Someone else's contact is not there for this advisor.
    hidden = await client.post(
        DOSSIERS, headers=team["peer"].headers, json=dossier_body(invitees=[{"contactId": contact["id"]}])
    )
    assert pointers(problem(hidden, 404, "NotFound", "ContactNotFound")) == [
        ("/invitees/0/contactId", "ContactNotFound")
    ]


async def test_a_dossier_with_an_exchange_belongs_to_the_exchanges_contact(
    client: httpx.AsyncClient, tenant: TenantFixture, team: dict[str, Person]
) -> None:
    advisor = team["advisor"]
    contact = await create_contact(client, advisor.headers)
    other = await create_contact(client, advisor.headers)
    room = await create_exchange(client, advisor.headers, contactId=contact["id"])
    created = await create_dossier(client, advisor.headers, exchangeId=room["id"])
    assert (created["exchangeId"], created["contactId"]) == (room["id"], contact["id"])
    refused = await client.post(
        DOSSIERS, headers=advisor.headers, json=dossier_body(exchangeId=room["id"], contactId=other["id"])
    )
    assert pointers(problem(refused, 400, "BadRequest", "ExchangeContactMismatch")) == [
        ("/exchangeId", "ExchangeContactMismatch")
    ]
    # An exchange the member does not reach is not there.
    hidden = await client.post(DOSSIERS, headers=team["peer"].headers, json=dossier_body(exchangeId=room["id"]))
    assert pointers(problem(hidden, 404, "NotFound", "ExchangeNotFound")) == [("/exchangeId", "ExchangeNotFound")]


async def test_scopes_are_signing_read_and_signing_write(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, tenant: TenantFixture, advisor: Person
) -> None:
    reader = {"Authorization": f"Bearer {await make_api_key(database, keys, tenant.id, [Scope.SIGNING_READ])}"}
    body = dossier_body(ownerMemberId=str(advisor.id))
    problem(await client.post(DOSSIERS, headers=reader, json=body), 403, "Forbidden", "MissingScope")
    assert (await client.get(DOSSIERS, headers=reader)).status_code == 200
    reviewer = await person(database, keys, tenant, Role.REVIEWER)
    problem(await client.get(DOSSIERS, headers=reviewer.headers), 403, "Forbidden", "MissingScope")


async def test_a_create_replayed_with_its_idempotency_key_answers_the_first_dossier(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    headers = {**advisor.headers, "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post(DOSSIERS, headers=headers, json=dossier_body())
    again = await client.post(DOSSIERS, headers=headers, json=dossier_body())
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotency-Replayed"] == "true"
    assert (await client.get(DOSSIERS, headers=tenant.headers)).json()["totalCount"] == 1


# --- list -------------------------------------------------------------------------------


async def test_the_list_filters_by_state_contact_owner_and_creation_time_in_pages(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, team: dict[str, Person]
) -> None:
    advisor, peer = team["advisor"], team["peer"]
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id), str(peer.id)])
    made = [
        await create_dossier(client, advisor.headers, name="one"),
        await create_dossier(client, advisor.headers, name="two", contactId=contact["id"]),
        await create_dossier(client, peer.headers, name="three", contactId=contact["id"]),
        await create_dossier(client, peer.headers, name="four"),
        await create_dossier(client, peer.headers, name="five"),
    ]
    ids = [d["id"] for d in made]
    await send(database, tenant, ids[1])
    await send(database, tenant, ids[4])
    long_ago = datetime(2026, 1, 15, tzinfo=UTC)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(update(Dossier).where(Dossier.id == UUID(ids[0])).values(created_at=long_ago))
        await session.commit()

    async def listed(**params: Any) -> list[str]:
        answer = await client.get(DOSSIERS, headers=tenant.headers, params={"pageSize": 200, **params})
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    newest_first = ids[::-1]
    assert await listed() == newest_first
    assert await listed(sortOrder="Ascending") == ids
    assert await listed(state="pending") == [ids[4], ids[1]]
    assert await listed(state="draft") == [ids[3], ids[2], ids[0]]
    assert await listed(state="cancelled") == []
    assert await listed(contactId=contact["id"]) == [ids[2], ids[1]]
    assert await listed(ownerMemberId=str(peer.id)) == [ids[4], ids[3], ids[2]]
    assert await listed(ownerMemberId=str(peer.id), state="draft", contactId=contact["id"]) == [ids[2]]
    cut = "2026-06-01T00:00:00Z"
    assert await listed(to=cut) == [ids[0]]
    assert await listed(**{"from": cut}) == newest_first[:-1]
    assert await listed(**{"from": "2026-01-15T00:00:00+00:00", "to": "2026-01-15T00:00:01Z"}) == [ids[0]]

    page = await client.get(DOSSIERS, headers=tenant.headers, params={"pageSize": 2, "page": 2})
    assert page.status_code == 200
    paged = page.json()
    assert [item["id"] for item in paged["items"]] == newest_first[2:4]
    assert (paged["page"], paged["pageSize"], paged["pageCount"], paged["totalCount"]) == (2, 2, 3, 5)
    listed_one = next(item for item in paged["items"] if item["id"] == ids[2])
    assert listed_one == (await client.get(f"{DOSSIERS}/{ids[2]}", headers=tenant.headers)).json()

    for params, parameter in [
        ({"state": "sent"}, "state"),
        ({"contactId": "nope"}, "contactId"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-01-01T00:00:00"}, "to"),
        ({"owner": str(peer.id)}, "owner"),
    ]:
        refused = await client.get(DOSSIERS, headers=tenant.headers, params=params)
        errors = problem(refused, 422, "UnprocessableEntity", "ValidationFailed")
        assert [(e["parameter"], e["in"]) for e in errors] == [(parameter, "query")], params


# --- who sees what ------------------------------------------------------------------------


async def reachable(client: httpx.AsyncClient, headers: dict[str, str], dossier_id: str) -> dict[str, int]:
    """The status of every route of one dossier, by name."""
    url = f"{DOSSIERS}/{dossier_id}"
    requests = {
        "get": ("GET", url, None),
        "patch": ("PATCH", url, {"reminderIn": 86400}),
        "cancel": ("POST", f"{url}/cancel", {"reason": "Wrong client"}),
    }
    found = {}
    for name, (method, path, body) in requests.items():
        answer = await client.request(method, path, headers=headers, json=body)
        found[name] = answer.status_code
        if answer.status_code == 404:
            assert answer.json()["subCode"] == "DossierNotFound", (name, answer.text)
    return found


async def test_members_see_their_own_their_teams_and_their_contacts_dossiers(
    client: httpx.AsyncClient, tenant: TenantFixture, team: dict[str, Person]
) -> None:
    lead, advisor, peer, admin = team["lead"], team["advisor"], team["peer"], team["admin"]
    await report_to(client, tenant, advisor, lead)
    contact = await create_contact(client, tenant.headers, advisorIds=[str(peer.id)])
    advisors = await create_dossier(client, advisor.headers)
    peers = await create_dossier(client, peer.headers)
    # Owned by the advisor's lead, for a contact the peer advises: the peer sees it through the contact.
    of_contact = await create_dossier(client, tenant.headers, ownerMemberId=str(lead.id), contactId=contact["id"])
    admins = await create_dossier(client, admin.headers)

    async def listed(headers: dict[str, str], **params: Any) -> set[str]:
        answer = await client.get(DOSSIERS, headers=headers, params={"pageSize": 200, **params})
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    everything = {advisors["id"], peers["id"], of_contact["id"], admins["id"]}
    assert await listed(advisor.headers) == {advisors["id"]}
    assert await listed(lead.headers) == {advisors["id"], of_contact["id"]}  # their own and their team's
    assert await listed(peer.headers) == {peers["id"], of_contact["id"]}
    assert await listed(admin.headers) == everything
    assert await listed(tenant.headers) == everything
    assert await listed(advisor.headers, ownerMemberId=str(peer.id)) == set()

    assert set((await reachable(client, advisor.headers, peers["id"])).values()) == {404}
    assert set((await reachable(client, peer.headers, advisors["id"])).values()) == {404}
    assert set((await reachable(client, advisor.headers, of_contact["id"])).values()) == {404}
    deleted = await client.delete(f"{DOSSIERS}/{peers['id']}", headers=advisor.headers)
    problem(deleted, 404, "NotFound", "DossierNotFound")
    assert (await client.get(f"{DOSSIERS}/{peers['id']}", headers=peer.headers)).json()["name"] == peers["name"]

    # The supervisor reaches the subordinate's dossier; a draft can't be cancelled (409), but it is there.
    assert await reachable(client, lead.headers, advisors["id"]) == {"get": 200, "patch": 200, "cancel": 409}
    assert (await reachable(client, admin.headers, peers["id"]))["get"] == 200
    assert (await reachable(client, tenant.headers, admins["id"]))["get"] == 200
    # The hierarchy is read at each request: off the team, out of sight.
    await client.patch(f"{API_PREFIX}/members/{advisor.id}", headers=tenant.headers, json={"supervisorId": None})
    assert await listed(lead.headers) == {of_contact["id"]}


# --- change, delete, cancel ---------------------------------------------------------------


async def test_a_draft_is_changed_with_its_concurrency_token_and_invitees_keep_their_ids(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person
) -> None:
    headers = advisor.headers
    created = await create_dossier(
        client, headers, invitees=[signer(), {"name": "Beat Berater", "role": "approver", "position": 2}]
    )
    url = f"{DOSSIERS}/{created['id']}"
    anna_, beat = created["invitees"]
    token = created["concurrencyToken"]
    body = {
        "name": "Purchase contract (v2)",
        "locale": "it-CH",
        "reminderIn": 86400,
        "concurrencyToken": token,
        "invitees": [
            {"name": "Carla Neu", "email": "carla@mail.example", "position": 3},
            {**signer(), "id": anna_["id"], "position": 2, "reference": "crm-1"},
        ],
    }
    changed = await client.patch(url, headers=headers, json=body)
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["concurrencyToken"] != token and changed.headers["ETag"] == f'"{after["concurrencyToken"]}"'
    assert (after["name"], after["locale"], after["reminderIn"]) == ("Purchase contract (v2)", "it-CH", 86400)
    carla, kept = after["invitees"]
    assert kept["id"] == anna_["id"] and (kept["position"], kept["reference"], kept["locale"]) == (2, "crm-1", "it-CH")
    assert carla["id"] not in (anna_["id"], beat["id"]) and carla["state"] == "waiting"
    assert beat["id"] not in {i["id"] for i in after["invitees"]}

    stale = await client.patch(url, headers=headers, json={"name": "Lost", "concurrencyToken": token})
    problem(stale, 409, "Conflict", "ConcurrencyTokenMismatch")
    stale_header = await client.patch(url, headers={**headers, "If-Match": f'"{token}"'}, json={"name": "Lost"})
    problem(stale_header, 409, "Conflict", "ConcurrencyTokenMismatch")
    current = after["concurrencyToken"]
    fresh = await client.patch(url, headers={**headers, "If-Match": f'"{current}"'}, json={"expiresIn": None})
    assert fresh.status_code == 200 and fresh.json()["expiresIn"] == THIRTY_DAYS
    # Nothing to change: the token stays.
    same = await client.patch(url, headers=headers, json={"name": "Purchase contract (v2)"})
    assert same.json()["concurrencyToken"] == fresh.json()["concurrencyToken"]
    # Invitees alone move the token too.
    writable = {"id", "name", "email", "position", "reference", "role"}
    again = [{key: value for key, value in i.items() if key in writable} for i in (kept, carla)]
    reordered = await client.patch(url, headers=headers, json={"invitees": again})
    assert reordered.status_code == 200, reordered.text
    assert [i["id"] for i in reordered.json()["invitees"]] == [kept["id"], carla["id"]]
    assert reordered.json()["concurrencyToken"] != same.json()["concurrencyToken"]

    # Switching to aes needs every signer to authenticate; the invitees were not in the body.
    to_aes = await client.patch(url, headers=headers, json={"method": "aes"})
    assert pointers(problem(to_aes, 400, "BadRequest", "AuthenticationMethodRequired")) == [
        ("/method", "AuthenticationMethodRequired")
    ]
    refusals = [
        ({"method": "qes"}, "MethodNotAvailable", "/method"),
        ({"locale": "pt-BR"}, "LocaleNotSupported", "/locale"),
        ({"ownerMemberId": None}, "OwnerMemberRequired", "/ownerMemberId"),
        ({"invitees": [{**signer(), "id": beat["id"]}]}, "InviteeNotFound", "/invitees/0/id"),
        (
            {"invitees": [{**signer(), "id": kept["id"]}, {**signer(), "id": kept["id"]}]},
            "InviteeRepeated",
            "/invitees/1/id",
        ),
    ]
    for change, sub_code, pointer in refusals:
        refused = await client.patch(url, headers=headers, json=change)
        assert pointers(problem(refused, 400, "BadRequest", sub_code)) == [(pointer, sub_code)], change
    unknown = await client.patch(f"{DOSSIERS}/{uuid.uuid4()}", headers=headers, json={"name": "x"})
    problem(unknown, 404, "NotFound", "DossierNotFound")
    assert (await client.get(url, headers=headers)).json() == reordered.json()


async def test_a_draft_is_deleted_with_its_invitees(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    headers = advisor.headers
    created = await create_dossier(client, headers)
    url = f"{DOSSIERS}/{created['id']}"
    stale = await client.delete(url, headers={**headers, "If-Match": '"99"'})
    problem(stale, 409, "Conflict", "ConcurrencyTokenMismatch")
    assert (await client.delete(url, headers=headers)).status_code == 204
    problem(await client.get(url, headers=headers), 404, "NotFound", "DossierNotFound")
    problem(await client.delete(url, headers=headers), 404, "NotFound", "DossierNotFound")
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        assert await session.get(Invitee, UUID(created["invitees"][0]["id"])) is None


async def test_a_sent_dossier_is_cancelled_with_a_reason_and_no_longer_changed(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    headers = advisor.headers
    created = await create_dossier(client, headers, expiresIn=7 * 86400)
    url = f"{DOSSIERS}/{created['id']}"
    draft_cancel = await client.post(f"{url}/cancel", headers=headers, json={"reason": "Too early"})
    problem(draft_cancel, 409, "Conflict", "DossierNotPending")

    await send(database, tenant, created["id"])
    pending = (await client.get(url, headers=headers)).json()
    assert pending["state"] == "pending" and pending["stateChanged"] == pending["sentAt"]
    assert at(pending["expiresAt"]) - at(pending["sentAt"]) == timedelta(days=7)
    assert at(pending["stateChanged"]) > at(created["stateChanged"])
    assert pending["invitees"][0]["state"] == "waiting"  # the invites (item 3) move the invitees

    problem(await client.patch(url, headers=headers, json={"name": "Late"}), 409, "Conflict", "DossierNotDraft")
    problem(await client.delete(url, headers=headers), 409, "Conflict", "DossierNotDraft")
    no_reason = await client.post(f"{url}/cancel", headers=headers, json={})
    assert pointers(problem(no_reason, 422, "UnprocessableEntity", "ValidationFailed")) == [("/reason", "missing")]
    stale = await client.post(f"{url}/cancel", headers=headers, json={"reason": "x", "concurrencyToken": "1"})
    problem(stale, 409, "Conflict", "ConcurrencyTokenMismatch")

    cancelled = await client.post(f"{url}/cancel", headers=headers, json={"reason": "The client chose another offer."})
    assert cancelled.status_code == 200, cancelled.text
    done = cancelled.json()
    assert (done["state"], done["cancelReason"], done["completed"]) == (
        "cancelled",
        "The client chose another offer.",
        False,
    )
    assert at(done["stateChanged"]) > at(pending["stateChanged"])
    assert cancelled.headers["ETag"] == f'"{done["concurrencyToken"]}"'
    again = await client.post(f"{url}/cancel", headers=headers, json={"reason": "Twice"})
    problem(again, 409, "Conflict", "DossierNotPending")
    assert "cancelled" in again.json()["detail"]
    problem(await client.delete(url, headers=headers), 409, "Conflict", "DossierNotDraft")
    listed = await client.get(DOSSIERS, headers=tenant.headers, params={"state": "cancelled"})
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]


async def test_sending_needs_a_draft_with_a_signer_or_approver(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    viewers_only = await create_dossier(client, advisor.headers, invitees=[signer(role="viewer")])
    with pytest.raises(NoSigners):
        await send(database, tenant, viewers_only["id"])
    approver = await create_dossier(client, advisor.headers, invitees=[signer(role="approver")])
    await send(database, tenant, approver["id"])
    with pytest.raises(DossierNotDraft):
        await send(database, tenant, approver["id"])


async def test_invitees_move_along_their_life_cycle_only(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    created = await create_dossier(
        client, advisor.headers, invitees=[signer(), signer(role="approver"), signer(role="viewer")]
    )
    ids = [UUID(i["id"]) for i in created["invitees"]]
    actor = tenants.operator(tenant.id)

    async def move(index: int, target: InviteeState, reason: str | None = None) -> None:
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            invitee = await session.get(Invitee, ids[index])
            assert invitee is not None
            await lifecycle.move_invitee(session, actor, invitee, target, reason=reason)
            await session.commit()

    with pytest.raises(InviteeStateInvalid):
        await move(0, InviteeState.SIGNED)  # waiting: not invited yet
    for index in range(3):
        await move(index, InviteeState.INVITED)
        await move(index, InviteeState.VIEWED)
    with pytest.raises(InviteeStateInvalid):
        await move(0, InviteeState.APPROVED)  # a signer signs
    with pytest.raises(InviteeStateInvalid):
        await move(1, InviteeState.SIGNED)  # an approver approves
    with pytest.raises(InviteeStateInvalid):
        await move(2, InviteeState.DECLINED)  # a viewer only views
    await move(0, InviteeState.SIGNED)
    await move(1, InviteeState.DECLINED, reason="Wrong amount")
    with pytest.raises(InviteeStateInvalid):
        await move(0, InviteeState.DECLINED)  # signed is the end
    read = (await client.get(f"{DOSSIERS}/{created['id']}", headers=tenant.headers)).json()
    states = [(i["state"], at(i["stateChanged"]) > at(created["createdAt"])) for i in read["invitees"]]
    assert states == [("signed", True), ("declined", True), ("viewed", True)]
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        declined = await session.get(Invitee, ids[1])
        assert declined is not None and declined.decline_reason == "Wrong amount"


# --- audit and events ---------------------------------------------------------------------


async def audit_of(client: httpx.AsyncClient, tenant: TenantFixture, target_id: str) -> list[dict[str, Any]]:
    answer = await client.get(
        f"{API_PREFIX}/audit-events",
        headers=tenant.headers,
        params={"targetId": target_id, "sortOrder": "Ascending", "pageSize": 200},
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_every_change_is_audited_and_announced_with_ids_and_states_only(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    contact = await create_contact(client, tenant.headers, advisorIds=[str(advisor.id)])
    created = await create_dossier(client, advisor.headers, contactId=contact["id"])
    dossier_id = created["id"]
    url = f"{DOSSIERS}/{dossier_id}"
    await client.patch(url, headers=advisor.headers, json={"name": "Renamed", "invitees": [signer(), signer()]})
    await send(database, tenant, dossier_id)
    await client.post(f"{url}/cancel", headers=advisor.headers, json={"reason": "Changed plans"})
    doomed = await create_dossier(client, advisor.headers)
    assert (await client.delete(f"{DOSSIERS}/{doomed['id']}", headers=advisor.headers)).status_code == 204

    entries = await audit_of(client, tenant, dossier_id)
    assert [(e["action"], e["actorKind"], e["actorId"]) for e in entries] == [
        ("signing.dossier.created", "member", str(advisor.id)),
        ("signing.dossier.updated", "member", str(advisor.id)),
        ("signing.dossier.sent", "operator", None),
        ("signing.dossier.cancelled", "member", str(advisor.id)),
    ]
    created_data, updated_data, sent_data, cancelled_data = (e["data"] for e in entries)
    assert created_data == {
        "ownerMemberId": str(advisor.id),
        "contactId": contact["id"],
        "exchangeId": None,
        "method": "ses",
        "invitees": 1,
    }
    assert updated_data == {"changed": ["name"], "invitees": {"added": 2, "changed": 0, "removed": 1}}
    assert (sent_data["from"], sent_data["to"]) == ("draft", "pending") and "expiresAt" in sent_data
    assert cancelled_data == {"from": "pending", "to": "cancelled", "reason": "Changed plans"}
    assert [e["action"] for e in await audit_of(client, tenant, doomed["id"])] == [
        "signing.dossier.created",
        "signing.dossier.deleted",
    ]

    by = f"member:{tenant.api_key_id}"  # the principal: the app's key, acting for the advisor
    base = {"ownerMemberId": str(advisor.id), "exchangeId": None, "by": by}
    assert await events_of(database, tenant, "dossier.") == [
        ("dossier.created", {"dossierId": dossier_id, "state": "draft", "contactId": contact["id"], **base}),
        (
            "dossier.state.updated",
            {"dossierId": dossier_id, "state": "pending", "previousState": "draft", "by": "operator:None"},
        ),
        (
            "dossier.state.updated",
            {"dossierId": dossier_id, "state": "cancelled", "previousState": "pending", "by": by},
        ),
        ("dossier.created", {"dossierId": doomed["id"], "state": "draft", "contactId": None, **base}),
        ("dossier.deleted", {"dossierId": doomed["id"], "state": "draft", "contactId": None, **base}),
    ]


async def test_the_catalogue_lists_the_dossier_events_with_their_schemas(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    answer = await client.get(f"{API_PREFIX}/events", headers=tenant.headers, params={"pageSize": 200})
    found = {item["type"]: item for item in answer.json()["items"] if item["type"].startswith("dossier.")}
    assert set(found) >= {"dossier.created", "dossier.state.updated", "dossier.deleted"}
    state_schema = found["dossier.state.updated"]["dataSchema"]
    assert set(state_schema["properties"]) == {"dossierId", "state", "previousState", "by"}
    assert set(found["dossier.created"]["dataSchema"]["properties"]) == {
        "dossierId",
        "state",
        "ownerMemberId",
        "contactId",
        "exchangeId",
        "by",
    }


async def test_dossier_tables_are_under_row_level_security_on_postgresql(database: Database) -> None:
    if not database.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature")
    async with database.session(write=False) as session:
        rows = await session.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relname IN ('dossiers', 'invitees') ORDER BY relname"
            )
        )
        assert [tuple(row) for row in rows] == [("dossiers", True, True), ("invitees", True, True)]
