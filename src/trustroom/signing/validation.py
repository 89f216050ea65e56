"""Validating signed PDFs offline: what `POST /signing/validate` and the evidence bundle will report.

Why a policy of our own around pyHanko's AdES validation (ADR 0016): an auditor checks a
finished document years later, offline, from what it carries (the DSS). pyHanko's default
freshness rule wants revocation info that is current at validation time, which an archived
document never has; judged that way every B-LTA document fails an hour after it was made.
So signatures are judged as of the newest document timestamp (everything it covers was
proven to exist then, with revocation info collected just before), and each document
timestamp as of the next one, the newest as of now with its archived revocation info.
pyHanko's AdES verdict alone misses forbidden changes after signing (lab pitfall 8), so
its difference analysis (`docmdp_ok`) is reported beside it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation import ades, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy, FreshnessReqType
from pyhanko_certvalidator.registry import SimpleTrustManager

from .pades import Trust, dss_statuses, signature_timestamp, signing_moment
from .pdf import open_reader
from .revocation import to_asn1


@dataclasses.dataclass(frozen=True)
class SignatureReport:
    """One signature as an auditor sees it (the shape `POST /signing/validate` will answer)."""

    field: str
    kind: str  # "certification", "approval" or "timestamp"
    signer: str  # the certificate's common name (the TSA's, for a document timestamp)
    signing_time: datetime | None  # the timestamp's time if any, else what the signer claimed
    level: str  # B-B, B-T, B-LT or B-LTA (for a document timestamp: "DTS")
    intact: bool  # the signed bytes are unchanged
    valid: bool  # the cryptographic signature checks
    trusted: bool  # the certificate chains to a trust root and was not revoked
    revoked: bool
    modification_level: str | None  # pyHanko's ModificationLevel name for what came after
    docmdp_ok: bool | None  # what came after was allowed (pitfall 8: AdES alone misses this)
    ades_indication: str | None  # e.g. PASSED, or the AdES sub-indication when it did not pass

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and not self.revoked and self.docmdp_ok is not False


def _common_name(certificate: asn1_x509.Certificate) -> str:
    name: str = certificate.subject.native.get("common_name") or certificate.subject.human_friendly
    return name


def _level(signature: EmbeddedPdfSignature, reader: PdfFileReader, has_revinfo: bool) -> str:
    if signature_timestamp(signature) is None:
        return "B-B"
    if not has_revinfo:
        return "B-T"
    # B-LTA once a document timestamp covers a revision after this signature's (the DSS).
    own_revision = signature.signed_revision
    later = [ts for ts in reader.embedded_timestamp_signatures if ts.signed_revision > own_revision]
    return "B-LTA" if later else "B-LT"


def _dss_has_revinfo(reader: PdfFileReader) -> bool:
    try:
        dss = reader.root["/DSS"]
    except KeyError:
        return False
    return bool(dss.get("/OCSPs") or dss.get("/CRLs"))


def _validation_spec(trust: Trust) -> PdfSignatureValidationSpec:
    trust_manager = SimpleTrustManager.build([to_asn1(c) for c in trust.roots])
    policy = CertValidationPolicySpec(trust_manager=trust_manager, revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO))
    timestamps = CertValidationPolicySpec(
        trust_manager=trust_manager,
        revinfo_policy=CertRevTrustPolicy(
            REQUIRE_REVINFO,
            freshness=timedelta(days=36500),
            freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
        ),
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            ts_cert_validation_policy=timestamps,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


def _gen_time(timestamp: EmbeddedPdfSignature) -> datetime:
    gen_time: datetime = timestamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    return gen_time


async def validate(pdf: bytes, trust: Trust, *, now: datetime | None = None) -> list[SignatureReport]:
    """Every signature and document timestamp, judged offline from what the PDF carries (the DSS).

    The policy (ADR 0016): signatures get pyHanko's AdES-LTA validation, trusting only
    `trust.roots`, fetching nothing, plus its difference analysis (`docmdp_ok`; pitfall 8),
    as of the newest document timestamp (B-LTA: everything it covers was proven to exist
    then, with the revocation info collected just before) or as of now without one.
    `trusted` needs pyHanko's trust verdict and an AdES PASSED. Each document timestamp is
    judged as of the next one, the newest as of now, with the revocation info archived
    beside it however old (offline there is nothing newer: renew before `renewal_due`).
    `now` moves "now" (tests, or an auditor's question about a past date).
    """
    reader = open_reader(pdf)
    current = now or datetime.now(UTC)
    spec = _validation_spec(trust)
    has_revinfo = _dss_has_revinfo(reader)
    timestamps = list(reader.embedded_timestamp_signatures)
    times = [_gen_time(timestamp) for timestamp in timestamps]
    reference = min(times[-1], current) if times else current
    timing = ValidationTimingInfo(
        reference, reference, point_in_time_validation=reference != current or now is not None
    )
    reports: list[SignatureReport] = []
    for signature in reader.embedded_signatures:
        if signature.sig_object_type == "/DocTimeStamp":
            index = next(i for i, timestamp in enumerate(timestamps) if timestamp.field_name == signature.field_name)
            moment = times[index + 1] if index + 1 < len(times) else current
            reports.append(await _validate_timestamp(signature, trust, moment))
            continue
        result = await ades.ades_lta_validation(signature, spec, timing_info=timing)
        status = result.api_status
        # Revoked as pyHanko found it, or as the archived revocation info plainly says
        # (pyHanko may reject that info as issued after the signing time and report only
        # an indeterminate chain).
        revoked = (status is not None and status.revoked) or "revoked" in dss_statuses(signature, reader)
        passed = result.ades_subindic is AdESPassed.OK and not revoked
        modification = status.modification_level if status is not None else None
        reports.append(
            SignatureReport(
                field=str(signature.field_name),
                kind="certification" if signature.docmdp_level is not None else "approval",
                signer=_common_name(signature.signer_cert),
                signing_time=signing_moment(signature),
                level=_level(signature, reader, has_revinfo),
                # No status at all means pyHanko could not even evaluate the signature.
                intact=status is not None and status.intact,
                valid=status is not None and status.valid,
                trusted=status is not None and status.trusted and passed,
                revoked=revoked,
                modification_level=modification.name if modification is not None else None,
                docmdp_ok=status.docmdp_ok if status is not None else None,
                ades_indication=_indication(result),
            )
        )
    return reports


def _indication(result: ades.AdESLTAValidationResult) -> str | None:
    indication = result.ades_subindic
    if indication is None:
        return None
    return str(getattr(indication, "name", indication))


_ARCHIVED_REVINFO = CertRevTrustPolicy(
    REQUIRE_REVINFO,
    # Archived revocation info counts however old it is: offline, there is nothing newer.
    freshness=timedelta(days=100 * 365),
    freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
)


async def _validate_timestamp(signature: EmbeddedPdfSignature, trust: Trust, moment: datetime) -> SignatureReport:
    roots = [to_asn1(c) for c in trust.roots]
    intermediates = [to_asn1(c) for c in trust.intermediates]
    settings = {
        "trust_roots": roots,
        "other_certs": intermediates,
        "revinfo_policy": _ARCHIVED_REVINFO,
        "moment": moment,
    }
    if "/DSS" in signature.reader.root:
        context = DocumentSecurityStore.read_dss(signature.reader).as_validation_context(settings)
    else:
        context = ValidationContext(
            trust_roots=roots, other_certs=intermediates, revinfo_policy=_ARCHIVED_REVINFO, moment=moment
        )
    status = await async_validate_pdf_timestamp(signature, validation_context=context)
    modification = status.modification_level
    return SignatureReport(
        field=str(signature.field_name),
        kind="timestamp",
        signer=_common_name(status.signing_cert),
        signing_time=status.timestamp,
        level="DTS",
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        revoked=status.revoked,
        modification_level=modification.name if modification is not None else None,
        docmdp_ok=status.docmdp_ok,
        ades_indication=None,
    )


__all__ = ["SignatureReport", "validate"]
