"""What the audit report and the evidence bundle say: plain, frozen facts about one dossier.

The completion step reads them from the tables; the report and the bundle only lay them
out, so they can be built and tested without a database. Addresses are given in full and
masked here (`mask_email`, `mask_phone`): whatever a caller passes, no report shows more
than the first letter of an address and the last two digits of a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import phonenumbers
from cryptography import x509
from cryptography.hazmat.primitives import hashes

MASK = "•"


def mask_email(address: str) -> str:
    """`jane.doe@example.com` → `j***@example.com`: enough to recognise, too little to write to."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """`+41791234567` → `+41 •• ••• •• 67`: the country code and the last two digits stay."""
    try:
        parsed = phonenumbers.parse(number, None)
        written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        prefix = f"+{parsed.country_code}"
    except phonenumbers.NumberParseException:
        written, prefix = number.strip(), ""
    head, rest = written[: len(prefix)], written[len(prefix) :]
    digits = sum(character.isdigit() for character in rest)
    masked, seen = [], 0
    for character in rest:
        if character.isdigit():
            seen += 1
            masked.append(character if seen > digits - 2 else MASK)
        elif character in " -":
            masked.append(" ")
        # anything else (brackets, dots, letters) is dropped: it could carry what is masked
    return head + "".join(masked)


@dataclass(frozen=True)
class StateChange:
    at: datetime
    state: str  # a DossierState or InviteeState value
    reason: str | None = None  # a cancellation's or a decline's reason


@dataclass(frozen=True)
class DossierFacts:
    id: str
    name: str
    method: str  # "ses" | "aes"
    locale: str  # BCP 47, e.g. de-CH: the report's language and date formats
    owner: str  # the owning member as people know them (name and email)
    provider: str  # the tenant's name: who sealed the report
    state: str
    created_at: datetime
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    state_changes: tuple[StateChange, ...] = ()


@dataclass(frozen=True)
class DocumentFacts:
    name: str
    pages: int
    original_sha256: str
    final_sha256: str | None = None  # None while the document is unfinished


@dataclass(frozen=True)
class Authentication:
    """One authentication the invitee passed: `otp_email` or `otp_sms`, to `address` (masked when shown)."""

    method: str
    address: str
    at: datetime


@dataclass(frozen=True)
class SignatureFacts:
    """The signature an invitee's step put in one document: their own certificate (`aes`) or the seal (`ses`)."""

    document: str
    field: str
    certificate_serial: str  # hexadecimal
    certificate_fingerprint: str  # SHA-256 of the DER certificate, hexadecimal
    sealed: bool  # True: the platform seal signed on the signer's behalf (`ses`)

    @classmethod
    def of(cls, document: str, field: str, certificate: x509.Certificate, *, sealed: bool) -> SignatureFacts:
        return cls(
            document=document,
            field=field,
            certificate_serial=f"{certificate.serial_number:X}",
            certificate_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
            sealed=sealed,
        )


@dataclass(frozen=True)
class InviteeFacts:
    name: str
    role: str  # signer | approver | viewer
    state: str
    position: int = 1
    email: str | None = None
    phone: str | None = None
    authentications: tuple[Authentication, ...] = ()
    ip: str | None = None  # where the decisive step (sign, approve, decline) came from
    user_agent: str | None = None
    viewed_at: datetime | None = None
    signed_at: datetime | None = None  # signed, or approved by an approver
    declined_at: datetime | None = None
    decline_reason: str | None = None
    signatures: tuple[SignatureFacts, ...] = ()


class ChainedEvent(Protocol):
    """What the report needs of an `audit.models.AuditEvent` (without importing tables)."""

    seq: int
    occurred_at: datetime
    action: str
    ip: str | None
    prev_hash: str
    hash: str

    def chained_content(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AuditRecord:
    """One audit event of the dossier at its place in the tenant's hash chain.

    `content` is exactly what `hash` covers (`AuditEvent.chained_content()`): the evidence
    bundle carries it, so anyone can recompute the hash (`audit.service.chain_hash`).
    """

    seq: int
    occurred_at: datetime
    action: str
    actor: str  # who, as people know them
    ip: str | None
    prev_hash: str
    hash: str
    content: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, event: ChainedEvent, *, actor: str) -> AuditRecord:
        return cls(
            seq=event.seq,
            occurred_at=event.occurred_at,
            action=event.action,
            actor=actor,
            ip=event.ip,
            prev_hash=event.prev_hash,
            hash=event.hash,
            content=event.chained_content(),
        )


@dataclass(frozen=True)
class ReportFacts:
    dossier: DossierFacts
    documents: tuple[DocumentFacts, ...]
    invitees: tuple[InviteeFacts, ...]
    events: tuple[AuditRecord, ...]
    generated_at: datetime
