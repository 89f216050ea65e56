"""The baseline of `benchmarks/signing.py`: pyHanko doing a one-signer dossier's cryptography
directly, with nothing of Trustroom's workflow around it.

On the same 10-page PDF as the API run, one dossier is: an empty signature field, the
certification signature (DocMDP fill forms, PAdES, B-T), one signer's approval signature
with a fresh P-256 key and one-hour certificate (B-T, visible stamp in pyHanko's default
style), then the DSS with the revocation info of every certificate and a document
timestamp (B-LTA). The PKI, the in-process TSA and the in-process OCSP responders are
Trustroom's pure core (`signing.pki`, `tsa`, `revocation`), as in the API run; every
signing call is pyHanko's own (`PdfSigner`, `SimpleSigner`, `PdfTimeStamper`,
`collect_validation_info`, `DocumentSecurityStore.add_dss`).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from cryptography import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from trustroom.signing import certificate_status, pki, revocation, sealed_keys, tsa
from trustroom.signing.revocation import to_asn1

BASE_URL = "http://127.0.0.1:9/pki"  # never contacted: answered in-process
FIELD = "Client"


@dataclass
class Registry:
    issued: dict[int, datetime] = field(default_factory=dict)

    def add(self, certificate: x509.Certificate) -> None:
        self.issued[certificate.serial_number] = certificate.not_valid_after_utc

    def lookup(self, serial: int) -> certificate_status.SerialStatus:
        return certificate_status.Good(self.issued[serial]) if serial in self.issued else None


@dataclass
class BaselinePki:
    root: pki.Authority
    ca: pki.Authority
    seal: pki.Credential
    stamper: tsa.FailoverTimeStamper
    ca_registry: Registry
    endpoints: dict[str, revocation.Endpoint]

    def signer(self, name: str, email: str) -> pki.SignerCredential:
        credential = pki.issue_signer(self.ca, name=name, email=email)
        self.ca_registry.add(credential.certificate)
        return credential


def build_pki() -> BaselinePki:
    start = datetime.now(UTC) - timedelta(hours=1)
    root_registry, ca_registry = Registry(), Registry()
    root = pki.create_root("Baseline Root", urls=pki.IssuerUrls.under(f"{BASE_URL}/root"), now=start)
    ca = pki.create_tenant_ca(root, "Baseline CA", urls=pki.IssuerUrls.under(f"{BASE_URL}/ca"), now=start)
    root_registry.add(ca.certificate)
    seal = pki.issue_seal(ca, "Baseline seal", now=start)
    ca_registry.add(seal.certificate)
    stamping = pki.issue_tsa(root, "Baseline TSA", now=start)
    root_registry.add(stamping.certificate)
    root_responder = pki.issue_ocsp_responder(root, "Baseline root OCSP", now=start)
    root_registry.add(root_responder.certificate)
    ca_responder = pki.issue_ocsp_responder(ca, "Baseline CA OCSP", now=start)
    ca_registry.add(ca_responder.certificate)
    endpoints = {
        **revocation.endpoints_for(root, root_registry.lookup, responder=root_responder),
        **revocation.endpoints_for(ca, ca_registry.lookup, responder=ca_responder),
    }
    stamper = tsa.in_process(tsa.TimeStampAuthority(stamping))
    return BaselinePki(root, ca, seal, stamper, ca_registry, endpoints)


def simple_signer(credential: pki.SigningCredential) -> signers.SimpleSigner:
    key = asn1_keys.PrivateKeyInfo.load(sealed_keys.export_key(credential.key))
    return signers.SimpleSigner(
        signing_cert=to_asn1(credential.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([to_asn1(c) for c in credential.chain]),
    )


def metadata(field_name: str, *, certify: bool = False) -> signers.PdfSignatureMetadata:
    return signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
    )


async def one_dossier(base: BaselinePki, pdf: bytes) -> bytes:
    """Certify, one approval, DSS and a document timestamp: the bytes of a B-LTA document."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    fields.append_signature_field(writer, fields.SigFieldSpec(FIELD, on_page=9, box=(72, 120, 292, 190)))
    certifier = signers.PdfSigner(
        metadata("Certification", certify=True), simple_signer(base.seal), timestamper=base.stamper
    )
    certified = (await certifier.async_sign_pdf(writer)).getvalue()

    with base.signer("Anna Muster", "anna.muster@example.com") as credential:
        approver = signers.PdfSigner(metadata(FIELD), simple_signer(credential), timestamper=base.stamper)
        signed = (await approver.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(certified)))).getvalue()

    async with revocation.RevocationSource(base.endpoints) as source:
        context = ValidationContext(
            trust_roots=[to_asn1(base.root.certificate)],
            other_certs=[to_asn1(base.ca.certificate)],
            allow_fetching=True,
            fetchers=source.fetchers(),
            revocation_mode="require",
        )
        paths = []
        for signature in PdfFileReader(io.BytesIO(signed)).embedded_signatures:
            paths.extend(await collect_validation_info(signature, context))
        buffer = io.BytesIO(signed)
        DocumentSecurityStore.add_dss(buffer, sig_contents=None, paths=paths, ocsps=context.ocsps, crls=context.crls)
        stamper = signers.PdfTimeStamper(base.stamper)
        final = await stamper.async_timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(buffer.getvalue())), "sha256", validation_context=context
        )
    return bytes(final.getvalue())


async def dossiers_per_second(pdf: bytes, seconds: float) -> tuple[float, int, bytes]:
    """Dossiers done one after the other for about `seconds`: the rate, the count, the last result."""
    base = build_pki()
    last = await one_dossier(base, pdf)  # warm-up: imports, fonts, the first token
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done < 3:
        last = await one_dossier(base, pdf)
        done += 1
    return done / (time.perf_counter() - started), done, last
