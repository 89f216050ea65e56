"""Files that cannot be signed are refused with a typed error that names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustroom.signing import pdf
from trustroom.signing.errors import BrokenPdf, EncryptedPdf, FieldInvalid, FieldNotFound, InvalidPdf, NotAPdf

from .support import encrypted_pdf, make_pdf

# Pure code, no database: the PostgreSQL pass skips these (tests/conftest.py).
pytestmark = pytest.mark.database_free


def test_a_good_pdf_passes() -> None:
    assert pdf.check_pdf(make_pdf(3)) == 3


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"PK\x03\x04 a zip file, not a PDF", NotAPdf),
        (b"", NotAPdf),
        (encrypted_pdf(), EncryptedPdf),
        (make_pdf(2)[:1500], BrokenPdf),  # truncated
        (b"%PDF-1.7\n" + b"garbage " * 200, BrokenPdf),
    ],
)
def test_refused(data: bytes, error: type[InvalidPdf]) -> None:
    with pytest.raises(error) as raised:
        pdf.check_pdf(data, file="contract.pdf")
    assert raised.value.status == 400
    assert "contract.pdf" in str(raised.value)
    # The core names no file; the service re-raises with the upload's name.
    with pytest.raises(error) as unnamed:
        pdf.check_pdf(data)
    assert "contract.pdf" in str(unnamed.value.for_file("contract.pdf"))
    assert type(unnamed.value.for_file("x.pdf")) is error


def test_placing_fields_checks_them() -> None:
    document = make_pdf(2)
    placed = pdf.place_fields(
        document,
        [
            pdf.Placement("Sign", pdf.FieldKind.SIGNATURE, 2, 72, 72, 200, 60),
            pdf.Placement("Initials", pdf.FieldKind.INITIALS, 1, 500, 40, 40, 20),
            pdf.Placement("Agree", pdf.FieldKind.CHECKBOX, 1, 72, 40, 12, 12),
        ],
    )
    assert placed.startswith(document)  # an incremental update
    assert pdf.field_names(placed) == {"Sign": "/Sig", "Initials": "/Tx", "Agree": "/Btn"}
    for bad in [
        pdf.Placement("Sign", pdf.FieldKind.TEXT, 1, 72, 72, 100, 20),  # taken
        pdf.Placement("Far", pdf.FieldKind.TEXT, 3, 72, 72, 100, 20),  # no page 3
        pdf.Placement("Flat", pdf.FieldKind.TEXT, 1, 72, 72, 100, 0),
        pdf.Placement("a.b", pdf.FieldKind.TEXT, 1, 72, 72, 100, 20),
    ]:
        with pytest.raises(FieldInvalid):
            pdf.place_fields(placed, [bad])


def test_filling_checks_values() -> None:
    placed = pdf.place_fields(
        make_pdf(1),
        [
            pdf.Placement("Name", pdf.FieldKind.TEXT, 1, 72, 72, 200, 20),
            pdf.Placement("Agree", pdf.FieldKind.CHECKBOX, 1, 72, 40, 12, 12),
        ],
    )
    for values, error in [
        ({"Missing": "x"}, FieldNotFound),
        ({"Agree": "yes"}, FieldInvalid),
        ({"Name": True}, FieldInvalid),
    ]:
        with pytest.raises(error):
            pdf.fill_fields(pdf.open_writer(placed), values)


def test_fonts_pyhanko_would_space_wrongly_are_refused() -> None:
    wide = next(
        (
            Path(candidate)
            for candidate in (
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            )
            if Path(candidate).is_file()
        ),
        None,
    )
    if wide is None:
        pytest.skip("no 2048-unit TrueType font installed")
    with pytest.raises(ValueError, match="1000 units per em"):
        pdf.text_style(wide)
