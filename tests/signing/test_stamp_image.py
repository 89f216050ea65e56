"""The drawn signature's checks (`stamp_image.check`): a real, intact PNG whose pixels decode,
small in bytes and in pixels, whatever its compression promises."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from trustroom.signing import stamp_image

from .support import drawn_signature

pytestmark = pytest.mark.database_free


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb(width: int, height: int) -> bytes:
    """A tiny PNG declaring a huge grey picture: its IDAT inflates to width x height bytes."""
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # a few rows suffice for the header check
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return stamp_image.PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def test_a_drawn_signature_passes_and_is_cropped_to_its_strokes() -> None:
    data = drawn_signature((1200, 400))
    stamp_image.check(data)
    picture = stamp_image.background(data)
    assert picture.image.width <= stamp_image.STAMP_SIDE and picture.image.height < 400


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 100,  # not a PNG
        drawn_signature()[:-30],  # truncated: no IEND, pixels cut short
        drawn_signature()[:40] + b"\xff" * 20 + drawn_signature()[60:],  # a damaged chunk
        bomb(5000, 100),  # a side too long
        bomb(3000, 3000),  # too many pixels (9 M) for a few hundred bytes
        stamp_image.PNG_MAGIC + b"\x00" * (stamp_image.MAX_BYTES + 1),  # too many bytes
    ],
    ids=["gif", "truncated", "damaged", "wide", "bomb", "large"],
)
def test_what_is_refused(data: bytes) -> None:
    with pytest.raises(stamp_image.NotASignatureImage):
        stamp_image.check(data)


def test_an_opaque_picture_is_cropped_to_its_ink() -> None:
    image = Image.new("RGB", (800, 300), "white")
    image.paste((0, 0, 0), (100, 100, 300, 140))
    out = io.BytesIO()
    image.save(out, format="PNG")
    picture = stamp_image.background(out.getvalue())
    assert (picture.image.width, picture.image.height) == (200, 40)
