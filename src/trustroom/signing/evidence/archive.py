"""The download ZIP and the evidence bundle of a dossier: streamed, in a fixed order, safe names.

Why streamed: the route answers while the archive is written, chunk by chunk, without
holding a second copy of every PDF. Why a fixed order and fixed member times: the same
dossier gives the same bytes, so an archive can be re-made and compared. Why safe names:
documents are named by whoever uploaded them, and a name such as `../../etc/passwd`,
`C:\\x`, `CON.pdf` or one with a right-to-left override must unpack as a harmless file of
its own; Unicode letters stay ("Vertrag Łukasz.pdf"), duplicates get " (2)", " (3)".

The evidence bundle:

    documents/<name>.pdf     the signed PDFs
    audit-report.pdf         the sealed audit report
    audit-events.json        the dossier's audit events, each with what its chain hash covers
    validation/<name>.json   pyHanko's verdict on every signature of each document
    SHA256SUMS               the SHA-256 of every other member, for `sha256sum -c SHA256SUMS`
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes

from ... import i18n
from ..pades import Trust
from ..validation import SignatureReport, validate
from . import texts
from .facts import AuditRecord, DossierFacts

REPORT_MEMBER = "audit-report.pdf"
EVENTS_MEMBER = "audit-events.json"
MANIFEST_MEMBER = "SHA256SUMS"
DOCUMENTS_FOLDER = "documents/"
VALIDATION_FOLDER = "validation/"

_MAX_NAME_BYTES = 150  # leaves room for a folder in a 255-byte file name limit
_REPLACED = set('/\\:*?"<>|')  # separators and what Windows refuses in a file name
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, bidi overrides, unassigned
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}
_EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)  # a ZIP member cannot be older


@dataclasses.dataclass(frozen=True)
class SignedDocument:
    """A signed PDF as the dossier names it, with pyHanko's verdict for the evidence bundle."""

    name: str
    content: bytes
    validation: tuple[SignatureReport, ...] = ()


async def validated(name: str, content: bytes, trust: Trust, *, now: datetime | None = None) -> SignedDocument:
    """The document with every signature judged offline (`validation.validate`)."""
    return SignedDocument(name, content, tuple(await validate(content, trust, now=now)))


def safe_name(name: str, *, extension: str = ".pdf", fallback: str = "document") -> str:
    """One harmless path component ending in `extension`: no folders, no controls, Unicode kept."""
    text = "".join(
        " " if character.isspace() else "_" if character in _REPLACED else character
        for character in unicodedata.normalize("NFC", name)
        if character.isspace() or unicodedata.category(character) not in _DROPPED
    )
    text = " ".join(text.split()).strip(" .")  # leading dots hide files or climb up; trailing ones Windows drops
    if text.lower().endswith(extension.lower()):
        text = text[: -len(extension)].rstrip(" .")
    if text.split(".")[0].upper() in _RESERVED:
        text = f"_{text}"
    encoded = text.encode()[: _MAX_NAME_BYTES - len(extension.encode())]
    text = encoded.decode(errors="ignore").rstrip(" .")
    return f"{text or fallback}{extension}"


def unique_names(names: Iterable[str], *, extension: str = ".pdf") -> list[str]:
    """Safe names, each once whatever the case (macOS and Windows fold it): `a.pdf`, `a (2).pdf`."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate = safe_name(name, extension=extension)
        stem = candidate[: -len(extension)]
        number = 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{stem} ({number}){extension}"
        taken.add(candidate.casefold())
        unique.append(candidate)
    return unique


@dataclasses.dataclass(frozen=True)
class Member:
    name: str  # the path inside the archive: made of safe names only
    content: bytes | Iterable[bytes]

    def chunks(self) -> Iterable[bytes]:
        return (self.content,) if isinstance(self.content, bytes) else self.content


class _Sink(io.RawIOBase):
    """An unseekable file that hands out what was written so far: zipfile streams into it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _info(name: str, modified: datetime) -> zipfile.ZipInfo:
    moment = max(modified.astimezone(UTC) if modified.tzinfo else modified.replace(tzinfo=UTC), _EARLIEST)
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever machine writes it: the same bytes everywhere
    info.external_attr = 0o644 << 16
    return info


def stream_zip(
    members: Iterable[Member], *, modified: datetime, digests: dict[str, str] | None = None
) -> Iterator[bytes]:
    """The ZIP of `members` in their order, in chunks as it is written; `digests` collects each member's SHA-256."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            digest = hashlib.sha256()
            with archive.open(_info(member.name, modified), "w") as entry:
                for chunk in member.chunks():
                    digest.update(chunk)
                    entry.write(chunk)
                    if data := sink.drain():
                        yield data
            if digests is not None:
                digests[member.name] = digest.hexdigest()
            yield sink.drain()
    yield sink.drain()


def _gettext(dossier: DossierFacts) -> Any:
    return i18n.translations(i18n.normalize(dossier.locale) or "en").gettext


def report_name(name: str, locale: str) -> str:
    """The audit report's file name for people (before `safe_name`): "Audit report <dossier name>"."""
    return f"{i18n.translations(i18n.normalize(locale) or 'en').gettext(texts.REPORT_FILE)} {name}"


def download_zip(
    dossier: DossierFacts, documents: Sequence[SignedDocument], report: bytes, *, modified: datetime
) -> Iterator[bytes]:
    """What `GET …/download` answers: the signed PDFs and the audit report, named for people."""
    names = unique_names([*(document.name for document in documents), report_name(dossier.name, dossier.locale)])
    members = [Member(name, document.content) for name, document in zip(names, documents, strict=False)]
    members.append(Member(names[-1], report))
    return stream_zip(members, modified=modified)


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def audit_events_json(dossier: DossierFacts, events: Sequence[AuditRecord]) -> bytes:
    """The dossier's audit events, each with `content`: exactly what its `hash` covers."""
    return _json(
        {
            "dossierId": dossier.id,
            "hashAlgorithm": "SHA-256",
            "hashInput": (
                "content as JSON with keys sorted, separators ',' and ':' and no spaces, non-ASCII "
                "characters unescaped, encoded in UTF-8; content.prevHash is the hash of the event before it "
                "in the provider's audit log (seq - 1), which may belong to another record"
            ),
            "events": [
                {
                    "seq": event.seq,
                    "occurredAt": event.occurred_at.isoformat(),
                    "action": event.action,
                    "actor": event.actor,
                    "ip": event.ip,
                    "prevHash": event.prev_hash,
                    "hash": event.hash,
                    "content": dict(event.content),
                }
                for event in events
            ],
        }
    )


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _signature(report: SignatureReport) -> dict[str, object]:
    fields = {_camel(key): value for key, value in dataclasses.asdict(report).items()}
    fields["signingTime"] = report.signing_time.isoformat() if report.signing_time else None
    fields["ok"] = report.ok
    return fields


def validation_json(document: SignedDocument, trust: Trust, *, validated_at: datetime) -> bytes:
    """pyHanko's verdict on each signature of one document, with what was trusted and when."""
    return _json(
        {
            "document": document.name,
            "sha256": hashlib.sha256(document.content).hexdigest(),
            "validatedAt": validated_at.isoformat(),
            "policy": (
                "pyHanko AdES-LTA validation offline from the document's DSS, trusting only trustRoots; "
                "signatures as of the newest document timestamp, each document timestamp as of the next one "
                "(Trustroom ADR 0016); docmdpOk is pyHanko's difference analysis of later changes"
            ),
            "trustRoots": [
                {"subject": root.subject.rfc4514_string(), "sha256": root.fingerprint(hashes.SHA256()).hex()}
                for root in trust.roots
            ],
            "ok": bool(document.validation) and all(report.ok for report in document.validation),
            "signatures": [_signature(report) for report in document.validation],
        }
    )


def manifest(dossier: DossierFacts, digests: dict[str, str], *, made_at: datetime) -> bytes:
    """`SHA256SUMS` in the format `sha256sum -c` reads; its `#` lines say what it is and how to check."""
    gettext = _gettext(dossier)
    about = gettext(texts.MANIFEST_ABOUT) % {
        "name": " ".join(dossier.name.split()),  # one line, whatever the name holds
        "id": dossier.id,
        "time": i18n.format_datetime(made_at, dossier.locale, seconds=True),
    }
    lines = [f"# {about}", f"# {gettext(texts.MANIFEST_HOW)}"]
    lines += [f"{digest}  {name}" for name, digest in digests.items()]
    return ("\n".join(lines) + "\n").encode()


def evidence_zip(
    dossier: DossierFacts,
    documents: Sequence[SignedDocument],
    report: bytes,
    events: Sequence[AuditRecord],
    trust: Trust,
    *,
    made_at: datetime,
) -> Iterator[bytes]:
    """What `GET …/evidence` answers: everything an auditor needs offline, with a manifest of SHA-256 sums."""
    names = unique_names(document.name for document in documents)
    stems = [name.removesuffix(".pdf") for name in names]
    members = [
        Member(DOCUMENTS_FOLDER + name, document.content) for name, document in zip(names, documents, strict=True)
    ]
    members += [Member(REPORT_MEMBER, report), Member(EVENTS_MEMBER, audit_events_json(dossier, events))]
    members += [
        Member(f"{VALIDATION_FOLDER}{stem}.json", validation_json(document, trust, validated_at=made_at))
        for stem, document in zip(stems, documents, strict=True)
    ]
    digests: dict[str, str] = {}
    yield from stream_zip(_then_manifest(members, dossier, digests, made_at), modified=made_at, digests=digests)


def _then_manifest(
    members: list[Member], dossier: DossierFacts, digests: dict[str, str], made_at: datetime
) -> Iterator[Member]:
    # The manifest is made when every other member is written and its digest known.
    yield from members
    yield Member(MANIFEST_MEMBER, manifest(dossier, digests, made_at=made_at))
