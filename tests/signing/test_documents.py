"""Documents and fields of a dossier through the API (issue #14, item 2): upload with an API
key or through an upload URL (bound to its dossier, one hour, rate-limited), the limits
(20 documents, 50 MB together), PDFs only (each refusal names the file), SHA-256 and the
content round trip, page sizes and images, fields and their rules, delete while a draft,
what sending needs, the audit trail, the S3 backend, and tenant isolation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as sig_fields
from sqlalchemy import func, select

from trustroom.app import create_app
from trustroom.auth.models import Role
from trustroom.auth.service import tenants
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.keys import ServerKeys
from trustroom.settings import Settings, SigningSettings
from trustroom.signing import pades
from trustroom.signing.errors import FieldsOfNonSigner, NoDocuments, SignatureFieldMissing
from trustroom.signing.models import DocumentField, DocumentUploadUrl, DossierDocument
from trustroom.signing.service import access, upload_urls
from trustroom.signing.service import documents as document_service
from trustroom.signing.service import fields as field_service
from trustroom.storage.models import Blob

from ..clients.conftest import Person, person
from ..factories import TenantFixture
from ..objectstore import MotoServer
from .support import Pki, encrypted_pdf, make_pdf
from .test_dossiers import DOSSIERS, audit_of, create_dossier, problem, send, signer

MB = 1024 * 1024


# --- PDFs -------------------------------------------------------------------------------------


def with_signature_fields(data: bytes, *names: str) -> bytes:
    """`data` with empty signature fields, each 200 by 60 points on the last page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    last = int(writer.root["/Pages"]["/Count"]) - 1
    for index, name in enumerate(names):
        box = (72, 72 + 80 * index, 272, 132 + 80 * index)
        sig_fields.append_signature_field(writer, sig_fields.SigFieldSpec(name, on_page=last, box=box))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def padded(data: bytes, size: int) -> bytes:
    """A valid PDF of about `size` bytes: `data` with an unused stream appended (an incremental
    update), so that the size limits can be tried with real PDFs."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    stream = generic.StreamObject(stream_data=b"\0" * max(0, size - len(data)))
    writer.root[generic.pdf_name("/TrustroomPadding")] = writer.add_object(stream)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def turned(data: bytes) -> bytes:
    """`data` with its first page cropped to 500 by 260 points at (50, 20) and turned 90°."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    page_ref = writer.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    page[generic.pdf_name("/Rotate")] = generic.NumberObject(90)
    page[generic.pdf_name("/CropBox")] = generic.ArrayObject(generic.FloatObject(v) for v in (50, 20, 550, 280))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- API helpers ------------------------------------------------------------------------------


def documents_url(dossier_id: str) -> str:
    return f"{DOSSIERS}/{dossier_id}/documents"


async def upload(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str] | None,
    data: bytes,
    name: str = "contract.pdf",
) -> httpx.Response:
    return await client.post(url, headers=headers or {}, files={"file": (name, data, "application/pdf")})


async def uploaded(
    client: httpx.AsyncClient, headers: dict[str, str], dossier_id: str, data: bytes, name: str = "contract.pdf"
) -> dict[str, Any]:
    response = await upload(client, documents_url(dossier_id), headers, data, name)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload_url(client: httpx.AsyncClient, headers: dict[str, str], dossier_id: str) -> str:
    """The path and query of a new upload URL (its host is the configured public URL)."""
    response = await client.post(f"{documents_url(dossier_id)}/upload-url", headers=headers)
    assert response.status_code == 201, response.text
    parts = urlsplit(response.json()["url"])
    return f"{parts.path}?{parts.query}"


async def tenant_blobs(database: Database, tenant: TenantFixture) -> int:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        return int(await session.scalar(select(func.count(Blob.id)).where(Blob.tenant_id == tenant.id)) or 0)


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    return await person(database, keys, tenant, Role.ADVISOR)


@pytest.fixture
async def dossier(client: httpx.AsyncClient, advisor: Person) -> dict[str, Any]:
    return await create_dossier(
        client,
        advisor.headers,
        invitees=[
            signer(),
            signer(name="Beat Berater", email="beat@mail.example", role="approver", position=2),
            signer(name="Carla Copy", email="carla@mail.example", role="viewer", position=2),
        ],
    )


@contextlib.asynccontextmanager
async def own_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # An address of its own: the attempt counters are shared by every test of the run.
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 52000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http_client:
        yield http_client


# --- uploads ----------------------------------------------------------------------------------


async def test_an_upload_url_takes_a_pdf_without_an_api_key_and_the_content_comes_back(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    original = with_signature_fields(make_pdf(3), "ClientSignature")
    path = await upload_url(client, advisor.headers, dossier["id"])
    token = path.split("token=", 1)[1]

    response = await upload(client, path, None, original, "Mandate 2026.pdf")

    assert response.status_code == 201, response.text
    document = response.json()
    assert response.headers["location"] == f"{documents_url(dossier['id'])}/{document['id']}"
    digest = hashlib.sha256(original).hexdigest()
    assert document["name"] == "Mandate 2026.pdf"
    assert (document["sha256"], document["currentSha256"]) == (digest, digest)
    assert (document["byteSize"], document["pageCount"], document["position"]) == (len(original), 3, 0)
    assert document["signatureFields"] == [
        {"name": "ClientSignature", "page": 3, "x": 72.0, "y": 72.0, "width": 200.0, "height": 60.0}
    ]
    assert document["uploadedBy"] == f"member:{tenant.api_key_id}"  # the URL's creator answers for it

    content = await client.get(f"{documents_url(dossier['id'])}/{document['id']}/content", headers=advisor.headers)
    assert content.status_code == 200
    assert content.content == original
    assert content.headers["etag"] == f'"{digest}"'
    assert content.headers["content-type"] == "application/pdf"

    # The token is kept only as a keyed hash, and appears in no audit entry.
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        row = await session.scalar(select(DocumentUploadUrl).where(DocumentUploadUrl.tenant_id == tenant.id))
    assert row is not None and token not in row.token_hash and row.token_hash != token
    entries = await audit_of(client, tenant, document["id"])
    assert [(e["action"], e["actorKind"], e["actorId"]) for e in entries] == [
        ("signing.document.uploaded", "member", str(advisor.id))
    ]
    assert entries[0]["data"] == {
        "dossierId": dossier["id"],
        "fileName": "Mandate 2026.pdf",
        "byteSize": len(original),
        "pageCount": 3,
        "sha256": digest,
        "uploadUrlId": str(row.id),
    }
    created = await audit_of(client, tenant, dossier["id"])
    assert "signing.document.upload_url_created" in [e["action"] for e in created]
    assert token not in str(entries + created)


async def test_a_direct_upload_takes_the_api_key_and_keeps_the_order(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any]
) -> None:
    first = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1), "first.pdf")
    second = await uploaded(client, advisor.headers, dossier["id"], make_pdf(2), "C:\\Users\\anna\\second.pdf")
    assert (first["position"], second["position"], second["name"]) == (0, 1, "second.pdf")

    listed = await client.get(documents_url(dossier["id"]), headers=advisor.headers)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [first["id"], second["id"]]
    assert listed.json()["totalCount"] == 2
    got = await client.get(f"{documents_url(dossier['id'])}/{second['id']}", headers=advisor.headers)
    assert got.status_code == 200 and got.json() == second | {"fields": []}

    # Without a key and without a token: authentication is required.
    anonymous = await upload(client, documents_url(dossier["id"]), None, make_pdf(1))
    assert anonymous.status_code == 401


async def test_the_upload_url_expires_after_an_hour_and_serves_its_own_dossier_only(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await create_dossier(client, advisor.headers)
    path = await upload_url(client, advisor.headers, dossier["id"])
    token = path.split("token=", 1)[1]

    elsewhere = await upload(client, f"{documents_url(other['id'])}?token={token}", None, make_pdf(1))
    problem(elsewhere, 401, "Unauthorized", "UploadUrlInvalid")
    guessed = await upload(client, f"{documents_url(dossier['id'])}?token=x{token[1:]}", None, make_pdf(1))
    problem(guessed, 401, "Unauthorized", "UploadUrlInvalid")

    almost = utcnow() + timedelta(minutes=59)
    monkeypatch.setattr(upload_urls, "utcnow", lambda: almost)
    assert (await upload(client, path, None, make_pdf(1))).status_code == 201
    later = utcnow() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(upload_urls, "utcnow", lambda: later)
    expired = await upload(client, path, None, make_pdf(1))
    problem(expired, 401, "Unauthorized", "UploadUrlInvalid")
    # A request with an API key is the key's: the token it carries is not looked at.
    assert (await upload(client, path, advisor.headers, make_pdf(1))).status_code == 201

    for target in (dossier, other):
        listed = await client.get(documents_url(target["id"]), headers=advisor.headers)
        assert listed.json()["totalCount"] == (2 if target is dossier else 0)


async def test_upload_url_attempts_are_limited_per_address(
    settings: Settings, advisor: Person, dossier: dict[str, Any]
) -> None:
    limited = settings.model_copy(update={"signing": SigningSettings(upload_url_attempts_per_minute=3)})
    app = create_app(limited, run_worker_in_process=False)
    try:
        async with own_client(app) as client:
            path = await upload_url(client, advisor.headers, dossier["id"])
            wrong = f"{documents_url(dossier['id'])}?token=guess"
            answers = [(await upload(client, wrong, None, make_pdf(1))).status_code for _ in range(3)]
            assert answers == [401, 401, 401]
            refused = await upload(client, path, None, make_pdf(1))  # even the right token now
            problem(refused, 429, "TooManyRequests", "RateLimited")
            assert int(refused.headers["retry-after"]) >= 1
    finally:
        await app.state.database.dispose()


async def test_the_21st_document_is_refused_naming_the_file(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    small = make_pdf(1)
    for number in range(20):
        await uploaded(client, advisor.headers, dossier["id"], small, f"part-{number}.pdf")
    blobs = await tenant_blobs(database, tenant)

    refused = await upload(client, documents_url(dossier["id"]), advisor.headers, small, "annex-21.pdf")

    problem(refused, 400, "BadRequest", "TooManyDocuments")
    assert "annex-21.pdf" in refused.json()["detail"] and "20" in refused.json()["detail"]
    assert (await client.get(documents_url(dossier["id"]), headers=advisor.headers)).json()["totalCount"] == 20
    assert await tenant_blobs(database, tenant) == blobs


async def test_documents_over_50_mb_together_are_refused_naming_the_file(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    assert SigningSettings().max_total_bytes == 50 * MB
    big = padded(make_pdf(1), 30 * MB)
    first = await uploaded(client, advisor.headers, dossier["id"], big, "appendix.pdf")
    assert first["byteSize"] == len(big) and first["pageCount"] == 1
    blobs = await tenant_blobs(database, tenant)

    refused = await upload(client, documents_url(dossier["id"]), advisor.headers, big, "appendix-2.pdf")

    problem(refused, 413, "PayloadTooLarge", "DocumentsTooLarge")
    assert "appendix-2.pdf" in refused.json()["detail"] and str(50 * MB) in refused.json()["detail"]
    assert await tenant_blobs(database, tenant) == blobs
    # What still fits is taken.
    rest = padded(make_pdf(1), 50 * MB - len(big) - 4096)
    assert (await upload(client, documents_url(dossier["id"]), advisor.headers, rest, "rest.pdf")).status_code == 201


@pytest.mark.parametrize(
    ("make", "sub_code"),
    [
        (lambda: b"PK\x03\x04 this is a zip archive", "NotAPdf"),
        (encrypted_pdf, "EncryptedPdf"),
        (lambda: make_pdf(2)[:1500], "BrokenPdf"),
        (lambda: b"%PDF-1.7\n" + b"garbage " * 200, "BrokenPdf"),
    ],
)
async def test_what_is_not_a_readable_pdf_is_refused_naming_the_file(
    client: httpx.AsyncClient,
    database: Database,
    tenant: TenantFixture,
    advisor: Person,
    dossier: dict[str, Any],
    make: Any,
    sub_code: str,
) -> None:
    blobs = await tenant_blobs(database, tenant)
    refused = await upload(client, documents_url(dossier["id"]), advisor.headers, make(), "Vertrag Müller.pdf")
    problem(refused, 400, "BadRequest", sub_code)
    assert "Vertrag Müller.pdf" in refused.json()["detail"]
    assert (await client.get(documents_url(dossier["id"]), headers=advisor.headers)).json()["totalCount"] == 0
    assert await tenant_blobs(database, tenant) == blobs


async def test_refusals_are_localized(client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any]) -> None:
    refused = await upload(
        client, f"{documents_url(dossier['id'])}?language=de", advisor.headers, encrypted_pdf(), "geheim.pdf"
    )
    problem(refused, 400, "BadRequest", "EncryptedPdf")
    detail = refused.json()["detail"]
    assert "geheim.pdf" in detail and "verschlüsselt" in detail


async def test_a_signed_pdf_is_refused_naming_the_file(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any], test_pki: Pki
) -> None:
    signed = await pades.certify(make_pdf(1), test_pki.seal, test_pki.stamper())
    refused = await upload(client, documents_url(dossier["id"]), advisor.headers, signed, "signed.pdf")
    problem(refused, 400, "BadRequest", "SignedPdf")
    assert "signed.pdf" in refused.json()["detail"]


async def test_uploads_and_changes_only_while_a_draft(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    kept = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1))
    doomed = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1))
    path = await upload_url(client, advisor.headers, dossier["id"])
    url = f"{documents_url(dossier['id'])}/{doomed['id']}"

    assert (await client.delete(url, headers=advisor.headers)).status_code == 204
    problem(await client.get(url, headers=advisor.headers), 404, "NotFound", "DocumentNotFound")
    problem(await client.delete(url, headers=advisor.headers), 404, "NotFound", "DocumentNotFound")
    assert [e["action"] for e in await audit_of(client, tenant, doomed["id"])] == [
        "signing.document.uploaded",
        "signing.document.deleted",
    ]

    await send(database, tenant, dossier["id"])
    kept_url = f"{documents_url(dossier['id'])}/{kept['id']}"
    for refused in [
        await client.delete(kept_url, headers=advisor.headers),
        await upload(client, documents_url(dossier["id"]), advisor.headers, make_pdf(1)),
        await upload(client, path, None, make_pdf(1)),
        await client.post(f"{documents_url(dossier['id'])}/upload-url", headers=advisor.headers),
        await client.put(f"{kept_url}/fields", headers=advisor.headers, json={"fields": []}),
    ]:
        problem(refused, 409, "Conflict", "DossierNotDraft")
    assert (await client.get(kept_url, headers=advisor.headers)).status_code == 200


async def test_deleting_a_draft_takes_its_documents_and_their_content(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    blobs = await tenant_blobs(database, tenant)
    document = await uploaded(client, advisor.headers, dossier["id"], with_signature_fields(make_pdf(1), "Sig"))
    await client.put(
        f"{documents_url(dossier['id'])}/{document['id']}/fields",
        headers=advisor.headers,
        json={"fields": [{"inviteeId": dossier["invitees"][0]["id"], "type": "signature", "fieldName": "Sig"}]},
    )
    await upload_url(client, advisor.headers, dossier["id"])
    assert await tenant_blobs(database, tenant) == blobs + 1

    assert (await client.delete(f"{DOSSIERS}/{dossier['id']}", headers=advisor.headers)).status_code == 204

    assert await tenant_blobs(database, tenant) == blobs
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        left = await session.scalar(
            select(func.count(DossierDocument.id)).where(DossierDocument.tenant_id == tenant.id)
        )
        fields_left = await session.scalar(
            select(func.count(DocumentField.id)).where(DocumentField.tenant_id == tenant.id)
        )
    assert (left, fields_left) == (0, 0)


# --- pages ------------------------------------------------------------------------------------


async def test_pages_have_sizes_in_points_and_render_as_png(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any]
) -> None:
    document = await uploaded(client, advisor.headers, dossier["id"], turned(make_pdf(2)))
    base = f"{documents_url(dossier['id'])}/{document['id']}/pages"

    pages = await client.get(base, headers=advisor.headers)
    assert pages.status_code == 200
    assert pages.json() == [
        {"number": 1, "width": 500.0, "height": 260.0, "left": 50.0, "bottom": 20.0, "rotation": 90},
        {"number": 2, "width": 595.28, "height": 841.89, "left": 0.0, "bottom": 0.0, "rotation": 0},
    ]

    image = await client.get(f"{base}/2", headers=advisor.headers, params={"width": 600})
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(image.content))
    assert png.format == "PNG"
    assert png.size[0] == 600 and abs(png.size[1] - 600 * 841.89 / 595.28) <= 1
    assert png.convert("L").getextrema()[0] < 100  # the page's text is there, not a blank image
    # The turned page is shown turned: as wide as the page is high.
    first = Image.open(io.BytesIO((await client.get(f"{base}/1", headers=advisor.headers)).content))
    assert first.size[0] == 1000 and abs(first.size[1] - 1000 * 500 / 260) <= 1

    etag = image.headers["etag"]
    assert document["currentSha256"] in etag
    again = await client.get(f"{base}/2", headers={**advisor.headers, "If-None-Match": etag}, params={"width": 600})
    assert again.status_code == 304 and again.headers["etag"] == etag
    cached = await client.get(f"{base}/2", headers=advisor.headers, params={"width": 600})
    assert cached.content == image.content

    problem(await client.get(f"{base}/3", headers=advisor.headers), 404, "NotFound", "PageNotFound")
    too_small = await client.get(f"{base}/1", headers=advisor.headers, params={"width": 10})
    assert too_small.status_code == 422
    assert (await client.get(f"{base}/1", headers=advisor.headers, params={"width": 5000})).status_code == 422


async def test_pages_rendered_at_once_come_out_whole(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any]
) -> None:
    """PDFium is not thread-safe: renders asked for together are taken one at a time."""
    documents = [await uploaded(client, advisor.headers, dossier["id"], make_pdf(3)) for _ in range(2)]
    asked = [
        (f"{documents_url(dossier['id'])}/{document['id']}/pages/{page}", width)
        for document in documents
        for page, width in ((1, 400), (2, 500), (3, 600))
    ]
    answers = await asyncio.gather(
        *(client.get(url, headers=advisor.headers, params={"width": width}) for url, width in asked)
    )
    for (_url, width), answer in zip(asked, answers, strict=True):
        assert answer.status_code == 200, answer.text
        image = Image.open(io.BytesIO(answer.content))
        image.load()  # decodes every row: a torn image fails here
        assert image.size[0] == width


# --- fields -----------------------------------------------------------------------------------


def field(invitee: dict[str, Any], kind: str = "signature", **extra: Any) -> dict[str, Any]:
    return {"inviteeId": invitee["id"], "type": kind, **extra}


def box(page: int = 1, x: float = 72, y: float = 72, width: float = 200, height: float = 40) -> dict[str, Any]:
    return {"page": page, "x": x, "y": y, "width": width, "height": height}


async def test_fields_are_checked_and_replaced_as_a_whole(
    client: httpx.AsyncClient, tenant: TenantFixture, advisor: Person, dossier: dict[str, Any]
) -> None:
    anna, beat, carla = dossier["invitees"]
    document = await uploaded(
        client, advisor.headers, dossier["id"], with_signature_fields(make_pdf(2), "ClientSignature", "Spare")
    )
    url = f"{documents_url(dossier['id'])}/{document['id']}/fields"
    good = [
        field(anna, fieldName="ClientSignature"),
        field(anna, "initials", **box(page=1, x=500, y=30, width=40, height=20), required=False),
        field(beat, "date", **box(page=2, y=300), label="Date"),
        field(anna, "checkbox", **box(page=1, x=72, y=40, width=12, height=12), required=False, label="I agree"),
    ]
    answer = await client.put(url, headers=advisor.headers, json={"fields": good})
    assert answer.status_code == 200, answer.text
    placed = answer.json()["fields"]
    assert [(f["type"], f["inviteeId"], f["fieldName"]) for f in placed] == [
        ("signature", anna["id"], "ClientSignature"),
        ("initials", anna["id"], None),
        ("date", beat["id"], None),
        ("checkbox", anna["id"], None),
    ]
    # An existing field is where the PDF has it; a signature is always required.
    assert {k: placed[0][k] for k in ("page", "x", "y", "width", "height", "required")} == {
        "page": 2,
        "x": 72.0,
        "y": 72.0,
        "width": 200.0,
        "height": 60.0,
        "required": True,
    }
    assert (placed[1]["required"], placed[2]["label"], placed[2]["page"]) == (False, "Date", 2)
    read = await client.get(f"{documents_url(dossier['id'])}/{document['id']}", headers=advisor.headers)
    assert read.json()["fields"] == placed
    listed = await client.get(documents_url(dossier["id"]), headers=advisor.headers)
    assert listed.json()["items"][0]["fields"] == placed

    unknown = {"id": str(uuid.uuid4())}
    cases: list[tuple[list[dict[str, Any]], str, str]] = [
        ([field(unknown, **box())], "FieldInviteeNotFound", "/fields/0/inviteeId"),
        ([field(beat, "initials", **box())], "FieldInviteeNotSigner", "/fields/0/inviteeId"),
        ([field(beat, "signature", **box())], "FieldInviteeNotSigner", "/fields/0/inviteeId"),
        ([field(carla, "text", **box())], "FieldInviteeViewer", "/fields/0/inviteeId"),
        ([field(anna, fieldName="Nope")], "SignatureFieldUnknown", "/fields/0/fieldName"),
        (
            [field(anna, fieldName="Spare"), field(anna, fieldName="Spare")],
            "SignatureFieldRepeated",
            "/fields/1/fieldName",
        ),
        ([field(anna, "text", fieldName="Spare")], "FieldNameOnlyForSignatures", "/fields/0/fieldName"),
        ([field(anna, fieldName="Spare", page=1)], "FieldTargetRequired", "/fields/0/page"),
        ([field(anna, "text", page=1, x=72, y=72, width=100)], "FieldTargetRequired", "/fields/0/height"),
        ([field(anna, "text")], "FieldTargetRequired", "/fields/0/fieldName"),
        ([field(anna, **box(page=3))], "FieldPageNotFound", "/fields/0/page"),
        ([field(anna, **box(x=500, width=200))], "FieldOutsidePage", "/fields/0"),
        ([field(anna, **box(y=830, height=20))], "FieldOutsidePage", "/fields/0"),
    ]
    for given, sub_code, pointer in cases:
        refused = await client.put(url, headers=advisor.headers, json={"fields": given})
        errors = problem(refused, 400, "BadRequest", sub_code)
        assert [e["pointer"] for e in errors] == [pointer], sub_code
    malformed = await client.put(url, headers=advisor.headers, json={"fields": [field(anna, **box(width=0))]})
    assert malformed.status_code == 422

    # Nothing changed on a refusal; an empty list removes every field.
    reread = await client.get(f"{documents_url(dossier['id'])}/{document['id']}", headers=advisor.headers)
    assert reread.json()["fields"] == placed
    cleared = await client.put(url, headers=advisor.headers, json={"fields": []})
    assert cleared.status_code == 200 and cleared.json()["fields"] == []
    actions = [e["action"] for e in await audit_of(client, tenant, document["id"])]
    assert actions == [
        "signing.document.uploaded",
        "signing.document.fields_replaced",
        "signing.document.fields_replaced",
    ]


async def test_an_invitee_removed_from_the_draft_takes_their_fields(
    client: httpx.AsyncClient, advisor: Person, dossier: dict[str, Any]
) -> None:
    anna, beat, _carla = dossier["invitees"]
    document = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1))
    url = f"{documents_url(dossier['id'])}/{document['id']}"
    body = {"fields": [field(anna, **box()), field(beat, "text", **box(y=200))]}
    assert (await client.put(f"{url}/fields", headers=advisor.headers, json=body)).status_code == 200

    kept = [{k: v for k, v in anna.items() if k in ("id", "name", "email", "role", "position")}]
    changed = await client.patch(f"{DOSSIERS}/{dossier['id']}", headers=advisor.headers, json={"invitees": kept})
    assert changed.status_code == 200, changed.text

    assert [f["inviteeId"] for f in (await client.get(url, headers=advisor.headers)).json()["fields"]] == [anna["id"]]


async def test_what_sending_needs_of_documents_and_fields(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    created = await create_dossier(
        client,
        advisor.headers,
        invitees=[signer(), signer(name="Zoë Zweite", email="zoe@mail.example"), signer(role="approver")],
    )
    anna, zoe, approver = created["invitees"]
    actor = tenants.operator(tenant.id)

    async def check() -> list[str]:
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            dossier = await access.load_dossier(session, actor, UUID(created["id"]))
            missing = await field_service.signers_missing_signature_field(session, actor, dossier)
            await field_service.check_ready(session, actor, dossier)
            return [person.name for person in missing]

    with pytest.raises(NoDocuments):
        await check()
    first = await uploaded(client, advisor.headers, created["id"], make_pdf(1))
    second = await uploaded(client, advisor.headers, created["id"], make_pdf(1))
    with pytest.raises(SignatureFieldMissing, match="Anna Muster, Zoë Zweite"):
        await check()
    for document, invitee in ((first, anna), (second, zoe)):
        fields_url = f"{documents_url(created['id'])}/{document['id']}/fields"
        answer = await client.put(fields_url, headers=advisor.headers, json={"fields": [field(invitee, **box())]})
        assert answer.status_code == 200, answer.text
    assert await check() == []

    # Zoë becomes an approver: her signature field no longer fits.
    people = [
        {k: v for k, v in invitee.items() if k in ("id", "name", "email", "role", "position")}
        for invitee in (anna, zoe, approver)
    ]
    people[1]["role"] = "approver"
    changed = await client.patch(f"{DOSSIERS}/{created['id']}", headers=advisor.headers, json={"invitees": people})
    assert changed.status_code == 200, changed.text
    with pytest.raises(FieldsOfNonSigner, match="Zoë Zweite"):
        await check()

    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        dossier = await access.load_dossier(session, actor, UUID(created["id"]))
        ordered = await document_service.documents_with_fields(session, actor, dossier)
    assert [(d.id, [f.invitee_id for f in fs]) for d, fs in ordered] == [
        (UUID(first["id"]), [UUID(anna["id"])]),
        (UUID(second["id"]), [UUID(zoe["id"])]),
    ]


# --- isolation and storage --------------------------------------------------------------------


async def test_another_tenant_reaches_none_of_it(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    advisor: Person,
    other_tenant: TenantFixture,
    dossier: dict[str, Any],
) -> None:
    document = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1))
    base = documents_url(dossier["id"])
    doc = f"{base}/{document['id']}"
    intruder = await person(database, keys, other_tenant, Role.ADMIN)
    for answer in [
        await client.get(base, headers=intruder.headers),
        await client.get(doc, headers=intruder.headers),
        await client.get(f"{doc}/content", headers=intruder.headers),
        await client.get(f"{doc}/pages", headers=intruder.headers),
        await client.get(f"{doc}/pages/1", headers=intruder.headers),
        await client.delete(doc, headers=intruder.headers),
        await client.put(f"{doc}/fields", headers=intruder.headers, json={"fields": []}),
        await client.post(f"{base}/upload-url", headers=intruder.headers),
        await upload(client, base, intruder.headers, make_pdf(1)),
    ]:
        problem(answer, 404, "NotFound", "DossierNotFound")
    # A token names its own dossier only: the other tenant's dossier refuses it.
    theirs = await create_dossier(client, intruder.headers)
    token = (await upload_url(client, advisor.headers, dossier["id"])).split("token=", 1)[1]
    refused = await upload(client, f"{documents_url(theirs['id'])}?token={token}", None, make_pdf(1))
    problem(refused, 401, "Unauthorized", "UploadUrlInvalid")
    assert (await client.get(base, headers=advisor.headers)).json()["totalCount"] == 1
    assert (await client.get(documents_url(theirs["id"]), headers=intruder.headers)).json()["totalCount"] == 0


async def test_documents_are_sealed_in_s3_too(
    settings: Settings, advisor: Person, dossier: dict[str, Any], moto: MotoServer
) -> None:
    on_s3 = settings.model_copy(update={"storage": moto.new_bucket()})
    app = create_app(on_s3, run_worker_in_process=False)
    original = make_pdf(2)
    try:
        async with own_client(app) as client:
            path = await upload_url(client, advisor.headers, dossier["id"])
            document = (await upload(client, path, None, original)).json()
            doc = f"{documents_url(dossier['id'])}/{document['id']}"
            content = await client.get(f"{doc}/content", headers=advisor.headers)
            assert content.content == original
            image = await client.get(f"{doc}/pages/2", headers=advisor.headers, params={"width": 300})
            assert Image.open(io.BytesIO(image.content)).size[0] == 300
        stored = [obj["Key"] for obj in moto.client().list_objects_v2(Bucket=on_s3.storage.s3_bucket)["Contents"]]
        assert stored and all(original[:200] not in read_object(moto, on_s3, key) for key in stored)
    finally:
        await app.state.database.dispose()


def read_object(moto: MotoServer, settings: Settings, key: str) -> bytes:
    body: bytes = moto.client().get_object(Bucket=settings.storage.s3_bucket, Key=key)["Body"].read()
    return body


async def test_the_page_images_and_content_follow_the_current_pdf(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    tenant: TenantFixture,
    advisor: Person,
    dossier: dict[str, Any],
) -> None:
    """A signing step replaces the current PDF (blob and SHA-256): content and images follow."""
    document = await uploaded(client, advisor.headers, dossier["id"], make_pdf(1, title="Before"))
    doc = f"{documents_url(dossier['id'])}/{document['id']}"
    before = await client.get(f"{doc}/pages/1", headers=advisor.headers)
    replacement = make_pdf(1, title="After, with a much longer title that covers more of the page")
    upload_other = await uploaded(client, advisor.headers, dossier["id"], replacement)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        row = await session.get(DossierDocument, UUID(document["id"]))
        other = await session.get(DossierDocument, UUID(upload_other["id"]))
        assert row is not None and other is not None
        row.blob_id, row.sha256 = other.blob_id, other.sha256
        await session.commit()
    content = await client.get(f"{doc}/content", headers=advisor.headers)
    assert content.content == replacement
    after = await client.get(f"{doc}/pages/1", headers=advisor.headers)
    assert after.headers["etag"] != before.headers["etag"] and after.content != before.content
    stale = await client.get(f"{doc}/pages/1", headers={**advisor.headers, "If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200
