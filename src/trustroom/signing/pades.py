"""PAdES signatures with pyHanko: certify, approve per signer, seal a step, B-LT and B-LTA, renew.

Why these steps (issue #14, ADR 0016): the platform certifies each document when it is sent
(DocMDP "fill forms", so later form filling and signing stay allowed); each signer then
adds a B-T approval signature with a key of their own (or, for `ses`, the platform seal
signs the step naming them); when the last one is done, the revocation info of every
certificate goes into the DSS and a document timestamp seals it all: B-LTA, verifiable
offline for as long as archive timestamps are renewed. Every step is an incremental
update, so every earlier signature stays valid.

Given `long_term`, each step is itself B-LTA: the new signature's revocation info goes into
the DSS and a document timestamp follows, within seconds. A signer's certificate lives one
hour and a dossier weeks; pyHanko (like ETSI EN 319 102-1's past validation) accepts only
revocation info issued, and proven to exist, while the certificate was valid, so it cannot
be collected at the end. `validation.validate` judges the result.

All functions take and return PDF bytes and are async, because pyHanko's signing and
validation APIs are (lab pitfall 9): TSA requests and revocation fetching await I/O and
never block the event loop. Hashing and ECDSA run inline (milliseconds, see ADR 0016).
A timestamp is required everywhere: a TSA that cannot be reached raises
`TimestampUnavailable`, and a signature that came out without a token would raise too.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import algos, cms, core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature, read_certification_data
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from . import stamp_image
from .errors import (
    DocumentAlreadySigned,
    FieldAlreadyFilled,
    FieldInvalid,
    FieldNotFound,
    RevocationInfoUnavailable,
    TimestampUnavailable,
)
from .pdf import FieldValue, Placement, fill_fields, open_reader, open_writer, text_style
from .pki import SigningCredential
from .revocation import RevocationSource, to_asn1

MD_ALGORITHM = "sha256"
CERTIFICATION_FIELD = "Certification"
DEFAULT_STAMP = "Signed by: %(signer)s\nDate: %(ts)s\nReason: %(reason)s"
SEAL_STAMP = "Signed by: %(signer_name)s\nSealed by: %(signer)s\nDate: %(ts)s"


@dataclasses.dataclass(frozen=True)
class Trust:
    """What a validator trusts: root certificates, plus intermediates to build paths with."""

    roots: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate] = ()


@dataclasses.dataclass(frozen=True)
class LongTerm:
    """Trust and a revocation source: given to a signing step, it makes the step B-LTA.

    The new signature's revocation info goes into the DSS, then a document timestamp and its
    TSA's revocation info, while the signer's one-hour certificate is still valid.
    """

    trust: Trust
    source: RevocationSource
    now: datetime | None = None  # tests move the clock; None is the current time


class _CredentialSigner(Signer):
    """pyHanko's Signer over a `cryptography` key object: no key bytes are ever serialized."""

    def __init__(self, credential: SigningCredential) -> None:
        self._credential = credential
        super().__init__(
            signing_cert=to_asn1(credential.certificate),
            cert_registry=SimpleCertificateStore.from_certs([to_asn1(c) for c in credential.chain]),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != MD_ALGORITHM:
            raise ValueError(f"only {MD_ALGORITHM} is used")
        # `key` raises CredentialDestroyed once a one-time credential was dropped.
        return self._credential.key.sign(data, ec.ECDSA(hashes.SHA256()))


def _metadata(
    field_name: str,
    *,
    name: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    certify: bool = False,
    permissions: fields.MDPPerm = fields.MDPPerm.FILL_FORMS,
) -> signers.PdfSignatureMetadata:
    return signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=MD_ALGORITHM,
        subfilter=fields.SigSeedSubFilter.PADES,
        name=name,
        reason=reason,
        location=location,
        certify=certify,
        docmdp_permissions=permissions,  # read only when certifying
    )


def _signature(reader: PdfFileReader, field_name: str) -> EmbeddedPdfSignature:
    signature: EmbeddedPdfSignature
    for signature in reader.embedded_signatures:
        if signature.field_name == field_name:
            return signature
    raise FieldNotFound(field=field_name)


def signature_timestamp(signature: EmbeddedPdfSignature) -> datetime | None:
    """The time in the signature's RFC 3161 token (B-T), or None for a bare B-B signature."""
    unsigned = signature.signer_info["unsigned_attrs"]
    if isinstance(unsigned, core.Void):  # (`.native` would parse every token: slow)
        return None
    for attribute in unsigned:
        if attribute["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = attribute["values"][0]
            gen_time: datetime = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
            return gen_time
    return None


def _require_timestamp(output: bytes, field_name: str) -> bytes:
    """Fail closed even if a TimeStamper misbehaved: no token, no signature."""
    if signature_timestamp(_signature(open_reader(output), field_name)) is None:
        raise TimestampUnavailable(reason="the signature came out without a timestamp token")
    return output


def _empty_signature_field(writer: IncrementalPdfFileWriter, field_name: str) -> bool:
    """True if an empty signature field of that name exists; raises if it is already signed."""
    for name, _value, ref in fields.enumerate_sig_fields(writer, filled_status=None):
        if name == field_name:
            if ref.get_object().get("/V") is not None:
                raise FieldAlreadyFilled(field=field_name)
            return True
    return False


async def _sign(
    writer: IncrementalPdfFileWriter,
    metadata: signers.PdfSignatureMetadata,
    credential: SigningCredential,
    timestamper: TimeStamper,
    *,
    new_field: fields.SigFieldSpec | None,
    stamp: str | None,
    text: Mapping[str, str],
    long_term: LongTerm | None,
    font: Path | None = None,
    image: bytes | None = None,
) -> bytes:
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=_CredentialSigner(credential),
        timestamper=timestamper,
        stamp_style=_stamp_style(stamp, font, image) if stamp else None,
        new_field_spec=new_field,
    )
    output = await pdf_signer.async_sign_pdf(
        writer, existing_fields_only=new_field is None, appearance_text_params=dict(text)
    )
    data = _require_timestamp(output.getvalue(), str(metadata.field_name))
    if long_term is not None:
        data = await add_revocation_info(
            data, long_term.trust, long_term.source, field_names=[str(metadata.field_name)], now=long_term.now
        )
        data = await _document_timestamp(data, long_term.trust, long_term.source, timestamper, long_term.now)
    return data


def _stamp_style(stamp: str, font: Path | None, image: bytes | None) -> TextStampStyle:
    """The stamp's text, over the signer's drawn signature when there is one."""
    style = TextStampStyle(stamp_text=stamp, text_box_style=text_style(font))
    if image is None:
        return style
    return dataclasses.replace(
        style, background=stamp_image.background(image), background_opacity=stamp_image.STAMP_OPACITY
    )


async def certify(
    pdf: bytes,
    seal: SigningCredential,
    timestamper: TimeStamper,
    *,
    field_name: str = CERTIFICATION_FIELD,
    reason: str | None = None,
    location: str | None = None,
    long_term: LongTerm | None = None,
    permissions: fields.MDPPerm = fields.MDPPerm.FILL_FORMS,
) -> bytes:
    """The certification signature (DocMDP fill forms, PAdES, SHA-256, B-T) in a new invisible field.

    Must be the document's first signature; fields to fill or sign are placed before
    (`pdf.place_fields`), since the certification covers the form as it is. With
    `long_term`, the seal's revocation info follows in a DSS revision (B-LT). A document
    nobody signs after the platform (the audit report) is certified with `NO_CHANGES`;
    the DSS and document timestamps of B-LTA stay allowed under it.
    """
    writer = open_writer(pdf)
    if any(True for _ in fields.enumerate_sig_fields(writer, filled_status=True)):
        raise DocumentAlreadySigned()
    if _empty_signature_field(writer, field_name):
        raise FieldAlreadyFilled(field=field_name)
    metadata = _metadata(field_name, certify=True, reason=reason, location=location, permissions=permissions)
    return await _sign(
        writer,
        metadata,
        seal,
        timestamper,
        new_field=fields.SigFieldSpec(field_name),
        stamp=None,
        text={},
        long_term=long_term,
    )


async def approve(
    pdf: bytes,
    field_name: str,
    credential: SigningCredential,
    timestamper: TimeStamper,
    *,
    name: str,
    reason: str,
    location: str | None = None,
    stamp: str = DEFAULT_STAMP,
    placement: Placement | None = None,
    fill: Mapping[str, FieldValue] | None = None,
    stamp_values: Mapping[str, str] | None = None,
    long_term: LongTerm | None = None,
    font: Path | None = None,
    image: bytes | None = None,
) -> bytes:
    """A signer's PAdES B-T approval signature with a visible appearance, as one incremental update.

    Signs the empty signature field `field_name`, or, with `placement`, a new field there.
    `fill` values (text, dates, checkboxes) are written in the same revision. `stamp` is the
    appearance text: `%(signer)s` (the certificate's name or `name`), `%(ts)s` (signing
    time), `%(reason)s`, `%(location)s` and any `stamp_values`, in `font` (`pdf.text_style`);
    `image`, the signer's drawn signature (a PNG, `stamp_image.check`), is drawn behind it.

    With `long_term`, the certificate's revocation info is added right after (B-LT), while
    the hour-long certificate is still valid: do this for every per-signer signature.
    """
    writer = open_writer(pdf)
    exists = _empty_signature_field(writer, field_name)
    if placement is None and not exists:
        raise FieldNotFound(field=field_name)
    if placement is not None and exists:
        raise FieldAlreadyFilled(field=field_name)
    if placement is not None and read_certification_data(writer.prev) is not None:
        # DocMDP "fill forms" lets signers sign the fields that were there when the document
        # was certified, not add visible ones (ISO 32000; pyHanko's diff analysis agrees).
        raise FieldInvalid(field=field_name, reason="a certified document is signed in the fields placed before")
    if fill:
        fill_fields(writer, fill, font=font)
    new_field = (
        fields.SigFieldSpec(field_name, on_page=placement.page - 1, box=placement.pyhanko_box)
        if placement is not None
        else None
    )
    metadata = _metadata(field_name, name=name, reason=reason, location=location)
    text = {"reason": reason, "location": location or "", **(stamp_values or {})}
    return await _sign(
        writer,
        metadata,
        credential,
        timestamper,
        new_field=new_field,
        stamp=stamp,
        text=text,
        long_term=long_term,
        font=font,
        image=image,
    )


async def seal_step(
    pdf: bytes,
    field_name: str,
    seal: SigningCredential,
    timestamper: TimeStamper,
    *,
    signer_name: str,
    audit_event_id: str,
    reason: str | None = None,
    location: str | None = None,
    stamp: str = SEAL_STAMP,
    placement: Placement | None = None,
    fill: Mapping[str, FieldValue] | None = None,
    long_term: LongTerm | None = None,
    font: Path | None = None,
    image: bytes | None = None,
) -> bytes:
    """The `ses` step: the platform seal signs on the signer's behalf, naming them and the audit event.

    The signature is honestly the platform's (its certificate names the seal); who signed
    and the audit event that proves how they authenticated are in /Reason and the stamp.
    """
    reason = reason or f"Signed electronically by {signer_name}; Trustroom audit event {audit_event_id}"
    return await approve(
        pdf,
        field_name,
        seal,
        timestamper,
        name=_credential_name(seal),
        reason=reason,
        location=location,
        stamp=stamp,
        placement=placement,
        fill=fill,
        stamp_values={"signer_name": signer_name, "audit_event_id": audit_event_id},
        long_term=long_term,
        font=font,
        image=image,
    )


def _credential_name(credential: SigningCredential) -> str:
    names = credential.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else credential.certificate.subject.rfc4514_string()


# --- B-LTA ----------------------------------------------------------------------------------


# Slack between our clock and a responder's (ours, or a CA's somewhere else).
REVOCATION_CLOCK_TOLERANCE = timedelta(minutes=2)


def _context(trust: Trust, fetchers: Fetchers, now: datetime | None) -> ValidationContext:
    return ValidationContext(
        trust_roots=[to_asn1(c) for c in trust.roots],
        other_certs=[to_asn1(c) for c in trust.intermediates],
        allow_fetching=True,
        fetchers=fetchers,
        revocation_mode="require",
        moment=now,
        # An answer fetched now is stamped a little after the moment this context was made:
        # certvalidator's default one second called it "too recent" on a loaded machine.
        time_tolerance=REVOCATION_CLOCK_TOLERANCE,
    )


def signing_moment(signature: EmbeddedPdfSignature) -> datetime | None:
    if signature.sig_object_type == "/DocTimeStamp":
        gen_time: datetime = signature.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
        return gen_time
    return signature_timestamp(signature) or signature.self_reported_timestamp


async def _collect(
    signatures: Sequence[EmbeddedPdfSignature], trust: Trust, source: RevocationSource, now: datetime | None
) -> tuple[list[object], list[object], list[object]]:
    """Paths, OCSP responses and CRLs for the signatures (and their timestamps), as of now."""
    paths: list[object] = []
    ocsps: list[object] = []
    crls: list[object] = []
    fetchers = source.fetchers()  # one cache for all: the CAs' own status is asked once
    for signature in signatures:
        context = _context(trust, fetchers, now)
        try:
            paths.extend(await collect_validation_info(signature, context))
        except cv_errors.PathValidationError as error:
            raise RevocationInfoUnavailable(reason=f"{signature.field_name}: {error}") from error
        except cv_errors.PathBuildingError as error:
            raise RevocationInfoUnavailable(
                reason=f"{signature.field_name} does not chain to a trusted root"
            ) from error
        ocsps.extend(context.ocsps)
        crls.extend(context.crls)
    return paths, ocsps, crls


def _add_dss(pdf: bytes, paths: list[object], ocsps: list[object], crls: list[object]) -> bytes:
    buffer = io.BytesIO(pdf)
    DocumentSecurityStore.add_dss(buffer, sig_contents=None, paths=paths, ocsps=ocsps, crls=crls)
    return buffer.getvalue()


def dss_statuses(signature: EmbeddedPdfSignature, reader: PdfFileReader) -> list[str]:
    """What the DSS says about the signer's certificate: one OCSP/CRL verdict ("good", "revoked", …) each."""
    if "/DSS" not in reader.root:
        return []
    dss = DocumentSecurityStore.read_dss(reader)
    certificate = signature.signer_cert
    verdicts = []
    for ref in dss.ocsps:
        response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        if response["response_status"].native != "successful":
            continue
        for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
            if single["cert_id"]["serial_number"].native == certificate.serial_number:
                verdicts.append(str(single["cert_status"].name))
    for ref in dss.crls:
        revocation_list = asn1_crl.CertificateList.load(ref.get_object().data)
        if revocation_list.issuer == certificate.issuer:
            listed = any(
                entry["user_certificate"].native == certificate.serial_number
                for entry in revocation_list["tbs_cert_list"]["revoked_certificates"]
            )
            verdicts.append("revoked" if listed else "good")
    return verdicts


def _covered(signature: EmbeddedPdfSignature, reader: PdfFileReader) -> bool:
    """True if the DSS already holds an OCSP response for the signer's certificate, or a CRL of its issuer."""
    return bool(dss_statuses(signature, reader))


def _still_valid(signature: EmbeddedPdfSignature, now: datetime | None) -> bool:
    not_after: datetime = signature.signer_cert.not_valid_after
    return (now or datetime.now(UTC)) < not_after


async def add_revocation_info(
    pdf: bytes,
    trust: Trust,
    source: RevocationSource,
    *,
    field_names: Sequence[str] | None = None,
    now: datetime | None = None,
) -> bytes:
    """B-LT: current revocation info in the DSS, for the named signatures or for every one still valid.

    Without `field_names`, every signature and document timestamp whose certificate is
    still valid gets fresh information; one whose certificate has expired must already be
    covered (collected while it was valid), or `RevocationInfoUnavailable` is raised.
    Why: pyHanko, like ETSI EN 319 102-1's past validation, accepts revocation info only
    from while the certificate was valid, and a signer's certificate lives one hour.
    """
    reader = open_reader(pdf)
    if field_names is not None:
        signatures = [s for s in reader.embedded_signatures if s.field_name in field_names]
        missing = set(field_names) - {s.field_name for s in signatures}
        if missing:
            raise FieldNotFound(field=", ".join(sorted(missing)))
    else:
        signatures = []
        for signature in reader.embedded_signatures:
            if _still_valid(signature, now):
                signatures.append(signature)
            elif not _covered(signature, reader):
                raise RevocationInfoUnavailable(
                    reason=f"the certificate of {signature.field_name} expired before its revocation info was embedded"
                )
    if not signatures:
        return pdf
    return _add_dss(pdf, *await _collect(signatures, trust, source, now))


async def _document_timestamp(
    pdf: bytes, trust: Trust, source: RevocationSource, timestamper: TimeStamper, now: datetime | None
) -> bytes:
    writer = open_writer(pdf)
    output = await signers.PdfTimeStamper(timestamper).async_timestamp_pdf(writer, MD_ALGORITHM)
    stamped: bytes = output.getvalue()
    # The DTS's own TSA certificate needs its revocation info too, so the newest timestamp
    # validates offline; collected for the token actually obtained (a failover may differ).
    latest = open_reader(stamped).embedded_timestamp_signatures[-1]
    return _add_dss(stamped, *await _collect([latest], trust, source, now))


async def finalize_lta(
    pdf: bytes, trust: Trust, source: RevocationSource, timestamper: TimeStamper, *, now: datetime | None = None
) -> bytes:
    """PAdES B-LTA: fresh revocation info for every certificate still valid, then a document timestamp.

    Signers' hour-long certificates have usually expired by now; their information was
    embedded by their own step (`long_term`), and one that was not fails the call.
    Revocation info is asked through `source` (Trustroom's responders in-process, others
    over HTTP if allowed). A certificate whose status cannot be had (revoked, unknown,
    not chaining to `trust`) raises `RevocationInfoUnavailable`, and nothing is written.
    """
    if not open_reader(pdf).embedded_signatures:
        raise FieldNotFound(field="(any signature)")
    refreshed = await add_revocation_info(pdf, trust, source, now=now)
    return await _document_timestamp(refreshed, trust, source, timestamper, now)


async def renew_archive_timestamp(
    pdf: bytes, trust: Trust, source: RevocationSource, timestamper: TimeStamper, *, now: datetime | None = None
) -> bytes:
    """A new document timestamp over a B-LTA document, before the last one's TSA certificate expires.

    Fresh revocation info for every certificate still valid (the last timestamp's TSA
    above all) goes in first, so the new timestamp covers proof that the old one was good.
    `renewal_due` says when to call this.
    """
    if not open_reader(pdf).embedded_timestamp_signatures:
        raise FieldNotFound(field="(document timestamp)")
    refreshed = await add_revocation_info(pdf, trust, source, now=now)
    return await _document_timestamp(refreshed, trust, source, timestamper, now)


def renewal_due(pdf: bytes) -> datetime | None:
    """When the newest document timestamp stops being verifiable: its TSA certificate's expiry,
    or an earlier expiry of an OCSP responder certificate vouching for it. None without one."""
    reader = open_reader(pdf)
    timestamps = reader.embedded_timestamp_signatures
    if not timestamps:
        return None
    latest = timestamps[-1]
    due: datetime = latest.signer_cert.not_valid_after
    serials = {latest.signer_cert.serial_number, *(c.serial_number for c in latest.other_embedded_certs)}
    if "/DSS" in reader.root:
        for ref in DocumentSecurityStore.read_dss(reader).ocsps:
            response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
            if response["response_status"].native != "successful":
                continue
            basic = response.basic_ocsp_response
            about = {single["cert_id"]["serial_number"].native for single in basic["tbs_response_data"]["responses"]}
            if about & serials:
                for certificate in basic["certs"]:
                    due = min(due, certificate.not_valid_after)
    return due


__all__ = [
    "CERTIFICATION_FIELD",
    "DEFAULT_STAMP",
    "SEAL_STAMP",
    "LongTerm",
    "Trust",
    "add_revocation_info",
    "approve",
    "certify",
    "dss_statuses",
    "finalize_lta",
    "renew_archive_timestamp",
    "renewal_due",
    "seal_step",
    "signature_timestamp",
    "signing_moment",
]
