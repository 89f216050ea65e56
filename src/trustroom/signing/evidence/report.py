"""The audit report: a dossier's record as a PDF in its language, sealed by the provider.

Laid out with reportlab's platypus (tables split across pages and repeat their header
row; every page says "page x of y"), in Nimbus Sans embedded as a subset (`fonts`), so
every name renders. PDF/A-like, not claimed PDF/A: every font embedded, the document's
language and info set, no encryption, scripts, transparency or external content; there
is no output intent or XMP packet, which PDF/A would also want.

Sealing (`seal_report`) certifies it with the tenant's seal allowing no changes, as a
B-LTA step (`pades.certify` with `long_term`): validators then see a certification whose
only later changes are the DSS and document timestamps that keep it verifiable.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps import TimeStamper
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ... import i18n
from .. import pades
from ..pki import SigningCredential
from . import texts
from .facts import DocumentFacts, InviteeFacts, ReportFacts, SignatureFacts, mask_email, mask_phone
from .fonts import Faces, report_faces

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
WIDTH = PAGE_WIDTH - 2 * MARGIN
DASH = "–"
GRID = colors.HexColor("#c8ccd2")
SHADE = colors.HexColor("#eef1f5")
INK = colors.HexColor("#1d2430")
MUTED = colors.HexColor("#5b6472")


class _Writer:
    """Texts and formats in one language and locale, and the paragraph styles in one font."""

    def __init__(self, locale: str, faces: Faces) -> None:
        self.locale = locale
        self.language = i18n.normalize(locale) or "en"
        self._gettext = i18n.translations(self.language).gettext
        self.faces = faces
        regular, bold = faces.regular, faces.bold
        self.body = ParagraphStyle(
            "body", fontName=regular, bulletFontName=regular, fontSize=9, leading=12, spaceAfter=4, textColor=INK
        )
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8, leading=10)
        # Hashes, user agents and ids have no spaces: let them break anywhere.
        self.code = ParagraphStyle("code", parent=self.small, fontSize=7, leading=9, wordWrap="CJK")
        # Hashes come split into lines that fit: the plain line breaker is several times faster.
        self.hash = ParagraphStyle("hash", parent=self.small, fontSize=7, leading=9)
        self.label = ParagraphStyle("label", parent=self.small, fontName=bold, textColor=MUTED)
        self.head = ParagraphStyle("head", parent=self.small, fontName=bold)
        self.title = ParagraphStyle("title", parent=self.body, fontName=bold, fontSize=20, leading=24, spaceAfter=4)
        self.subtitle = ParagraphStyle("subtitle", parent=self.body, fontSize=13, leading=17, spaceAfter=8)
        self.section = ParagraphStyle(
            "section", parent=self.body, fontName=bold, fontSize=12, leading=15, spaceBefore=12, spaceAfter=6
        )
        self.minor = ParagraphStyle("minor", parent=self.body, fontName=bold, spaceBefore=8, spaceAfter=3)

    def __call__(self, message: str, **params: object) -> str:
        text = self._gettext(message)
        return text % params if params else text

    def moment(self, value: datetime | None) -> str:
        return i18n.format_datetime(value, self.locale, seconds=True) if value is not None else DASH

    def label_of(self, table: dict[str, str], value: str) -> str:
        return self(table[value]) if value in table else value

    def p(self, text: str | None, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(text) if text else DASH, style or self.small)


def _table(w: _Writer, rows: list[list[Flowable]], widths: Sequence[float], *, header: bool) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        # Cells hold paragraphs, but a table sets its cell font anyway: Helvetica, unembedded, unless told.
        ("FONTNAME", (0, 0), (-1, -1), w.faces.regular),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), SHADE), ("LINEBELOW", (0, 0), (-1, 0), 0.75, MUTED)]
    table.setStyle(TableStyle(style))
    return table


def _pairs(w: _Writer, pairs: Sequence[tuple[str, Flowable | str | None]]) -> Table:
    rows: list[list[Flowable]] = [
        [w.p(w(label), w.label), value if isinstance(value, Flowable) else w.p(value)] for label, value in pairs
    ]
    return _table(w, rows, _columns(0.27, 0.73), header=False)


def _header_row(w: _Writer, labels: Sequence[str]) -> list[Flowable]:
    return [w.p(w(label), w.head) for label in labels]


def _dossier(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    dossier = facts.dossier
    return [
        Paragraph(escape(w(texts.DOSSIER)), w.section),
        _pairs(
            w,
            [
                (texts.DOSSIER_ID, w.p(dossier.id, w.code)),
                (texts.NAME, dossier.name),
                (texts.PROVIDER, dossier.provider),
                (texts.SIGNING_METHOD, w.label_of(texts.METHODS, dossier.method)),
                (texts.LOCALE, dossier.locale),
                (texts.OWNER, dossier.owner),
                (texts.STATE, w.label_of(texts.STATES, dossier.state)),
                (texts.CREATED, w.moment(dossier.created_at)),
                (texts.SENT, w.moment(dossier.sent_at)),
                (texts.COMPLETED, w.moment(dossier.completed_at)),
                (texts.GENERATED, w.moment(facts.generated_at)),
            ],
        ),
    ]


def _state_changes(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    changes = facts.dossier.state_changes
    if not changes:
        return []
    rows = [_header_row(w, (texts.TIME, texts.STATE, texts.REASON))]
    rows += [
        [w.p(w.moment(change.at)), w.p(w.label_of(texts.STATES, change.state)), w.p(change.reason)]
        for change in changes
    ]
    return [Paragraph(escape(w(texts.STATE_CHANGES)), w.section), _table(w, rows, _columns(0.3, 0.2, 0.5), header=True)]


def _columns(*fractions: float) -> tuple[float, ...]:
    """Column widths in points, from fractions of the text width."""
    return tuple(fraction * WIDTH for fraction in fractions)


def _hashes(w: _Writer, document: DocumentFacts) -> Paragraph:
    final = document.final_sha256 or DASH
    return Paragraph(
        f"<b>{escape(w(texts.ORIGINAL))}</b> {document.original_sha256}<br/><b>{escape(w(texts.FINAL))}</b> {final}",
        w.hash,
    )


def _documents(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    rows = [_header_row(w, (texts.DOCUMENT, texts.PAGES, "SHA-256"))]
    rows += [
        [w.p(document.name), w.p(i18n.format_number(document.pages, w.language)), _hashes(w, document)]
        for document in facts.documents
    ]
    return [Paragraph(escape(w(texts.DOCUMENTS)), w.section), _table(w, rows, _columns(0.3, 0.08, 0.62), header=True)]


def _signature_line(w: _Writer, signature: SignatureFacts) -> str:
    return w(
        texts.SEAL_CERTIFICATE if signature.sealed else texts.OWN_CERTIFICATE,
        document=signature.document,
        field=signature.field,
        serial=signature.certificate_serial,
        fingerprint=signature.certificate_fingerprint,
    )


def _lines(w: _Writer, lines: Sequence[str], style: ParagraphStyle | None = None) -> Paragraph:
    if not lines:
        return w.p(None)
    return Paragraph("<br/>".join(escape(line) for line in lines), style or w.small)


def _invitee(w: _Writer, number: int, invitee: InviteeFacts) -> Flowable:
    authentications = [
        f"{w(texts.AUTHENTICATIONS[a.method], address=_masked(a.method, a.address))} · {w.moment(a.at)}"
        if a.method in texts.AUTHENTICATIONS
        else f"{a.method} · {w.moment(a.at)}"
        for a in invitee.authentications
    ]
    pairs: list[tuple[str, Flowable | str | None]] = [
        (texts.ROLE, w.label_of(texts.ROLES, invitee.role)),
        (texts.POSITION, i18n.format_number(invitee.position, w.language)),
        (texts.STATE, w.label_of(texts.STATES, invitee.state)),
        (texts.EMAIL, mask_email(invitee.email) if invitee.email else None),
        (texts.MOBILE, mask_phone(invitee.phone) if invitee.phone else None),
        (texts.AUTHENTICATION, _lines(w, authentications)),
        (texts.IP_ADDRESS, w.p(invitee.ip, w.code)),
        (texts.USER_AGENT, w.p(invitee.user_agent, w.code)),
        (texts.VIEWED, w.moment(invitee.viewed_at)),
    ]
    if invitee.declined_at is not None:
        pairs += [(texts.DECLINED, w.moment(invitee.declined_at)), (texts.REASON, invitee.decline_reason)]
    else:
        pairs.append((texts.APPROVED if invitee.role == "approver" else texts.SIGNED, w.moment(invitee.signed_at)))
    if invitee.signatures:
        pairs.append((texts.SIGNATURES, _lines(w, [_signature_line(w, s) for s in invitee.signatures], w.code)))
    heading = Paragraph(f"{number}. {escape(invitee.name)}", w.minor)
    return KeepTogether([heading, _pairs(w, pairs)])


def _masked(method: str, address: str) -> str:
    return mask_phone(address) if method == "otp_sms" else mask_email(address)


def _invitees(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    rows = [_header_row(w, ("#", texts.NAME, texts.ROLE, texts.POSITION, texts.STATE, texts.FINISHED))]
    rows += [
        [
            w.p(str(number)),
            w.p(invitee.name),
            w.p(w.label_of(texts.ROLES, invitee.role)),
            w.p(i18n.format_number(invitee.position, w.language)),
            w.p(w.label_of(texts.STATES, invitee.state)),
            w.p(w.moment(invitee.signed_at)),
        ]
        for number, invitee in enumerate(facts.invitees, start=1)
    ]
    flowables: list[Flowable] = [
        Paragraph(escape(w(texts.INVITEES)), w.section),
        _table(w, rows, _columns(0.06, 0.3, 0.13, 0.1, 0.13, 0.28), header=True),
    ]
    flowables += [_invitee(w, number, invitee) for number, invitee in enumerate(facts.invitees, start=1)]
    return flowables


def _chain(hash_hex: str) -> str:
    return f"{hash_hex[:32]}<br/>{hash_hex[32:]}" if len(hash_hex) > 32 else hash_hex


def _events(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    title = Paragraph(escape(w(texts.AUDIT_EVENTS)), w.section)
    if not facts.events:
        return [title, w.p(w(texts.NO_EVENTS), w.body)]
    rows = [_header_row(w, (texts.POSITION, texts.TIME, texts.ACTION, texts.ACTOR, texts.CHAIN))]
    rows += [
        [
            w.p(str(event.seq)),
            w.p(w.moment(event.occurred_at)),
            w.p(event.action, w.code),
            _lines(w, [event.actor, event.ip] if event.ip else [event.actor]),
            Paragraph(_chain(escape(event.hash)), w.hash),
        ]
        for event in facts.events
    ]
    return [title, _table(w, rows, _columns(0.1, 0.2, 0.22, 0.2, 0.28), header=True)]


def _verification(w: _Writer, facts: ReportFacts) -> list[Flowable]:
    provider = facts.dossier.provider
    return [
        Paragraph(escape(w(texts.HOW_TO_VERIFY)), w.section),
        *(
            Paragraph(escape(w(text, provider=provider)), w.body)
            for text in (texts.VERIFY_SEAL, texts.VERIFY_DOCUMENTS, texts.VERIFY_CHAIN)
        ),
    ]


def _numbered_canvas(w: _Writer, facts: ReportFacts) -> type[Canvas]:
    """A canvas that draws each page's footer once the page count is known ("page x of y")."""
    footer = w(texts.FOOTER, id=facts.dossier.id, time=w.moment(facts.generated_at))
    heading = f"{facts.dossier.provider} · {w(texts.TITLE)}"

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]  # (reportlab's own recipe for "page x of y")

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._decorate(number, total)
                super().showPage()
            super().save()

        def _decorate(self, number: int, total: int) -> None:
            self.saveState()
            self.setFillColor(MUTED)
            self.setStrokeColor(GRID)
            self.setFont(w.faces.regular, 7.5)
            self.drawString(MARGIN, PAGE_HEIGHT - 12 * mm, heading)
            self.line(MARGIN, PAGE_HEIGHT - 13.5 * mm, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 13.5 * mm)
            self.line(MARGIN, 13.5 * mm, PAGE_WIDTH - MARGIN, 13.5 * mm)
            self.drawString(MARGIN, 10 * mm, footer)
            self.drawRightString(PAGE_WIDTH - MARGIN, 10 * mm, w(texts.PAGE_OF, page=number, pages=total))
            self.restoreState()

    return NumberedCanvas


def audit_report(facts: ReportFacts, *, faces: Faces | None = None) -> bytes:
    """The audit report of a dossier as PDF bytes, in the dossier's language and locale (not yet sealed)."""
    chosen = faces or report_faces()
    w = _Writer(facts.dossier.locale, chosen)
    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{w(texts.TITLE)}: {facts.dossier.name}",
        author=facts.dossier.provider,
        subject=facts.dossier.id,
        creator="Trustroom",
        lang=w.language,
        initialFontName=chosen.regular,  # or reportlab adds an unembedded Helvetica
        invariant=True,  # no random document id: the same facts give the same bytes
    )
    frame = Frame(MARGIN, MARGIN, WIDTH, PAGE_HEIGHT - 2 * MARGIN, id="body")
    document.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    story: list[Flowable] = [
        Paragraph(escape(w(texts.TITLE)), w.title),
        Paragraph(escape(facts.dossier.name), w.subtitle),
        Paragraph(escape(w(texts.INTRO, name=facts.dossier.name, provider=facts.dossier.provider)), w.body),
    ]
    sections: Sequence[Callable[[_Writer, ReportFacts], list[Flowable]]] = (
        _dossier,
        _state_changes,
        _documents,
        _invitees,
        _events,
        _verification,
    )
    for section in sections:
        story += section(w, facts)
    story.append(Spacer(1, 6))
    document.build(story, canvasmaker=_numbered_canvas(w, facts))
    return buffer.getvalue()


async def seal_report(
    pdf: bytes,
    seal: SigningCredential,
    timestamper: TimeStamper,
    *,
    long_term: pades.LongTerm,
    dossier_id: str,
    locale: str,
) -> bytes:
    """The provider seals the report: a certification allowing no changes, as a B-LTA step.

    The DSS and document timestamps that later renewals add stay allowed (they are not
    changes to the content); anything else breaks the certification.
    """
    reason = i18n.translations(i18n.normalize(locale) or "en").gettext(texts.SEAL_REASON) % {"id": dossier_id}
    return await pades.certify(
        pdf, seal, timestamper, reason=reason, long_term=long_term, permissions=MDPPerm.NO_CHANGES
    )
