"""Tenant isolation, route by route: tenant B's key never reaches tenant A's rows.

The harness walks every JSON route of the app. A path parameter is filled with an id of
tenant A's resource of that kind (`RESOURCE_FACTORIES`); every method then answers 404
to tenant B, whose key holds every scope. Routes without path parameters must not list
A's rows. Nothing of tenant A may change. A new route with a new path parameter fails
this test until a factory for it is added here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi import FastAPI
from sqlalchemy import insert, select, text

from trustroom.actor import Actor, ActorKind
from trustroom.auth import events as auth_events
from trustroom.auth.models import Role
from trustroom.auth.service import invitations, tenants
from trustroom.clients.models import ImportFailure, ImportRun, RecordAssignment, RecordKind
from trustroom.clients.service import definitions, exports, legal_entities, records
from trustroom.clients.service import lists as lists_service
from trustroom.clients.service.channels import Verifier
from trustroom.db import BYPASS_SETTING, Base, Database, bind_tenant, cross_tenant, uuid7
from trustroom.exchange.models import Folder
from trustroom.exchange.schemas import ExchangeCreate
from trustroom.exchange.service import documents, exchanges, folders
from trustroom.http import API_PREFIX, endpoints
from trustroom.jobs import service as jobs_service
from trustroom.jobs import tasks as jobs_tasks
from trustroom.keys import ServerKeys
from trustroom.settings import ClientSettings, Settings, SigningSettings, WebhookSettings
from trustroom.signing import pki
from trustroom.signing.schemas.documents import FieldWrite
from trustroom.signing.schemas.dossiers import DossierCreate
from trustroom.signing.schemas.invites import InviteCreate
from trustroom.signing.service import access as signing_access
from trustroom.signing.service import authorities, dossiers
from trustroom.signing.service import documents as signing_documents
from trustroom.signing.service import fields as signing_fields
from trustroom.signing.service import invitees as signing_invitees
from trustroom.signing.service import invites as signing_invites
from trustroom.signing.service import tokens as signing_tokens
from trustroom.signing.service.access import invitees_of
from trustroom.signing.service.stored_pdfs import Workshop
from trustroom.storage.blobs import LocalBlobStore
from trustroom.storage.keyring import SealedKeyring
from trustroom.webhooks import service as webhooks_service
from trustroom.webhooks.models import WebhookEndpoint
from trustroom.webhooks.schemas import EndpointCreate

from .factories import TenantFixture, make_api_key, make_member
from .signing.support import make_pdf

Factory = Callable[[Database, ServerKeys, TenantFixture], Awaitable[str]]


async def _api_key(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    await make_api_key(database, keys, tenant.id, ["contacts:read"])
    return str(tenant.api_key_id)


async def _member(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    return str((await make_member(database, keys, tenant.id)).member.id)


async def _invitation(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        made = await invitations.invite(
            session, actor, keys, email="isolated@bank.example", role=Role.ADVISOR, public_url="http://127.0.0.1"
        )
        return str(made.id)

    return await _with_actor(database, tenant, work)


async def _job(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async with database.session() as session:
        job = await jobs_service.enqueue(session, jobs_tasks.PURGE_FINISHED, tenant_id=tenant.id)
        await session.commit()
    return str(job.id)


async def _endpoint(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    actor = tenants.operator(tenant.id)
    body = EndpointCreate(url="https://owner.bank.example/hooks", headers={"X-Owner": "a"})
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        endpoint, _ = await webhooks_service.create(session, actor, keys, WebhookSettings(), {"member.created"}, body)
        await session.commit()
    return str(endpoint.id)


async def _message(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    endpoint_id = UUID(await _endpoint(database, keys, tenant))
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        event = await jobs_service.emit(
            session, auth_events.MEMBER_CREATED, {"member_id": tenant.api_key_id}, tenant_id=tenant.id, dispatch=False
        )
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        delivery_id = await webhooks_service.queue_delivery(session, WebhookSettings(), event, endpoint)
        await session.commit()
    return str(delivery_id)


MARKER = "tenant-a-only-7f3c"
MARKER_QUERY = 'query { contacts(where: {username: {eq: "' + MARKER + '"}}) { items { id } } }'


async def _with_actor(database: Database, tenant: TenantFixture, work: Callable[[Any, Actor], Awaitable[str]]) -> str:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        result = await work(session, tenants.operator(tenant.id))
        await session.commit()
    return result


async def _contact(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        details = {"personalInformation": {"firstName": "Anna", "lastName": MARKER}}
        record = await records.create(
            session, actor, RecordKind.CONTACT, details, contact_type_id=1, username=f"{MARKER}-{uuid7()}"
        )
        await records.connect(session, actor, record, "Default", f"{MARKER}-{record.id}")
        return str(record.id)

    return await _with_actor(database, tenant, work)


async def _legal_entity(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    contact_id = UUID(await _contact(database, keys, tenant))

    async def work(session: Any, actor: Actor) -> str:
        policy = legal_entities.Policy(contact_id, 1, "Act")
        entity = await legal_entities.create(
            session, actor, {"details": {"name": MARKER}}, [policy], correlation_id=None
        )
        return str(entity.id)

    return await _with_actor(database, tenant, work)


async def _external_id(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    return f"{MARKER}-{await _contact(database, keys, tenant)}"


async def _change_request(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    contact_id = UUID(await _contact(database, keys, tenant))
    member = (await make_member(database, keys, tenant.id)).member
    actor = Actor(tenant_id=tenant.id, kind=ActorKind.MEMBER, id=member.id, permissions=member.permissions)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(
            insert(RecordAssignment).values(tenant_id=tenant.id, record_id=contact_id, member_id=member.id)
        )
        outcome = await records.update_details(
            session,
            actor,
            Verifier(keys, ClientSettings()),
            RecordKind.CONTACT,
            contact_id,
            {"personalInformation": {"firstName": MARKER}},
            partial=True,
            comment=MARKER,
            concurrency_token=None,
        )
        await session.commit()
    assert outcome.change_request is not None
    return str(outcome.change_request.id)


async def _schema_key(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        current = await definitions.current(session, actor, "contact")
        document = {**current.document, "title": MARKER}
        await definitions.replace(session, actor, "contact", document, concurrency_token=current.concurrency_token)
        return "contact"

    return await _with_actor(database, tenant, work)


async def _list_key(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        await lists_service.replace(session, actor, "branches", [lists_service.NewItem("ZRH", {"en": MARKER})])
        return "branches"

    return await _with_actor(database, tenant, work)


async def _export(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        started = await exports.start(session, actor, RecordKind.CONTACT, {"graphql": MARKER_QUERY})
        return str(started.id)

    return await _with_actor(database, tenant, work)


async def _import_status(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        run = ImportRun(tenant_id=tenant.id, kind=RecordKind.CONTACT, requested_by=actor.snapshot(), language="en")
        session.add(run)
        await session.flush()
        session.add(
            ImportFailure(tenant_id=tenant.id, run_id=run.id, position=0, external_id=MARKER, code="X", message=MARKER)
        )
        return str(run.id)

    return await _with_actor(database, tenant, work)


def _exchange_body() -> ExchangeCreate:
    n = uuid7()
    return ExchangeCreate.model_validate(
        {
            "username": f"{MARKER}-{n}",
            "externalUserId": f"{MARKER}-{n}",
            "languageCode": "EN",
            "password": f"{MARKER}-password",
            "client": {"lastName": MARKER, "email": "owner@mail.example", "mobileNumber": "+41791234567"},
            "externalExchangeId": f"{MARKER}-{n}",
            "name": MARKER,
        }
    )


async def _exchange(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        return str((await exchanges.create(session, actor, SealedKeyring(keys), _exchange_body())).id)

    return await _with_actor(database, tenant, work)


async def _external_exchange_id(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    async def work(session: Any, actor: Actor) -> str:
        return (await exchanges.create(session, actor, SealedKeyring(keys), _exchange_body())).external_exchange_id

    return await _with_actor(database, tenant, work)


async def _folder(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    exchange_id = UUID(await _exchange(database, keys, tenant))

    async def work(session: Any, actor: Actor) -> str:
        return str((await folders.create(session, actor, exchange_id, MARKER, None)).id)

    return await _with_actor(database, tenant, work)


async def _document(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    folder_id = UUID(await _folder(database, keys, tenant))

    async def work(session: Any, actor: Actor) -> str:
        folder = await session.get(Folder, folder_id)
        target = await documents.prepare_upload(session, actor, SealedKeyring(keys), folder.exchange_id, folder_id)
        receiver = documents.Receiver(LocalBlobStore(Path(tempfile.mkdtemp())), tenant.id, target, max_bytes=1024)
        await receiver.begin("file", f"{MARKER}.txt", "text/plain")
        await receiver.data(MARKER.encode())
        await receiver.end()
        document, _version = await documents.finish_upload(session, actor, target, receiver)
        return str(document.id)

    return await _with_actor(database, tenant, work)


async def _dossier(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    owner_id = await _member(database, keys, tenant)
    contact_id = await _contact(database, keys, tenant)

    async def work(session: Any, actor: Actor) -> str:
        body = DossierCreate.model_validate(
            {
                "name": MARKER,
                "ownerMemberId": owner_id,
                "contactId": contact_id,
                "invitees": [{"name": MARKER, "email": "owner@mail.example", "contactId": contact_id}],
            }
        )
        dossier, _invitees = await dossiers.create(session, actor, body)
        return str(dossier.id)

    return await _with_actor(database, tenant, work)


async def _invite(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    # Sending needs a document with a signature field for the signer.
    dossier_id = UUID((await _dossier_document(database, keys, tenant))["dossier_id"])

    async def work(session: Any, actor: Actor) -> str:
        dossier = await signing_access.load_dossier(session, actor, dossier_id)
        (invitee,) = await signing_invitees.of_dossier(session, actor, dossier)
        outbound = signing_invites.Outbound(keys, "http://127.0.0.1")
        settings = Settings(public_url="http://127.0.0.1")  # the PKI's URLs; keys come from `keys`
        workshop = Workshop(keys, settings, SealedKeyring(keys), _DOSSIER_STORE)
        body = [InviteCreate.model_validate({"inviteeId": str(invitee.id), "channel": "link"})]
        (made,) = await signing_invites.create(session, actor, outbound, workshop, dossier_id, body)
        return str(made.id)

    return await _with_actor(database, tenant, work)


async def _signer_token(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    """The invite token of a signer of the tenant's own pending dossier (named apart from
    MARKER, so what it shows of its own dossier is not taken for a leak)."""
    owner_id = await _member(database, keys, tenant)

    async def draft(session: Any, actor: Actor) -> str:
        body = DossierCreate.model_validate(
            {"name": "Their own", "ownerMemberId": owner_id, "invitees": [{"name": "Their signer"}]}
        )
        dossier, _invitees = await dossiers.create(session, actor, body)
        return str(dossier.id)

    dossier_id = UUID(await _with_actor(database, tenant, draft))
    await _attach_document(database, keys, tenant, dossier_id, "Their own")

    async def send(session: Any, actor: Actor) -> str:
        dossier = await signing_access.load_dossier(session, actor, dossier_id)
        (invitee,) = await signing_invitees.of_dossier(session, actor, dossier)
        outbound = signing_invites.Outbound(keys, "http://127.0.0.1")
        workshop = Workshop(keys, Settings(public_url="http://127.0.0.1"), SealedKeyring(keys), _DOSSIER_STORE)
        given = [InviteCreate.model_validate({"inviteeId": str(invitee.id), "channel": "link"})]
        (made,) = await signing_invites.create(session, actor, outbound, workshop, dossier_id, given)
        return signing_tokens.token_of(keys, made)

    return await _with_actor(database, tenant, send)


async def _system(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    return "Default"


async def _page_number(database: Database, keys: ServerKeys, tenant: TenantFixture) -> str:
    return "1"


# The dossiers' PDFs: sending one reads what was uploaded (to prepare and certify it).
_DOSSIER_STORE = LocalBlobStore(Path(tempfile.mkdtemp()))


async def _attach_document(
    database: Database, keys: ServerKeys, tenant: TenantFixture, dossier_id: UUID, title: str
) -> str:
    """A one-page PDF in the dossier, with a signature field for its first invitee."""

    async def work(session: Any, actor: Actor) -> str:
        target = await signing_documents.prepare_upload(
            session, actor, SealedKeyring(keys), SigningSettings(), dossier_id
        )
        receiver = signing_documents.Receiver(target)
        await receiver.begin("file", f"{title}.pdf", "application/pdf")
        await receiver.data(make_pdf(1, title=title))
        await receiver.end()
        document = await signing_documents.finish_upload(session, actor, _DOSSIER_STORE, target, receiver)
        dossier = await signing_access.load_dossier(session, actor, dossier_id)
        invitee = (await invitees_of(session, actor, [dossier.id]))[dossier.id][0]
        given = FieldWrite.model_validate(
            {"inviteeId": str(invitee.id), "type": "signature", "page": 1, "x": 72, "y": 72, "width": 200, "height": 60}
        )
        await signing_fields.replace(session, actor, dossier_id, document.id, [given])
        return str(document.id)

    return await _with_actor(database, tenant, work)


async def _dossier_document(database: Database, keys: ServerKeys, tenant: TenantFixture) -> dict[str, str]:
    """A PDF of tenant A's dossier, with a field for its invitee: the path's ids."""
    dossier_id = UUID(await _dossier(database, keys, tenant))
    document_id = await _attach_document(database, keys, tenant, dossier_id, MARKER)
    return {"dossier_id": str(dossier_id), "document_id": document_id}


RESOURCE_FACTORIES: dict[str, Factory] = {
    "api_key_id": _api_key,
    "member_id": _member,
    "invitation_id": _invitation,
    "job_id": _job,
    "endpoint_id": _endpoint,
    "message_id": _message,
    "contact_id": _contact,
    "legal_entity_id": _legal_entity,
    "change_request_id": _change_request,
    "external_id": _external_id,
    "export_job_id": _export,
    "status_id": _import_status,
    "exchange_id": _exchange,
    "external_exchange_id": _external_exchange_id,
    "folder_id": _folder,
    "document_id": _document,
    "dossier_id": _dossier,
    "invite_id": _invite,
}
# Under a dossier, `document_id` names one of its PDFs (elsewhere an exchange's document):
# paths with both get tenant A's dossier and a document of it. Page numbers are numbers.
VALUE_FACTORIES: dict[str, Factory] = {"page_number": _page_number}
# Names of things every tenant has its own of (a schema, a list, an external system): with
# these alone in a path, tenant B reaches its own, and must never see tenant A's MARKER.
SHARED_NAME_FACTORIES: dict[str, Factory] = {"key": _schema_key, "list_key": _list_key, "system": _system}


def api_routes(app: FastAPI) -> list[tuple[str, frozenset[str]]]:
    """(path template, methods) of every JSON API endpoint."""
    public = {f"{API_PREFIX}/openapi.json"}
    routes = [(path, methods) for path, methods in endpoints(app) if path.startswith(API_PREFIX) and path not in public]
    assert len(routes) >= 5, "the harness must see the app's routes"
    return routes


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "examples" in schema:
        return schema["examples"][0]
    if "anyOf" in schema:
        return _example(schema["anyOf"][0], components)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _example(props[name], components) for name in schema.get("required", [])}
    if kind == "array":
        return [_example(schema.get("items", {}), components)]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "uuid":
        return str(uuid7())
    return {"string": "example", "integer": 3600, "number": 1, "boolean": False}.get(kind or "string", "x")


def request_body(openapi: dict[str, Any], path: str, method: str) -> Any:
    operation = openapi["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return _example(content["schema"], openapi["components"]["schemas"])


async def tenant_snapshot(database: Database, tenant: TenantFixture) -> dict[str, str]:
    """A digest of every row tenant A owns, table by table."""
    digests: dict[str, str] = {}
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        async with cross_tenant(session):
            for table in Base.metadata.sorted_tables:
                column = table.c.get("tenant_id") if "tenant_id" in table.c else None
                if column is None:
                    continue
                rows = (await session.execute(select(table).where(column == tenant.id))).all()
                canonical = json.dumps(sorted(json.dumps(list(r), default=str) for r in rows))
                digests[table.name] = hashlib.sha256(canonical.encode()).hexdigest()
    return digests


def test_every_path_parameter_has_a_factory(app: FastAPI) -> None:
    params = {p for path, _ in api_routes(app) for p in re.findall(r"{(\w+)}", path)}
    missing = params - RESOURCE_FACTORIES.keys() - SHARED_NAME_FACTORIES.keys() - VALUE_FACTORIES.keys()
    assert not missing, f"add tenant-isolation factories for: {sorted(missing)}"


async def test_tenant_b_cannot_reach_tenant_a(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
) -> None:
    owner, intruder = tenant, other_tenant
    ids = {name: await factory(database, keys, owner) for name, factory in RESOURCE_FACTORIES.items()}
    names = {name: await factory(database, keys, owner) for name, factory in SHARED_NAME_FACTORIES.items()}
    values = {name: await factory(database, keys, owner) for name, factory in VALUE_FACTORIES.items()}
    in_dossier = await _dossier_document(database, keys, owner)
    openapi = (await client.get(f"{API_PREFIX}/openapi.json")).json()
    before = await tenant_snapshot(database, owner)
    checked = 0
    for template, methods in api_routes(app):
        params = re.findall(r"{(\w+)}", template)
        given = {**ids, **names, **values}
        if "dossier_id" in params and "document_id" in params:
            given |= in_dossier
        # The signer's API takes an invite token: one of tenant B's own dossier, never
        # reaching tenant A's documents (a fresh one per route: declining ends a dossier).
        signer_route = template.startswith(f"{API_PREFIX}/signer/")
        if signer_route:
            given |= {"document_id": in_dossier["document_id"]}
        path = template.format(**{p: given[p] for p in params})
        owned = [p for p in params if p in ids]
        for method in sorted(methods - {"HEAD"}):
            body = request_body(openapi, template, method)
            headers = intruder.headers
            if signer_route:
                headers = {"Authorization": f"Bearer {await _signer_token(database, keys, intruder)}"}
            response = await client.request(method, path, headers=headers, json=body)
            checked += 1
            if owned:
                assert response.status_code == 404, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
            else:
                assert response.status_code < 500, (method, path, response.text)
                leaked = [value for value in [*ids.values(), *in_dossier.values(), MARKER] if value in response.text]
                assert not leaked, (method, path, leaked)
    assert checked >= len(api_routes(app))
    assert await tenant_snapshot(database, owner) == before


@pytest.mark.parametrize("scopes", [[], ["contacts:read"]])
async def test_missing_scope_is_403_on_own_tenant(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    scopes: list[str],
) -> None:
    narrow = await make_api_key(database, keys, tenant.id, scopes or ["jobs:read"])
    response = await client.get(f"{API_PREFIX}/members", headers={"Authorization": f"Bearer {narrow}"})
    assert response.status_code == 403
    assert response.json()["subCode"] == "MissingScope"


async def test_postgres_row_level_security_hides_other_tenants(
    database: Database, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    """The backstop: even a query without a tenant filter sees only the bound tenant's rows."""
    if not database.url.startswith("postgresql"):
        pytest.skip("row-level security is a PostgreSQL feature")
    async with database.session() as session:
        exists = await session.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = 'trustroom_rls_probe'"))
        if not exists:
            await session.execute(text("CREATE ROLE trustroom_rls_probe NOLOGIN NOSUPERUSER NOBYPASSRLS"))
        await session.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO trustroom_rls_probe"))
        await session.commit()
    async with database.session() as session:
        await session.execute(text("SET LOCAL ROLE trustroom_rls_probe"))
        unbound = await session.scalar(text("SELECT count(*) FROM api_keys"))
        assert unbound == 0, "without a tenant nothing is visible"
        await bind_tenant(session, tenant.id)
        visible = (await session.execute(text("SELECT DISTINCT tenant_id FROM api_keys"))).scalars().all()
        assert [str(v) for v in visible] == [str(tenant.id)]
        await session.rollback()


async def test_a_failing_cross_tenant_block_lifts_its_bypass_and_keeps_its_error(
    database: Database, tenant: TenantFixture
) -> None:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        with pytest.raises(LookupError, match="inside"):
            async with cross_tenant(session):
                raise LookupError("inside")
        # The transaction goes on, under row-level security again.
        if database.url.startswith("postgresql"):
            bypass = await session.scalar(text(f"SELECT current_setting('{BYPASS_SETTING}', true)"))
            assert bypass == "off"
        await session.rollback()


async def test_a_tenants_public_pki_answers_for_its_own_ca_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
) -> None:
    """The /pki routes take no key: the tenant in the path is the scope. Tenant B's CA, CRL and
    responder never serve or vouch for tenant A's certificates (OCSP `unauthorized`)."""
    made = {}
    for owner in (tenant, other_tenant):
        async with database.session() as session:
            await bind_tenant(session, owner.id)
            made[owner.id] = await authorities.tenant_authority(session, keys, settings, owner.id)
            await session.commit()
    mine = made[tenant.id]
    about_mine = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(mine.seal.certificate, mine.ca.certificate, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    routes = [(path, methods) for path, methods in endpoints(app) if path.startswith("/pki/tenants/{tenant_id}")]
    assert len(routes) >= 5
    for template, methods in routes:
        path = template.format(tenant_id=other_tenant.id, encoded=base64.b64encode(about_mine).decode())
        for method in methods - {"HEAD"}:
            response = await client.request(method, path, content=about_mine if method == "POST" else None)
            assert response.status_code == 200, (method, path, response.text)
            if "/ocsp" in template:
                answer = ocsp.load_der_ocsp_response(response.content)
                assert answer.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED, (method, path)
            else:
                assert pki.der(mine.ca.certificate) not in response.content, (method, path)
                assert pki.pem(mine.ca.certificate) not in response.content, (method, path)
