"""Names of folders and documents as people type them, made safe to store and to offer
back as a download name: no paths, no control characters, no names that mean something
to a file system."""

from __future__ import annotations

import unicodedata

from ...errors import N_
from ..errors import NameInvalid

MAX_NAME_BYTES = 255
# Characters Windows refuses in names, and both slashes: a name is never a path.
_REPLACED = set('<>:"/\\|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
EMPTY = N_("it is empty")
DOTS = N_("it consists of dots only")


def clean(raw: str, *, file_name: bool = False) -> str:
    """The name to keep for `raw`; NameInvalid when nothing usable is left."""
    name = unicodedata.normalize("NFC", raw)
    if file_name:
        # A browser may send a whole client path (C:\Users\…\file.pdf): keep the last part.
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if ch in _REPLACED else ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")
    )
    name = " ".join(name.split()).strip(" .") if name.strip(" .") else name.strip()
    if not name:
        raise NameInvalid(reason=EMPTY)
    if set(name) == {"."}:
        raise NameInvalid(reason=DOTS)
    if name.split(".", 1)[0].upper() in _RESERVED:
        name = f"_{name}"
    while len(name.encode()) > MAX_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[:-1]}.{extension}" if dot and 0 < len(extension) <= 16 and stem else name[:-1]
    return name


def key(name: str) -> str:
    """The form names are compared in: `Report.PDF` and `report.pdf` are the same name."""
    return unicodedata.normalize("NFC", name.casefold())
