"""Pages of a PDF as images, and their sizes in points: what the advisor places fields on
and the signer reads.

PDFium (pypdfium2: wheels for every platform, nothing to install beside them) renders the
page as a viewer shows it: its visible box (CropBox, else MediaBox), turned by its
`/Rotate`. Fields, though, are placed in PDF user space, unrotated, in points from the
lower-left corner; `PageBox` gives what a client needs to map a click on the image back:
the visible box in user space and the turn.

PDFium is not thread-safe, not even across documents: two calls at once from two threads
can crash the process. Every use goes through `_PDFIUM`, and each function closes what it
opened before letting go (a document left to the garbage collector would be closed by
whichever thread collects it, outside the lock).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import pypdfium2 as pdfium

from .errors import BrokenPdf

_PDFIUM = threading.Lock()

MIN_WIDTH = 100
MAX_WIDTH = 2400


@dataclass(frozen=True)
class PageBox:
    """One page: its visible box in user space (points; `left`, `bottom` are usually 0) and
    how far it is turned clockwise when shown (0, 90, 180 or 270)."""

    width: float
    height: float
    left: float
    bottom: float
    rotation: int

    @property
    def shown_width(self) -> float:
        """The width of the page as rendered (turned)."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def shown_height(self) -> float:
        return self.width if self.rotation in (90, 270) else self.height

    def holds(self, x: float, y: float, width: float, height: float) -> bool:
        """Whether a box in user space lies on the visible page."""
        return (
            x >= self.left
            and y >= self.bottom
            and x + width <= self.left + self.width
            and y + height <= self.bottom + self.height
        )

    def as_json(self) -> dict[str, float | int]:
        return {
            "width": self.width,
            "height": self.height,
            "left": self.left,
            "bottom": self.bottom,
            "rotation": self.rotation,
        }

    @classmethod
    def from_json(cls, value: dict[str, float | int]) -> PageBox:
        return cls(
            float(value["width"]),
            float(value["height"]),
            float(value["left"]),
            float(value["bottom"]),
            int(value["rotation"]),
        )


def _open(data: bytes, file: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise BrokenPdf(f"it cannot be rendered: {error}", file=file) from error


def page_boxes(data: bytes, *, file: str = "document") -> list[PageBox]:
    """Every page's box and turn; BrokenPdf when PDFium cannot open the file (a document
    that cannot be shown cannot be signed). Blocking: call it in a worker thread."""
    with _PDFIUM:
        document = _open(data, file)
        try:
            boxes = []
            for index in range(len(document)):
                page = document[index]
                try:
                    left, bottom, right, top = page.get_cropbox()
                    rotation = page.get_rotation() % 360
                finally:
                    page.close()
                boxes.append(PageBox(round(right - left, 2), round(top - bottom, 2), left, bottom, rotation))
            return boxes
        finally:
            document.close()


def render_png(data: bytes, page_number: int, width: int, *, file: str = "document") -> bytes:
    """Page `page_number` (from 1) as a PNG `width` pixels wide, its height in proportion.
    Blocking: call it in a worker thread."""
    with _PDFIUM:
        document = _open(data, file)
        try:
            document.init_forms()  # so filled form fields show
            page = document[page_number - 1]
            try:
                shown_width, _ = page.get_size()
                bitmap = page.render(scale=width / shown_width, may_draw_forms=True)
                try:
                    # A copy: PIL may share the bitmap's buffer, which closing frees.
                    image = bitmap.to_pil().copy()
                finally:
                    bitmap.close()
            finally:
                page.close()
        finally:
            document.close()
    # Pillow's encoder needs no lock: the image holds pixels of its own.
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


class ImageCache:
    """Recently rendered page images in memory, least recently used out first, up to
    `max_bytes` together. Keys name the PDF's content (its SHA-256), so a document that
    changes (a signature added) is never answered from an older image."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._images: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            image = self._images.get(key)
            if image is not None:
                self._images.move_to_end(key)
            return image

    def put(self, key: Hashable, image: bytes) -> None:
        if len(image) > self.max_bytes:
            return
        with self._lock:
            previous = self._images.pop(key, None)
            if previous is not None:
                self._size -= len(previous)
            self._images[key] = image
            self._size += len(image)
            while self._size > self.max_bytes:
                _, dropped = self._images.popitem(last=False)
                self._size -= len(dropped)
