"""Reading a JSON array element by element from chunks, so an import file of any size is
checked and applied in bounded memory.

Each element must be an object (a record); one element may be at most MAX_ELEMENT_CHARS
long. Errors name the element's index and what is wrong.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

MAX_ELEMENT_CHARS = 1024 * 1024
_SPACE = re.compile(r"[ \t\r\n]*")


class JsonStreamError(ValueError):
    pass


class ArrayReader:
    """Feed bytes, take the complete elements; `close()` after the last chunk takes the rest."""

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder()
        self._text = codecs.getincrementaldecoder("utf-8-sig")()
        self._buffer = ""
        self._at = 0  # read position in the buffer: consumed text is dropped once per feed
        self._state = "start"  # start → first → (comma → element)* → done
        self.count = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return self._take(data, final=False)

    def close(self) -> list[dict[str, Any]]:
        elements = self._take(b"", final=True)
        if self._state != "done":
            raise JsonStreamError(
                "the file is empty" if self._state == "start" else "the file ends before its closing ]"
            )
        return elements

    def _take(self, data: bytes, *, final: bool) -> list[dict[str, Any]]:
        try:
            text = self._text.decode(data, final=final)
        except UnicodeDecodeError as exc:
            raise JsonStreamError("the file is not UTF-8") from exc
        self._buffer = self._buffer[self._at :] + text
        self._at = 0
        elements: list[dict[str, Any]] = []
        while self._step(elements, final=final):
            pass
        return elements

    def _step(self, elements: list[dict[str, Any]], *, final: bool) -> bool:
        """Consume one token or element; False when the buffer holds nothing complete."""
        match = _SPACE.match(self._buffer, self._at)
        self._at = match.end() if match else self._at
        if self._at >= len(self._buffer):
            return False
        head = self._buffer[self._at]
        if self._state == "start":
            if head != "[":
                raise JsonStreamError("the file must be a JSON array of records, starting with [")
            self._at += 1
            self._state = "first"
        elif self._state == "done":
            raise JsonStreamError("there is more after the closing ]")
        elif self._state == "comma":
            if head not in ",]":
                raise JsonStreamError(f"record {self.count - 1} is not followed by a comma or ]")
            self._at += 1
            self._state = "element" if head == "," else "done"
        elif self._state == "first" and head == "]":
            self._at += 1
            self._state = "done"
        else:
            element = self._element(head, final=final)
            if element is None:
                return False
            elements.append(element)
        return True

    def _element(self, head: str, *, final: bool) -> dict[str, Any] | None:
        if head != "{":
            raise JsonStreamError(f"record {self.count} is not a JSON object")
        try:
            value, end = self._decoder.raw_decode(self._buffer, self._at)
        except json.JSONDecodeError as exc:
            if final or len(self._buffer) - self._at > MAX_ELEMENT_CHARS:
                raise JsonStreamError(f"record {self.count} is not valid JSON ({exc.msg})") from exc
            return None  # incomplete: wait for more
        if end - self._at > MAX_ELEMENT_CHARS:
            raise JsonStreamError(f"record {self.count} is longer than {MAX_ELEMENT_CHARS} characters")
        self._at = end
        self._state = "comma"
        self.count += 1
        assert isinstance(value, dict)
        return value
