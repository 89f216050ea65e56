"""A signer's drawn signature as a picture for their stamp (issue #14, item 4).

The signer's side sends what the canvas drew as a PNG. `check` is what a submission must
pass: a real PNG (magic, chunk checksums, pixels that decode), small in bytes and in
pixels, so decoding it can never take much memory however it was compressed. `background`
turns a checked PNG into the image pyHanko draws behind the stamp's text: cropped to the
strokes and scaled down, so a wide canvas with a small signature still fills the field.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils.images import PdfImage

MAX_BYTES = 256 * 1024
MAX_SIDE = 4000
MAX_PIXELS = 4000 * 1000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Pixels kept in the PDF at most per side: plenty for a field a few centimetres wide.
STAMP_SIDE = 600
# Drawn behind the stamp's text, light enough for the name and date to stay readable.
STAMP_OPACITY = 0.55

_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class NotASignatureImage(ValueError):
    """The bytes are no PNG a stamp can show (or too big to be one)."""


def _opened(data: bytes) -> Image.Image:
    """The image, header-checked only: size limits hold before any pixel is decompressed."""
    if len(data) > MAX_BYTES or not data.startswith(PNG_MAGIC):
        raise NotASignatureImage("not a PNG of at most 256 KiB")
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except _DECODE_ERRORS as error:
        raise NotASignatureImage("not a readable PNG") from error
    # Our limit is far below Pillow's MAX_IMAGE_PIXELS (whose bomb check only warns below twice it).
    if image.width > MAX_SIDE or image.height > MAX_SIDE or image.width * image.height > MAX_PIXELS:
        image.close()
        raise NotASignatureImage(f"larger than {MAX_SIDE} pixels a side or {MAX_PIXELS} pixels")
    return image


def check(data: bytes) -> None:
    """Raise `NotASignatureImage` unless `data` is a small, intact PNG whose pixels decode."""
    with _opened(data) as image:
        try:
            image.verify()  # chunk checksums; leaves the image unusable, so decode a second one
        except _DECODE_ERRORS as error:
            raise NotASignatureImage("a damaged PNG") from error
    with _opened(data) as image:
        try:
            image.load()
        except _DECODE_ERRORS as error:
            raise NotASignatureImage("a PNG whose pixels do not decode") from error


def _cropped(image: Image.Image) -> Image.Image:
    """The strokes only: transparent (or white) margins cut away, then scaled to `STAMP_SIDE`."""
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    lowest_alpha, _highest = alpha.getextrema()
    box = alpha.getbbox() if isinstance(lowest_alpha, int) and lowest_alpha < 255 else None
    if box is None:  # opaque picture: crop what is not (near) white
        ink = rgba.convert("L").point(lambda value: 255 if value < 235 else 0)
        box = ink.getbbox()
    if box is not None:
        rgba = rgba.crop(box)
    rgba.thumbnail((STAMP_SIDE, STAMP_SIDE))
    return rgba


def background(data: bytes) -> PdfImage:
    """The checked PNG as pyHanko content for `TextStampStyle.background`."""
    check(data)
    with _opened(data) as image:
        return PdfImage(_cropped(image))
