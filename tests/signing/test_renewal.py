"""The platform TSA's certificate renewed before it expires (issue 14, item 5; ADR 0018): time
is travelled by giving the TSA a certificate issued years ago that has a month left. Within
TRUSTROOM_SIGNING__RENEW_BEFORE_DAYS the next signing kit replaces it under the same root,
race-safe (two processes at once make one); new timestamps come from the new certificate, the
old one stays recorded and retired, and a document timestamped before still validates."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from cryptography import x509
from sqlalchemy import select

from trustroom.db import Database, bind_tenant, utcnow, uuid7
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.signing import pdf, pki, sealed_keys, validation
from trustroom.signing.models import PlatformCertificate, PlatformCredential, PlatformCredentialKind
from trustroom.signing.service import authorities, authority, check, credentials

from ..factories import TenantFixture

TSA = PlatformCredentialKind.TSA


def with_window(settings: Settings, days: int) -> Settings:
    return settings.model_copy(update={"signing": settings.signing.model_copy(update={"renew_before_days": days})})


async def age_the_tsa(database: Database, keys: ServerKeys, settings: Settings, left: timedelta) -> x509.Certificate:
    """Replace the TSA's certificate with one issued under the same root long ago, `left` from expiry."""
    async with database.session() as session:
        base = await authorities.platform(session, keys, settings)
        old = await credentials.current_platform(session, TSA)
        assert old is not None
        aged = pki.issue_tsa(base.root, "Trustroom Time-Stamping Authority", now=utcnow() - pki.TSA_LIFETIME + left)
        row = PlatformCredential(
            id=uuid7(),
            kind=str(TSA),
            certificate=pki.der(aged.certificate),
            not_after=aged.certificate.not_valid_after_utc,
        )
        row.sealed_key = sealed_keys.seal_key(keys, aged, context=credentials.key_context(row))
        assert await credentials.replace_first(session, old, [row])
        session.add(credentials.record(PlatformCertificate, base.root_id, aged.certificate, str(TSA)))
        await session.commit()
    return aged.certificate


def timestamp_signers(data: bytes) -> set[x509.Certificate]:
    """The TSA certificates of the document timestamps."""
    reader = pdf.open_reader(data)
    return {
        x509.load_der_x509_certificate(signature.signer_cert.dump())
        for signature in reader.embedded_timestamp_signatures
    }


async def signed_check(database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture) -> bytes:
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        result = await check.run(session, keys, settings, tenant.id)
        await session.commit()
    assert result.ok, result.reports
    return result.signed


async def current_tsa_rows(database: Database) -> tuple[list[PlatformCredential], list[str]]:
    async with database.session(write=False) as session:
        rows = list(await session.scalars(select(PlatformCredential).where(PlatformCredential.kind == str(TSA))))
        recorded = list(
            await session.scalars(select(PlatformCertificate.serial).where(PlatformCertificate.kind == str(TSA)))
        )
    return rows, recorded


async def test_a_tsa_near_expiry_is_renewed_and_what_it_signed_still_validates(
    database: Database, keys: ServerKeys, settings: Settings, tenant: TenantFixture
) -> None:
    aged = await age_the_tsa(database, keys, settings, left=timedelta(days=30))
    # With a window of a week, a month left is not due: the aged TSA timestamps this document.
    before = await signed_check(database, keys, with_window(settings, 7), tenant)
    assert aged in timestamp_signers(before)

    # Two processes building a kit at once (default window, 90 days) renew it once.
    assert settings.signing.renew_before_days == 90
    databases = [Database(settings.resolved_database_url) for _ in range(2)]

    async def build(db: Database) -> x509.Certificate:
        async with db.session() as session:
            await bind_tenant(session, tenant.id)
            kit = await authority.signing_kit(session, keys, settings, tenant.id)
            await session.commit()
        return kit.platform.tsa.certificate

    try:
        renewed = await asyncio.gather(*(build(db) for db in databases))
    finally:
        for db in databases:
            await db.dispose()
    assert renewed[0] == renewed[1] != aged
    assert renewed[0].issuer == aged.issuer
    assert renewed[0].not_valid_after_utc > utcnow() + timedelta(days=5 * 365)
    rows, recorded = await current_tsa_rows(database)
    current = [row for row in rows if row.retired_at is None]
    assert len(current) == 1 and pki.der(renewed[0]) == current[0].certificate
    assert any(row.certificate == pki.der(aged) and row.retired_at is not None for row in rows)
    assert {credentials.serial_text(aged.serial_number), credentials.serial_text(renewed[0].serial_number)} <= set(
        recorded
    )

    # New timestamps come from the new certificate; the document timestamped before still validates.
    after = await signed_check(database, keys, settings, tenant)
    assert timestamp_signers(after) & {aged, renewed[0]} == {renewed[0]}
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        trust = await authority.validation_trust(session, settings, tenant.id)
    reports = await validation.validate(before, trust)
    assert reports and all(report.ok for report in reports), reports
    # Not due again: the next kit keeps it.
    again, _recorded = await current_tsa_rows(database)
    assert len(again) == len(rows)


def test_a_certificate_is_not_renewed_past_its_issuer() -> None:
    """Renewing one whose issuer expires no later would gain nothing, and happen at every step."""
    issuer = pki.create_root("Short Root", organization="Short", urls=pki.IssuerUrls.under("http://127.0.0.1/pki/root"))
    window = timedelta(days=90)
    soon = PlatformCredential(not_after=utcnow() + timedelta(days=10))
    assert authorities.renewal_due(soon, issuer.certificate, window)
    capped = PlatformCredential(not_after=issuer.certificate.not_valid_after_utc)
    assert not authorities.renewal_due(capped, issuer.certificate, window, now=capped.not_after - timedelta(days=1))
    later = PlatformCredential(not_after=utcnow() + timedelta(days=365))
    assert not authorities.renewal_due(later, issuer.certificate, window)
