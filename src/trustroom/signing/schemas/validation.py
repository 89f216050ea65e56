"""API shapes of `POST /signing/validate`: what the offline validation says of a PDF's signatures."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ...schemas import Schema
from ..validation import SignatureReport


class SignatureValidationRead(Schema):
    """One signature or document timestamp, judged offline from what the PDF carries (ADR 0016)."""

    field_name: str = Field(examples=["Client"])
    kind: Literal["certification", "approval", "timestamp"] = Field(
        description="certification (the first, DocMDP) signature, an approval signature, or a document timestamp."
    )
    signer: str = Field(
        description="The certificate's common name (the TSA's for a timestamp).", examples=["Anna Muster"]
    )
    signing_time: datetime | None = Field(
        description="The time in the signature's RFC 3161 timestamp, else what the signer claimed."
    )
    level: Literal["B-B", "B-T", "B-LT", "B-LTA", "DTS"] = Field(
        description="PAdES baseline level; DTS for a document timestamp.", examples=["B-LTA"]
    )
    intact: bool = Field(description="The signed bytes are unchanged.")
    valid: bool = Field(description="The cryptographic signature checks.")
    trusted: bool = Field(
        description="The certificate chains to a trusted root (this installation's, or one configured) and the "
        "AdES validation passed."
    )
    revoked: bool
    modification_level: str | None = Field(
        description="What changed after this signature: NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS or OTHER.",
        examples=["FORM_FILLING"],
    )
    docmdp_allowed: bool | None = Field(
        description="The changes after this signature are allowed by the document's certification (DocMDP)."
    )
    ades_indication: str | None = Field(description="pyHanko's AdES sub-indication, e.g. OK.", examples=["OK"])
    ok: bool = Field(description="intact, valid, trusted, not revoked and no forbidden change after it.")


class ValidationRead(Schema):
    sha256: str = Field(description="SHA-256 of the PDF validated, hex.")
    valid: bool = Field(description="The document has signatures and every one of them is ok.")
    signatures: list[SignatureValidationRead]


def validation_read(sha256: str, reports: list[SignatureReport]) -> ValidationRead:
    signatures = [
        SignatureValidationRead(
            field_name=report.field,
            kind=report.kind,
            signer=report.signer,
            signing_time=report.signing_time,
            level=report.level,
            intact=report.intact,
            valid=report.valid,
            trusted=report.trusted,
            revoked=report.revoked,
            modification_level=report.modification_level,
            docmdp_allowed=report.docmdp_ok,
            ades_indication=report.ades_indication,
            ok=report.ok,
        )
        for report in reports
    ]
    return ValidationRead(
        sha256=sha256, valid=bool(signatures) and all(s.ok for s in signatures), signatures=signatures
    )
