"""Errors of the signing core.

The PDF refusals are 400s that the dossier service raises with the uploaded file's name
(`file`); the core itself names the document `document` when it has no better name.
A missing timestamp is a 503: the step failed and is retried later, it is never
completed without one (ADR 0016).
"""

from __future__ import annotations

from ..errors import N_, BadRequest, Conflict, NotFound, ServiceUnavailable


class InvalidPdf(BadRequest):
    """The bytes cannot be signed as a PDF; the subclasses say why."""

    sub_code = "InvalidPdf"
    message = N_("The file %(file)s cannot be read as a PDF: %(reason)s.")

    def __init__(self, reason: str, *, file: str = "document") -> None:
        super().__init__(file=file, reason=reason)
        self.reason = reason
        self.file = file

    def for_file(self, file: str) -> InvalidPdf:
        """The same refusal naming the uploaded file."""
        return type(self)(self.reason, file=file)


class NotAPdf(InvalidPdf):
    sub_code = "NotAPdf"
    message = N_("The file %(file)s is not a PDF (%(reason)s).")


class EncryptedPdf(InvalidPdf):
    sub_code = "EncryptedPdf"
    message = N_("The file %(file)s is encrypted; upload it without a password or encryption (%(reason)s).")


class BrokenPdf(InvalidPdf):
    sub_code = "BrokenPdf"
    message = N_("The file %(file)s is a damaged PDF (%(reason)s).")


class FieldNotFound(NotFound):
    sub_code = "FieldNotFound"
    message = N_("The document has no field named %(field)s.")


class FieldAlreadyFilled(Conflict):
    sub_code = "FieldAlreadyFilled"
    message = N_("The field %(field)s is already filled or signed.")


class FieldInvalid(BadRequest):
    sub_code = "FieldInvalid"
    message = N_("The field %(field)s cannot be placed or filled: %(reason)s.")


class TimestampUnavailable(ServiceUnavailable):
    """No time-stamping authority gave a timestamp: the step fails, nothing is signed."""

    sub_code = "TimestampUnavailable"
    message = N_("No time-stamping authority answered (%(reason)s); the signature was not applied.")


class RevocationInfoUnavailable(ServiceUnavailable):
    """Revocation information for a certificate could not be had; the document is left as it was."""

    sub_code = "RevocationInfoUnavailable"
    message = N_("Revocation information could not be collected (%(reason)s).")


class CredentialDestroyed(Conflict):
    """A one-time signer key was used after it was dropped."""

    sub_code = "CredentialDestroyed"
    message = N_("This signing key was already used and destroyed.")


class DocumentAlreadySigned(BadRequest):
    """A certification signature must be a document's first signature."""

    sub_code = "DocumentAlreadySigned"
    message = N_("The document is already signed; it cannot be certified.")
