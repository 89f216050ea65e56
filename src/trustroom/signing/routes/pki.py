"""Trustroom's PKI on the public web: CA certificates, CRLs, OCSP and the time-stamping authority.

Every certificate a Trustroom CA issues points here (CRL distribution point, AIA OCSP and
caIssuers under `TRUSTROOM_PUBLIC_URL/pki/…`), so any validator (Adobe, pdfsig, pyHanko, an
auditor years later) can check it without credentials:

    /pki/root/ca.crt  ca.pem  crl  ocsp  ocsp/<base64 request>     the platform root
    /pki/tenants/<tenant id>/ca.crt  ca.pem  crl  ocsp  ocsp/…       a tenant's signing CA
    /pki/tsa                                                         RFC 3161, POST only

No authentication, nothing created: a CA that does not exist yet (nothing signed) is a 404.
A tenant's responder answers only for its own CA: a request about another tenant's
certificate gets OCSP `unauthorized` (the issuer hashes differ). Outside the OpenAPI
document: these are protocol endpoints with binary bodies, like `/.well-known`.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import Database, bind_tenant
from ...errors import PayloadTooLarge
from ...http import get_database, get_keys, get_settings
from .. import certificate_status, pki
from .. import tsa as tsa_core
from ..errors import AuthorityNotFound
from ..service import revocation_answers

router = APIRouter(prefix="/pki", include_in_schema=False)

# An OCSP or time-stamp request is well under a kilobyte.
MAX_REQUEST_BYTES = 16 * 1024
CERTIFICATE_CACHE = "public, max-age=86400"
# Short, so a revocation is seen within minutes; validators cache by nextUpdate besides.
CRL_CACHE = "public, max-age=300"
OCSP_GET_CACHE = "public, max-age=60"
NOT_CACHED = "no-store"
PEM_TYPE = "application/x-pem-file"

TenantId = Annotated[UUID, Path(description="The tenant whose signing CA answers.")]


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge()
    return bytes(data)


async def _published(request: Request, session: AsyncSession, tenant_id: UUID | None) -> revocation_answers.Published:
    keys, settings = get_keys(request), get_settings(request)
    if tenant_id is None:
        return await revocation_answers.published_root(session, keys, settings)
    await bind_tenant(session, tenant_id)
    return await revocation_answers.published_tenant(session, keys, settings, tenant_id)


def _answer(data: bytes, media_type: str, cache: str) -> Response:
    return Response(data, media_type=media_type, headers={"Cache-Control": cache})


async def _certificate(request: Request, tenant_id: UUID | None, *, as_pem: bool) -> Response:
    async with get_database(request).session(write=False) as session:
        published = await _published(request, session, tenant_id)
    certificate = published.authority.certificate
    if as_pem:
        return _answer(pki.pem(certificate), PEM_TYPE, CERTIFICATE_CACHE)
    return _answer(pki.der(certificate), certificate_status.CERT_TYPE, CERTIFICATE_CACHE)


async def _crl(request: Request, tenant_id: UUID | None) -> Response:
    database: Database = get_database(request)
    async with database.session(write=False) as session:
        published = await _published(request, session, tenant_id)
        kept = revocation_answers.fresh_crl(published.row)
    if kept is None:  # renewed in a write transaction, only when due
        async with database.session(write=True) as session:
            published = await _published(request, session, tenant_id)
            kept = await revocation_answers.current_crl(session, published.row, published.authority)
            await session.commit()
    return _answer(kept, certificate_status.CRL_TYPE, CRL_CACHE)


async def _ocsp(request: Request, tenant_id: UUID | None, request_der: bytes, cache: str) -> Response:
    async with get_database(request).session(write=False) as session:
        published = await _published(request, session, tenant_id)
        answer = await revocation_answers.ocsp_response(session, published, request_der)
    return _answer(answer, certificate_status.OCSP_RESPONSE_TYPE, cache)


def _from_url(tail: str) -> bytes:
    try:
        return certificate_status.ocsp_request_from_url(tail)
    except ValueError:
        return b""  # answered as malformedRequest, as RFC 6960 has it


@router.get("/root/ca.crt")
async def root_certificate(request: Request) -> Response:
    return await _certificate(request, None, as_pem=False)


@router.get("/root/ca.pem")
async def root_certificate_pem(request: Request) -> Response:
    return await _certificate(request, None, as_pem=True)


@router.get("/root/crl")
async def root_crl(request: Request) -> Response:
    return await _crl(request, None)


@router.post("/root/ocsp")
async def root_ocsp(request: Request) -> Response:
    return await _ocsp(request, None, await _body(request), NOT_CACHED)


@router.get("/root/ocsp/{encoded:path}")
async def root_ocsp_get(request: Request, encoded: str) -> Response:
    return await _ocsp(request, None, _from_url(encoded), OCSP_GET_CACHE)


@router.get("/tenants/{tenant_id}/ca.crt")
async def tenant_certificate(request: Request, tenant_id: TenantId) -> Response:
    return await _certificate(request, tenant_id, as_pem=False)


@router.get("/tenants/{tenant_id}/ca.pem")
async def tenant_certificate_pem(request: Request, tenant_id: TenantId) -> Response:
    return await _certificate(request, tenant_id, as_pem=True)


@router.get("/tenants/{tenant_id}/crl")
async def tenant_crl(request: Request, tenant_id: TenantId) -> Response:
    return await _crl(request, tenant_id)


@router.post("/tenants/{tenant_id}/ocsp")
async def tenant_ocsp(request: Request, tenant_id: TenantId) -> Response:
    return await _ocsp(request, tenant_id, await _body(request), NOT_CACHED)


@router.get("/tenants/{tenant_id}/ocsp/{encoded:path}")
async def tenant_ocsp_get(request: Request, tenant_id: TenantId, encoded: str) -> Response:
    return await _ocsp(request, tenant_id, _from_url(encoded), OCSP_GET_CACHE)


@router.post("/tsa")
async def time_stamp(request: Request) -> Response:
    """RFC 3161 over HTTP (§3.4): a DER TimeStampReq in, a DER TimeStampResp out."""
    query = await _body(request)
    async with get_database(request).session(write=False) as session:
        signer = await revocation_answers.published_tsa(session, get_keys(request))
    if signer is None:
        raise AuthorityNotFound()
    return _answer(tsa_core.TimeStampAuthority(signer).respond(query), tsa_core.REPLY_TYPE, NOT_CACHED)
