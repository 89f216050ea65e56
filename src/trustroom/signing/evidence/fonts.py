"""The audit report's font: the signing stamps' Nimbus Sans, made readable for reportlab.

Why a conversion: reportlab embeds TrueType (quadratic `glyf` outlines) only, and Debian's
fonts-urw-base35 ships Nimbus Sans as OpenType/CFF (cubic outlines). Converting the
outlines once per process (fontTools' cu2qu, ~0.7 s a face) keeps one font, one lookup
(`pdf.default_font`) and one fallback for stamps and reports: names such as "Łukasz Żółć"
render in both, and without fonts-urw-base35 both fall back to a standard PDF font
(Latin-1 only, like the stamps' Courier).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTrueType

from ..pdf import DEFAULT_BOLD_FONT, default_font

_MAX_ERROR = 1.0  # font units: the largest distance of a quadratic from its cubic (invisible at 1000/em)
_PREFIX = "Trustroom-"
_STANDARD = ("Helvetica", "Helvetica-Bold")


@dataclass(frozen=True)
class Faces:
    regular: str
    bold: str
    embedded: bool  # False: a standard PDF font, Latin-1 only


def _quadratic_glyphs(font: TTFont, order: list[str]) -> dict[str, object]:
    glyph_set = font.getGlyphSet()
    glyphs: dict[str, object] = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        # TrueType contours run the other way round from PostScript ones.
        glyph_set[name].draw(Cu2QuPen(pen, _MAX_ERROR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    return glyphs


@cache
def truetype(path: Path) -> bytes:
    """The OpenType/CFF font at `path` with TrueType outlines (a TrueType font comes back as it is)."""
    font = TTFont(str(path))
    if "CFF " not in font:
        return path.read_bytes()
    order = font.getGlyphOrder()
    glyphs = _quadratic_glyphs(font, order)
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf.compile(font)
    metrics = font["hmtx"]
    for name in order:  # a TrueType left side bearing is the outline's xMin
        metrics[name] = (metrics[name][0], getattr(glyf[name], "xMin", 0))
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for attribute in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attribute, 0)  # no hinting; the other maxima are computed on save
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _register(name: str, path: Path) -> None:
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(ReportlabTrueType(name, io.BytesIO(truetype(path))))


@cache
def report_faces(regular: Path | None = None, bold: Path | None = None) -> Faces:
    """Register the report's faces with reportlab (once per process) and name them.

    Nimbus Sans Regular and Bold by default; the bold face falls back to the regular one,
    and without a regular face both fall back to Helvetica.
    """
    regular_path = default_font(regular)
    if regular_path is None:
        return Faces(*_STANDARD, embedded=False)
    bold_path = default_font(bold or DEFAULT_BOLD_FONT) or regular_path
    # Named after the files: one registration per face and process, whichever report asks.
    regular_name, bold_name = f"{_PREFIX}{regular_path.stem}", f"{_PREFIX}{bold_path.stem}"
    _register(regular_name, regular_path)
    _register(bold_name, bold_path)
    pdfmetrics.registerFontFamily(
        regular_name, normal=regular_name, bold=bold_name, italic=regular_name, boldItalic=bold_name
    )
    return Faces(regular_name, bold_name, embedded=True)
