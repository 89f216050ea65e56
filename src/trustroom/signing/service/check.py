"""`trustroom signing check`: the whole chain, once, on a document made for the purpose.

Why: the anchors' top self-hosting pain is a signing set-up that looks fine until the first
real document is stuck (an unreadable key, an unreachable TSA, a CA nobody trusts). This
signs a generated one-page PDF with the tenant's seal through the configured TSA as a B-LTA
step (certification, revocation info, document timestamp), then validates it offline with
the trust validation uses, so whatever would break a dossier breaks here, with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from uuid import UUID

from pyhanko.pdf_utils import generic, writer
from sqlalchemy.ext.asyncio import AsyncSession

from ...keys import ServerKeys
from ...settings import Settings
from .. import pades, validation
from . import authority

CHECK_REASON = "Trustroom signing check"


def sample_document(text: str = "Trustroom signing check") -> bytes:
    """A one-page PDF naming what it is for, in Helvetica (no font file needed)."""
    pdf = writer.PdfFileWriter()
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = generic.StreamObject(stream_data=f"BT /F1 16 Tf 72 760 Td ({escaped}) Tj ET".encode("latin-1"))
    font = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): pdf.add_object(font)})}
    )
    pdf.insert_page(
        writer.PageObject(contents=pdf.add_object(content), media_box=(0, 0, 595, 842), resources=resources)
    )
    out = io.BytesIO()
    pdf.write(out)
    return out.getvalue()


@dataclass(frozen=True)
class CheckResult:
    signed: bytes
    reports: list[validation.SignatureReport]
    timestamping: str  # the TSAs asked, or "in-process"

    @property
    def ok(self) -> bool:
        return bool(self.reports) and all(report.ok for report in self.reports)


async def run(session: AsyncSession, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> CheckResult:
    """Sign and validate; the PKI is made on first use (the caller commits it).

    Raises what a signing step would: TimestampUnavailable, RevocationInfoUnavailable,
    SigningKeyUnreadable, AuthorityNotFound (no such tenant).
    """
    kit = await authority.signing_kit(session, keys, settings, tenant_id)
    async with kit.revocation_source() as source:
        signed = await pades.certify(
            sample_document(), kit.seal, kit.timestamper, reason=CHECK_REASON, long_term=kit.long_term(source)
        )
    reports = await validation.validate(signed, kit.trust)
    return CheckResult(signed, reports, ", ".join(settings.signing.tsa_urls) or "in-process")
