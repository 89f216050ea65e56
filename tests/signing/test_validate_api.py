"""POST /api/v1/signing/validate: a tenant's document validates trusted; a changed byte, a
forbidden change after signing and a foreign CA are each reported; what is no PDF is refused."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from trustroom.app import create_app
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings, SigningSettings
from trustroom.signing import pades
from trustroom.signing.service import check

from ..factories import TenantFixture
from .support import Pki

URL = "/api/v1/signing/validate"
PDF = {"Content-Type": "application/pdf"}


async def tenant_signed(database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture) -> bytes:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        result = await check.run(session, keys, settings, tenant.id)
        await session.commit()
    return result.signed


async def validate(client: httpx.AsyncClient, tenant: TenantFixture, data: bytes) -> dict[str, Any]:
    response = await client.post(URL, content=data, headers={**tenant.headers, **PDF})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def certification(answer: dict[str, Any]) -> dict[str, Any]:
    [found] = [s for s in answer["signatures"] if s["kind"] == "certification"]
    return found


def changed_after_signing(signed: bytes) -> bytes:
    """An incremental update that replaces the page's content: not allowed by DocMDP "fill forms"."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    content = generic.StreamObject(stream_data=b"BT /F1 16 Tf 72 700 Td (Changed after signing) Tj ET")
    page["/Contents"] = writer.add_object(content)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_document_signed_by_the_tenant_validates_trusted(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    signed = await tenant_signed(database, keys, settings, tenant)
    answer = await validate(client, tenant, signed)
    assert answer["valid"] is True and len(answer["sha256"]) == 64
    seal = certification(answer)
    assert seal == {
        **seal,
        "fieldName": "Certification",
        "signer": seal["signer"],
        "level": "B-LTA",
        "intact": True,
        "valid": True,
        "trusted": True,
        "revoked": False,
        "docmdpAllowed": True,
        "adesIndication": "OK",
        "ok": True,
    }
    assert seal["signingTime"] is not None and seal["signer"].endswith(" Seal")
    assert [s["level"] for s in answer["signatures"] if s["kind"] == "timestamp"] == ["DTS"]
    # The same as a multipart file part.
    files = {"file": ("contract.pdf", signed, "application/pdf")}
    multipart = await client.post(URL, files=files, headers=tenant.headers)
    assert multipart.status_code == 200 and multipart.json()["valid"] is True


async def test_one_byte_changed_inside_a_signed_range_is_not_intact(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    signed = await tenant_signed(database, keys, settings, tenant)
    tampered = signed.replace(b"Trustroom signing check", b"Trustroom signing chEck", 1)
    assert tampered != signed
    answer = await validate(client, tenant, tampered)
    assert answer["valid"] is False
    seal = certification(answer)
    assert seal["intact"] is False and seal["ok"] is False


async def test_a_content_change_appended_after_signing_is_not_allowed(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    signed = await tenant_signed(database, keys, settings, tenant)
    answer = await validate(client, tenant, changed_after_signing(signed))
    assert answer["valid"] is False
    seal = certification(answer)
    # Every signed byte is still there and trusted; what came after is not allowed (pitfall 8).
    assert seal["intact"] is True and seal["trusted"] is True
    assert seal["docmdpAllowed"] is False and seal["modificationLevel"] == "OTHER" and seal["ok"] is False


async def test_a_pdf_signed_by_a_foreign_ca_is_not_trusted(
    client: httpx.AsyncClient, tenant: TenantFixture, test_pki: Pki
) -> None:
    signed = await pades.certify(
        check.sample_document(), test_pki.seal, test_pki.stamper(), long_term=test_pki.long_term()
    )
    answer = await validate(client, tenant, signed)
    seal = certification(answer)
    assert seal["intact"] is True and seal["valid"] is True
    assert seal["trusted"] is False and seal["ok"] is False and answer["valid"] is False


@pytest.mark.parametrize(
    ("body", "content_type", "status", "sub_code"),
    [
        (b"hello, I am not a PDF", "application/pdf", 400, "NotAPdf"),
        (b"%PDF-1.7\n garbage", "application/pdf", 400, "BrokenPdf"),
        (b"", "application/pdf", 400, "PdfMissing"),
        (b"hello", "text/plain", 415, "UnsupportedMediaType"),
    ],
)
async def test_what_is_no_pdf_gets_a_clear_error(
    client: httpx.AsyncClient, tenant: TenantFixture, body: bytes, content_type: str, status: int, sub_code: str
) -> None:
    response = await client.post(URL, content=body, headers={**tenant.headers, "Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["subCode"] == sub_code


async def test_an_unsigned_pdf_has_no_signatures(client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    answer = await validate(client, tenant, check.sample_document())
    assert answer["signatures"] == [] and answer["valid"] is False


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    narrow = settings.model_copy(update={"signing": SigningSettings(validations_per_minute=2, validate_max_bytes=4096)})
    app = create_app(narrow, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.database.dispose()


async def test_validation_is_rate_limited_and_size_limited(limited: httpx.AsyncClient, tenant: TenantFixture) -> None:
    too_big = await limited.post(URL, content=b"%PDF-1.7\n" + b"0" * 8000, headers={**tenant.headers, **PDF})
    assert too_big.status_code == 413
    small = check.sample_document()
    assert (await limited.post(URL, content=small, headers={**tenant.headers, **PDF})).status_code == 200
    refused = await limited.post(URL, content=small, headers={**tenant.headers, **PDF})
    assert refused.status_code == 429 and refused.json()["subCode"] == "RateLimited"
    assert int(refused.headers["Retry-After"]) >= 1
