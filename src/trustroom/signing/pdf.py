"""PDF input checks, and the form fields a dossier places and signers fill.

Why here, before any signing: a file that is not a PDF, is encrypted, or does not parse
must be refused at upload with a clear error naming it (issue #14), not fail somewhere
inside pyHanko later. And the fields a signer fills (text, date, initials, checkbox) must
be form fields created before the certification signature: filling a form field is what
DocMDP "fill forms" allows, drawing on a page afterwards is not.

Fields are placed in PDF user space: points (1/72 inch) from the lower-left corner of the
page's media box; `page` counts from 1. Filled values are static (read-only field, fixed
appearance) and land in the same revision as the signature that follows (lab "Fill-in").
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import cast

from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.form_tools import populate_static_text_field
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields

from .errors import BrokenPdf, EncryptedPdf, FieldAlreadyFilled, FieldInvalid, FieldNotFound, NotAPdf
from .fieldkinds import FieldKind as FieldKind  # the core's callers name it pdf.FieldKind

_HEADER_WINDOW = 1024  # ISO 32000 lets the header sit a little way in; readers accept 1 KiB

# PDF's standard Courier covers Latin-1 only: "Łukasz" would come out as "•ukasz". Stamps
# and filled fields embed (a subset of) a Unicode font instead: Nimbus Sans from Debian's
# fonts-urw-base35 when no other is given (Latin, Greek, Cyrillic); Courier only when
# neither is there. The font must have 1000 units per em: pyHanko 0.38 writes glyph
# widths in font units, so a 2048-unit TrueType font (DejaVu, Liberation) comes out with
# every letter twice as far apart.
FONT_DIRECTORY = Path("/usr/share/fonts/opentype/urw-base35")
DEFAULT_FONT = FONT_DIRECTORY / "NimbusSans-Regular.otf"
DEFAULT_BOLD_FONT = FONT_DIRECTORY / "NimbusSans-Bold.otf"  # the audit report's headings


def default_font(path: Path | None = None) -> Path | None:
    """`path` (else `DEFAULT_FONT`) if it is installed; None means: fall back to a standard PDF font."""
    chosen = path or DEFAULT_FONT
    return chosen if chosen.is_file() else None


@cache
def _units_per_em(path: Path) -> int:
    return int(TTFont(str(path), lazy=True)["head"].unitsPerEm)


def text_style(font: Path | None = None, *, size: int = 10) -> TextBoxStyle:
    """The text style of stamps and filled fields: `font` (an OTF/TTF file), else `DEFAULT_FONT`."""
    path = font or default_font()
    if path is None:
        return TextBoxStyle(font_size=size)
    if _units_per_em(path) != 1000:
        raise ValueError(f"{path}: pyHanko lays out only fonts with 1000 units per em correctly")
    return TextBoxStyle(font=GlyphAccumulatorFactory(str(path), font_size=size), font_size=size)


def _reader(data: bytes, file: str) -> PdfFileReader:
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise NotAPdf("no %PDF- header", file=file)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypt_dict is not None:
            raise EncryptedPdf("it has an /Encrypt dictionary", file=file)
        pages = reader.root["/Pages"]
        count = int(pages["/Count"])
        if count < 1:
            raise BrokenPdf("it has no pages", file=file)
        for index in range(count):  # walks the whole page tree: a broken one fails here
            reader.find_page_for_modification(index)
    except (EncryptedPdf, BrokenPdf):
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise BrokenPdf(str(error) or type(error).__name__, file=file) from error
    return reader


def check_pdf(data: bytes, *, file: str = "document") -> int:
    """Refuse what cannot be signed (NotAPdf, EncryptedPdf, BrokenPdf); the page count otherwise."""
    return int(_reader(data, file).root["/Pages"]["/Count"])


def open_reader(data: bytes, *, file: str = "document") -> PdfFileReader:
    return _reader(data, file)


def open_writer(data: bytes, *, file: str = "document") -> IncrementalPdfFileWriter:
    """An incremental writer over a checked PDF: what every signing step writes with."""
    _reader(data, file)
    return IncrementalPdfFileWriter(io.BytesIO(data), strict=True)


@dataclass(frozen=True)
class Placement:
    """A field to create: `page` from 1, the box in PDF points from the page's lower-left corner."""

    name: str
    kind: FieldKind
    page: int
    x: float
    y: float
    width: float
    height: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    @property
    def pyhanko_box(self) -> tuple[int, int, int, int]:
        # pyHanko annotates the box as ints but writes any number it is given as a real.
        return cast("tuple[int, int, int, int]", self.box)


def _iter_fields(writer: IncrementalPdfFileWriter | PdfFileReader) -> Iterator[tuple[str, generic.DictionaryObject]]:
    try:
        roots = writer.root["/AcroForm"]["/Fields"]
    except KeyError:
        return

    def walk(refs: generic.ArrayObject, prefix: str) -> Iterator[tuple[str, generic.DictionaryObject]]:
        for ref in refs:
            field = ref.get_object()
            partial = field.get("/T")
            name = f"{prefix}.{partial}" if prefix and partial is not None else str(partial or prefix)
            kids = field.get("/Kids")
            if kids is not None and any("/T" in kid.get_object() for kid in kids):
                yield from walk(kids, name)
            else:
                yield name, field

    yield from walk(roots, "")


def field_names(data: bytes) -> dict[str, str]:
    """Every terminal form field of a PDF: name → type (`/Sig`, `/Tx`, `/Btn`, …)."""
    return {name: str(_field_type(field)) for name, field in _iter_fields(open_reader(data))}


def _field_type(field: generic.DictionaryObject) -> object:
    while "/FT" not in field and "/Parent" in field:
        field = field["/Parent"]
    return field.get("/FT")


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _ensure_form(writer: IncrementalPdfFileWriter) -> generic.ArrayObject:
    root = writer.root
    if "/AcroForm" not in root:
        root[pdf_name("/AcroForm")] = writer.add_object(
            generic.DictionaryObject({pdf_name("/Fields"): generic.ArrayObject()})
        )
        writer.update_root()
    form = root["/AcroForm"]
    if "/Fields" not in form:
        form[pdf_name("/Fields")] = generic.ArrayObject()
    # A default font for text fields that viewers may regenerate (we always give appearances).
    resources = form.setdefault(pdf_name("/DR"), generic.DictionaryObject())
    fonts = resources.setdefault(pdf_name("/Font"), generic.DictionaryObject())
    if "/Helv" not in fonts:
        fonts[pdf_name("/Helv")] = writer.add_object(
            generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Font"),
                    pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                    pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
                }
            )
        )
    writer.update_container(form)
    fields_array: generic.ArrayObject = form["/Fields"]
    return fields_array


def _appearance(
    writer: IncrementalPdfFileWriter, width: float, height: float, commands: bytes
) -> generic.IndirectObject:
    stream = RawContent(commands, box=BoxConstraints(width=width, height=height)).as_form_xobject()
    reference: generic.IndirectObject = writer.add_object(stream)
    return reference


def _frame(width: float, height: float) -> bytes:
    return b"q 0.6 0.6 0.6 RG 0.5 w 0.25 0.25 %g %g re S Q" % (width - 0.5, height - 0.5)


def _check_mark(width: float, height: float) -> bytes:
    return _frame(width, height) + b" q 1.5 w 0 0 0 RG %g %g m %g %g l %g %g l S Q" % (
        width * 0.2,
        height * 0.5,
        width * 0.42,
        height * 0.25,
        width * 0.8,
        height * 0.8,
    )


def _widget_field(
    writer: IncrementalPdfFileWriter, placement: Placement, page_ref: generic.IndirectObject
) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/T"): pdf_string(placement.name),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in placement.box),
            pdf_name("/F"): generic.NumberObject(4),  # print
            pdf_name("/P"): page_ref,
        }
    )


def place_fields(data: bytes, placements: Sequence[Placement], *, file: str = "document") -> bytes:
    """Create the fields (one incremental update); do this before `pades.certify`."""
    writer = open_writer(data, file=file)
    existing = {name for name, _ in _iter_fields(writer)}
    pages = _page_count(writer)
    for placement in placements:
        if not placement.name or "." in placement.name:
            raise FieldInvalid(field=placement.name, reason="a field name is non-empty and has no dots")
        if placement.name in existing:
            raise FieldInvalid(field=placement.name, reason="the document already has a field of that name")
        if not 1 <= placement.page <= pages:
            raise FieldInvalid(field=placement.name, reason=f"page {placement.page} is not in 1…{pages}")
        if placement.width <= 0 or placement.height <= 0:
            raise FieldInvalid(field=placement.name, reason="width and height must be positive")
        existing.add(placement.name)
        if placement.kind is FieldKind.SIGNATURE:
            fields.append_signature_field(
                writer,
                fields.SigFieldSpec(placement.name, on_page=placement.page - 1, box=placement.pyhanko_box),
            )
            continue
        form_fields = _ensure_form(writer)
        page_ref = writer.find_page_for_modification(placement.page - 1)[0]
        field = _widget_field(writer, placement, page_ref)
        if placement.kind is FieldKind.CHECKBOX:
            field[pdf_name("/FT")] = pdf_name("/Btn")
            field[pdf_name("/V")] = pdf_name("/Off")
            field[pdf_name("/AS")] = pdf_name("/Off")
            field[pdf_name("/AP")] = generic.DictionaryObject(
                {
                    pdf_name("/N"): generic.DictionaryObject(
                        {
                            pdf_name("/Yes"): _appearance(
                                writer,
                                placement.width,
                                placement.height,
                                _check_mark(placement.width, placement.height),
                            ),
                            pdf_name("/Off"): _appearance(
                                writer, placement.width, placement.height, _frame(placement.width, placement.height)
                            ),
                        }
                    )
                }
            )
        else:
            field[pdf_name("/FT")] = pdf_name("/Tx")
            field[pdf_name("/DA")] = pdf_string("/Helv 10 Tf 0 g")
            field[pdf_name("/AP")] = generic.DictionaryObject(
                {
                    pdf_name("/N"): _appearance(
                        writer, placement.width, placement.height, _frame(placement.width, placement.height)
                    )
                }
            )
        reference = writer.add_object(field)
        form_fields.append(reference)
        writer.register_annotation(page_ref, reference)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


FieldValue = str | bool | date


def fill_fields(
    writer: IncrementalPdfFileWriter, values: Mapping[str, FieldValue], *, font: Path | None = None, font_size: int = 10
) -> None:
    """Fill text, date and initials fields with static text, tick checkboxes; all read-only after.

    Works on the writer of the signature that follows, so the fill and the signature form
    one revision. A date is written as ISO 8601 (YYYY-MM-DD); pass a string to format it
    for a locale.
    """
    by_name = dict(_iter_fields(writer))
    for name, value in values.items():
        field = by_name.get(name)
        if field is None:
            raise FieldNotFound(field=name)
        kind = _field_type(field)
        if kind == "/Btn":
            if not isinstance(value, bool):
                raise FieldInvalid(field=name, reason="a checkbox takes true or false")
            _tick(writer, field, name, value)
        elif kind == "/Tx":
            if isinstance(value, bool):
                raise FieldInvalid(field=name, reason="a text field takes text or a date")
            if field.get("/V") not in (None, ""):
                raise FieldAlreadyFilled(field=name)
            text = value.isoformat() if isinstance(value, date) else value
            try:
                populate_static_text_field(writer, name, text_style(font, size=font_size), text)
            except (PdfError, UnicodeEncodeError, ValueError) as error:
                raise FieldInvalid(field=name, reason=str(error)) from error
        else:
            raise FieldInvalid(field=name, reason="only text, date, initials and checkbox fields are filled")


def _tick(writer: IncrementalPdfFileWriter, field: generic.DictionaryObject, name: str, value: bool) -> None:
    flags = int(field.get("/Ff", 0))
    if flags & 1:
        raise FieldAlreadyFilled(field=name)
    states = [key for key in field["/AP"]["/N"] if key != "/Off"] if "/AP" in field else []
    if value and not states:
        raise FieldInvalid(field=name, reason="the checkbox has no 'on' appearance")
    state = pdf_name(states[0]) if value else pdf_name("/Off")
    field[pdf_name("/V")] = state
    field[pdf_name("/AS")] = state
    field[pdf_name("/Ff")] = generic.NumberObject(flags | 1)
    writer.update_container(field)


@dataclass(frozen=True)
class SignatureField:
    """A `/Sig` field of a document: where its widget sits (`page` from 1, the box in PDF
    points; no box for an invisible one), and whether it holds a signature already."""

    name: str
    page: int | None
    box: tuple[float, float, float, float] | None
    signed: bool


def _ref_id(container: generic.PdfObject, key: str | int) -> int | None:
    raw = container.raw_get(key)  # type: ignore[attr-defined]
    return raw.idnum if isinstance(raw, generic.IndirectObject) else None


def _widget(field_ref: generic.IndirectObject) -> tuple[generic.DictionaryObject, int | None] | None:
    """The field's (first) widget annotation with its object number."""
    field = field_ref.get_object()
    if "/Rect" in field:
        return field, field_ref.idnum
    kids = field.get("/Kids")
    for index in range(len(kids) if kids is not None else 0):
        kid = kids[index]
        if "/Rect" in kid:
            return kid, _ref_id(kids, index)
    return None


def signature_fields(data: bytes, *, file: str = "document") -> list[SignatureField]:
    """The signature fields of a PDF, in the order of its form. The empty ones are those a
    dossier can assign to signers by name (signing existing fields only)."""
    reader = open_reader(data, file=file)
    try:
        return _signature_fields(reader)
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise BrokenPdf(str(error) or type(error).__name__, file=file) from error


def _signature_fields(reader: PdfFileReader) -> list[SignatureField]:
    page_of_ref: dict[int, int] = {}
    page_of_annotation: dict[int, int] = {}
    for index in range(int(reader.root["/Pages"]["/Count"])):
        page_ref = reader.find_page_for_modification(index)[0]
        page_of_ref[page_ref.idnum] = index + 1
        annotations = page_ref.get_object().get("/Annots")
        for position in range(len(annotations) if annotations is not None else 0):
            annotation_id = _ref_id(annotations, position)
            if annotation_id is not None:
                page_of_annotation[annotation_id] = index + 1
    found = []
    for name, value, field_ref in fields.enumerate_sig_fields(reader):
        signed = value is not None
        widget = _widget(field_ref)
        if widget is None:
            found.append(SignatureField(name, None, None, signed))
            continue
        widget_dict, number = widget
        page_ref = _ref_id(widget_dict, "/P") if "/P" in widget_dict else None
        page = page_of_ref.get(page_ref) if page_ref is not None else None
        if page is None and number is not None:
            page = page_of_annotation.get(number)
        x0, y0, x1, y1 = (float(v) for v in widget_dict["/Rect"])
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        # A zero-size widget is an invisible signature: it has no place a signer could see.
        found.append(SignatureField(name, page, box if box[2] > box[0] and box[3] > box[1] else None, signed))
    return found
