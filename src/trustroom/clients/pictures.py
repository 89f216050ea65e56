"""Profile pictures: only real PNG or JPEG images, decoded and encoded again.

Decoding proves the bytes are the image they claim to be (the first bytes alone prove
nothing); encoding again drops what travels inside image files and should not be kept
(EXIF with the place a photo was taken, comments, embedded profiles), turns the picture
upright and scales it down to at most `MAX_SIDE` pixels a side. Pure: no I/O.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from .errors import PictureInvalid

PNG = "image/png"
JPEG = "image/jpeg"
FORMATS = {"PNG": PNG, "JPEG": JPEG}
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"))
MAX_SIDE = 1024
# Checked from the header, before any pixel is decoded: a small file can claim to be huge.
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Picture:
    content: bytes
    content_type: str


def normalized(data: bytes) -> Picture:
    """The picture as it is stored, or PictureInvalid when it is not a sound PNG or JPEG."""
    claimed = next((name for signature, name in SIGNATURES if data.startswith(signature)), None)
    if claimed is None:
        raise PictureInvalid()
    try:
        with Image.open(io.BytesIO(data), formats=[claimed]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PictureInvalid()
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            if claimed == "PNG":
                upright.save(out, "PNG", optimize=True)
            else:
                upright.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError, SyntaxError) as exc:
        raise PictureInvalid() from exc
    return Picture(out.getvalue(), FORMATS[claimed])


@cache
def default_picture() -> Picture:
    """A neutral silhouette, for contacts without a picture of their own."""
    size = 256
    image = Image.new("RGB", (size, size), (226, 230, 236))
    draw = ImageDraw.Draw(image)
    figure = (160, 168, 180)
    draw.ellipse((88, 48, 168, 128), fill=figure)
    draw.ellipse((40, 144, 216, 320), fill=figure)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return Picture(out.getvalue(), PNG)
