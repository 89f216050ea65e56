"""Names people give files and folders, made safe to keep and to offer back."""

from __future__ import annotations

import pytest

from trustroom.exchange.errors import NameInvalid
from trustroom.exchange.service.names import MAX_NAME_BYTES, clean, key

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Rapport 2026.pdf", "Rapport 2026.pdf"),
        ("a\x00b\x07c\u202e.txt", "abc.txt"),
        ("  spaced   out .pdf ", "spaced out .pdf"),
        ("CON.txt", "_CON.txt"),
        ('a<b>c?|*".pdf', "a_b_c____.pdf"),
        ("2026 / final", "2026 _ final"),
        ("Cafe\u0301.txt", "Café.txt"),
    ],
)
def test_clean(raw: str, kept: str) -> None:
    assert clean(raw) == kept


def test_a_file_name_keeps_only_its_last_path_part() -> None:
    assert clean("C:\\Users\\anna\\Rapport.pdf", file_name=True) == "Rapport.pdf"
    assert clean("../../etc/passwd", file_name=True) == "passwd"
    assert clean("../../etc/passwd") == "_.._etc_passwd"


def test_long_names_are_cut_to_bytes_keeping_the_extension() -> None:
    cut = clean("ü" * 300 + ".pdf")
    assert cut.endswith(".pdf") and len(cut.encode()) <= MAX_NAME_BYTES
    assert len(clean("x" * 400).encode()) == MAX_NAME_BYTES


@pytest.mark.parametrize("raw", ["", "   ", "...", "\x00\x01", "/"])
def test_nothing_usable(raw: str) -> None:
    with pytest.raises(NameInvalid):
        clean(raw, file_name=True)


def test_names_compare_without_case() -> None:
    assert key("Report.PDF") == key("report.pdf")
