"""What an upload is, found from its first bytes: the uploader's Content-Type is not
trusted (a browser guesses it from the file name, an attacker chooses it)."""

from __future__ import annotations

import filetype

# filetype reads at most this much of a file's head.
HEAD_BYTES = 8192
BINARY = "application/octet-stream"
TEXT = "text/plain"


def content_type(head: bytes) -> str:
    """The media type of content starting with `head` (up to HEAD_BYTES of it)."""
    found = filetype.guess_mime(head) if head else None
    if found:
        return str(found)
    return TEXT if _is_text(head) else BINARY


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut off by the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
