"""The PKI at rest (service/authority.py) and its public routes under /pki: credentials made
once and race-safe, keys sealed and resealed, OCSP and CRLs answered from the tables, a
tenant's responder refusing another tenant's certificates, the TSA over HTTP."""

from __future__ import annotations

import asyncio
import base64
from uuid import UUID

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import func, select

from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import pades, pdf, pki, validation
from trustroom.signing.errors import SigningKeyUnreadable
from trustroom.signing.models import IssuedCertificate, TenantCredential
from trustroom.signing.service import authorities, authority, check, credentials, revocation_answers

from ..factories import TenantFixture, make_tenant
from .support import make_pdf

ROOT = "/pki/root"


def tenant_base(tenant_id: UUID) -> str:
    return f"/pki/tenants/{tenant_id}"


async def made(
    database: Database, keys: ServerKeys, settings: Settings, tenant_id: UUID
) -> authorities.TenantAuthority:
    """The tenant's PKI, made (or read) and committed."""
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        made = await authorities.tenant_authority(session, keys, settings, tenant_id)
        await session.commit()
    return made


def ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    # SHA-1 is what NSS and pyHanko put in CertIDs (a name hash, not a signature).
    built = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1()).build()  # noqa: S303
    return built.public_bytes(serialization.Encoding.DER)


async def ask_ocsp(client: httpx.AsyncClient, base: str, request: bytes, *, get: bool = False) -> ocsp.OCSPResponse:
    if get:
        encoded = base64.b64encode(request).decode()
        response = await client.get(f"{base}/ocsp/{encoded}")
        assert response.headers["cache-control"] == "public, max-age=60"
    else:
        response = await client.post(
            f"{base}/ocsp", content=request, headers={"Content-Type": "application/ocsp-request"}
        )
        assert response.headers["cache-control"] == "no-store"
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.content)


async def test_the_pki_is_made_once_and_chains_to_the_root(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    first = await made(database, keys, settings, tenant.id)
    again = await made(database, keys, settings, tenant.id)
    assert first.ca.certificate == again.ca.certificate and first.seal.certificate == again.seal.certificate
    assert first.ca.certificate.issuer == first.ca.chain[0].subject  # under the platform root
    crl_url = first.seal.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_url[0].full_name[0].value == f"{settings.public_url}/pki/tenants/{tenant.id}/crl"
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        kinds = sorted(
            await session.scalars(select(IssuedCertificate.kind).where(IssuedCertificate.tenant_id == tenant.id))
        )
    assert kinds == ["ocsp", "seal"]  # every certificate the CA issued is recorded


async def test_two_processes_making_the_tenant_ca_at_once_end_with_one(
    settings: Settings, keys: ServerKeys, database: Database
) -> None:
    tenant = await make_tenant(database, keys, name="Race Bank")
    databases = [Database(settings.resolved_database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(made(db, keys, settings, tenant.id) for db in databases))
    finally:
        for db in databases:
            await db.dispose()
    assert results[0].ca.certificate == results[1].ca.certificate
    assert results[0].seal.certificate == results[1].seal.certificate
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        count = await session.scalar(
            select(func.count()).select_from(TenantCredential).where(TenantCredential.tenant_id == tenant.id)
        )
    assert count == 3  # one CA, one responder, one seal


async def test_ocsp_answers_from_the_table_and_sees_a_revocation(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    pki_of_tenant = await made(database, keys, settings, tenant.id)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        with await authorities.issue_signer(
            session, pki_of_tenant, name="Anna Muster", email="anna@example.com"
        ) as signer:
            signer_certificate = signer.certificate
        await session.commit()
    request = ocsp_request(signer_certificate, pki_of_tenant.ca.certificate)
    base = tenant_base(tenant.id)
    for get in (False, True):
        answer = await ask_ocsp(client, base, request, get=get)
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert answer.next_update_utc <= signer_certificate.not_valid_after_utc
        assert answer.certificates[0] == pki_of_tenant.responder.certificate  # the delegated responder signs

    crl_before = x509.load_der_x509_crl((await client.get(f"{base}/crl")).content)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        assert await revocation_answers.revoke(
            session, tenant.id, signer_certificate.serial_number, reason=x509.ReasonFlags.key_compromise
        )
        await session.commit()
    answer = await ask_ocsp(client, base, request)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.key_compromise
    response = await client.get(f"{base}/crl")
    assert response.headers["content-type"] == "application/pkix-crl"
    assert response.headers["cache-control"] == "public, max-age=300"
    crl = x509.load_der_x509_crl(response.content)
    assert crl.is_signature_valid(pki_of_tenant.ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(signer_certificate.serial_number) is not None
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > crl_before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    # Kept while fresh: the same CRL (and number) again.
    assert (await client.get(f"{base}/crl")).content == response.content

    with pki.issue_signer(pki_of_tenant.ca, name="Never Recorded") as unrecorded:
        unknown = ocsp_request(unrecorded.certificate, pki_of_tenant.ca.certificate)
    assert (await ask_ocsp(client, base, unknown)).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


async def test_a_tenants_responder_refuses_another_tenants_certificate(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    other_tenant: TenantFixture,
) -> None:
    mine = await made(database, keys, settings, tenant.id)
    theirs = await made(database, keys, settings, other_tenant.id)
    about_theirs = ocsp_request(theirs.seal.certificate, theirs.ca.certificate)
    refused = await ask_ocsp(client, tenant_base(tenant.id), about_theirs)
    assert refused.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    # Their own responder answers; the CA certificates differ per tenant.
    assert (await ask_ocsp(client, tenant_base(other_tenant.id), about_theirs)).certificate_status is (
        ocsp.OCSPCertStatus.GOOD
    )
    mine_der = (await client.get(f"{tenant_base(tenant.id)}/ca.crt")).content
    assert x509.load_der_x509_certificate(mine_der) == mine.ca.certificate
    pem = await client.get(f"{tenant_base(tenant.id)}/ca.pem")
    assert x509.load_pem_x509_certificate(pem.content) == mine.ca.certificate


async def test_the_root_publishes_its_certificate_crl_and_ocsp(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    pki_of_tenant = await made(database, keys, settings, tenant.id)
    root = pki_of_tenant.ca.chain[0]
    response = await client.get(f"{ROOT}/ca.crt")
    assert response.headers["content-type"] == "application/pkix-cert"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert x509.load_der_x509_certificate(response.content) == root
    answer = await ask_ocsp(client, ROOT, ocsp_request(pki_of_tenant.ca.certificate, root), get=True)
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    crl = x509.load_der_x509_crl((await client.get(f"{ROOT}/crl")).content)
    assert crl.issuer == root.subject


async def test_missing_authorities_and_garbage_requests(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    fresh = await make_tenant(database, keys, name="Unsigned Bank")
    for path in ("ca.crt", "crl"):
        response = await client.get(f"{tenant_base(fresh.id)}/{path}")
        assert response.status_code == 404 and response.json()["subCode"] == "AuthorityNotFound"
    await made(database, keys, settings, tenant.id)
    garbage = await client.post(f"{tenant_base(tenant.id)}/ocsp", content=b"not an OCSP request")
    assert ocsp.load_der_ocsp_response(garbage.content).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    bad_get = await client.get(f"{tenant_base(tenant.id)}/ocsp/%%%")
    assert ocsp.load_der_ocsp_response(bad_get.content).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    too_big = await client.post(f"{tenant_base(tenant.id)}/ocsp", content=b"0" * 20000)
    assert too_big.status_code == 413


async def test_the_tsa_answers_rfc_3161_over_http(
    client: httpx.AsyncClient, database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    await made(database, keys, settings, tenant.id)
    query = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32},
            "nonce": 42,
            "cert_req": True,
        }
    ).dump()
    response = await client.post("/pki/tsa", content=query, headers={"Content-Type": "application/timestamp-query"})
    assert response.headers["content-type"] == "application/timestamp-reply"
    reply = tsp.TimeStampResp.load(response.content)
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 42


async def test_a_signer_certificate_issued_in_the_step_is_good_in_that_step(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    """The workflow's path: certify and one approval as B-LTA steps inside one transaction;
    the in-process revocation source sees the uncommitted signer certificate as good."""
    document = pdf.place_fields(make_pdf(2), [pdf.Placement("Client", pdf.FieldKind.SIGNATURE, 2, 72, 120, 220, 70)])
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        kit = await authority.signing_kit(session, keys, settings, tenant.id)
        async with kit.revocation_source() as source:
            certified = await pades.certify(document, kit.seal, kit.timestamper, long_term=kit.long_term(source))
            with await kit.issue_signer(name="Anna Muster", email="anna@example.com") as signer:
                signed = await pades.approve(
                    certified,
                    "Client",
                    signer,
                    kit.timestamper,
                    name="Anna Muster",
                    reason="I agree",
                    long_term=kit.long_term(source),
                )
        await session.commit()
        trust = kit.trust
    reports = await validation.validate(signed, trust)
    assert [r.field for r in reports if r.kind != "timestamp"] == ["Certification", "Client"]
    assert all(r.ok for r in reports), reports
    assert {r.level for r in reports if r.kind != "timestamp"} == {"B-LTA"}


async def test_signing_keys_are_resealed_and_a_wrong_secret_is_refused(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    await made(database, keys, settings, tenant.id)
    newer = ServerKeys(
        b"a-newer-secret-that-is-long-enough-0123456789", [b"test-secret-key-that-is-long-enough-0123456789"]
    )
    only_new = ServerKeys(b"a-newer-secret-that-is-long-enough-0123456789")
    async with database.session() as session:
        assert await credentials.count_on_older_secrets(session, newer) >= 4
        resealed, total = await credentials.reseal_all(session, newer)
        assert resealed == total >= 4
        assert await credentials.count_on_older_secrets(session, newer) == 0
        assert await credentials.start_up_problems(session, only_new) == []
        problems = await credentials.start_up_problems(session, keys)  # the old secret alone no longer opens them
        assert problems and "cannot be opened with the configured secrets" in problems[0]
        await bind_tenant(session, tenant.id)
        authority.forget_cached_keys()
        with pytest.raises(SigningKeyUnreadable):
            await authorities.tenant_authority(session, keys, settings, tenant.id)
        reopened = await authorities.tenant_authority(session, only_new, settings, tenant.id)
        assert reopened.seal.key is not None
        await session.rollback()  # leave the keys under the test secret for the other tests
    authority.forget_cached_keys()


async def test_the_check_signs_and_validates(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        result = await check.run(session, keys, settings, tenant.id)
        await session.rollback()
    assert result.ok and result.timestamping == "in-process"
    assert [r.level for r in result.reports] == ["B-LTA", "DTS"]


async def test_certificates_made_under_an_earlier_public_url_are_still_answered_in_process(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    await made(database, keys, settings, tenant.id)  # under the first TRUSTROOM_PUBLIC_URL
    moved = settings.model_copy(update={"public_url": "https://sign.moved.example"})
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        result = await check.run(session, keys, moved, tenant.id)
        await session.rollback()
    assert result.ok, result.reports
