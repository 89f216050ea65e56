"""Errors of e-signatures: dossiers and the signing core.

A refusal about one value of the body names it by JSON Pointer in `errors`
(`/invitees/1/phoneNumber`), so a form can show it beside the field; `at` does the same for
errors of other domains (an unknown contact, exchange or owner).

The PDF refusals are 400s that the dossier service raises with the uploaded file's name
(`file`); the core itself names the document `document` when it has no better name.
A missing timestamp is a 503: the step failed and is retried later, it is never
completed without one (ADR 0016).
"""

from __future__ import annotations

from ..errors import (
    N_,
    AppError,
    BadRequest,
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)

# For a problem whose error message has parameters (the problem's text is not formatted).
NOT_VALID = N_("This value is not valid.")


def at(error: AppError, pointer: str) -> AppError:
    """The error, naming `pointer` as the place in the body it is about."""
    message = NOT_VALID if error.params else error.text
    error.problems = [FieldProblem(pointer, message, error.sub_code)]
    return error


class AtField(BadRequest):
    """A refusal about the value at `pointer`."""

    def __init__(self, pointer: str, **params: object) -> None:
        super().__init__(**params)
        at(self, pointer)


class DossierNotFound(NotFound):
    sub_code = "DossierNotFound"
    message = N_("There is no dossier with this id.")


class MethodNotAvailable(AtField):
    sub_code = "MethodNotAvailable"
    message = N_("The signing method %(method)s is not available yet; use ses or aes.")


class LocaleNotSupported(AtField):
    sub_code = "LocaleNotSupported"
    message = N_("Texts are available in German, English, French and Italian only; use a de, en, fr or it locale.")


class OwnerMemberRequired(AtField):
    sub_code = "OwnerMemberRequired"
    message = N_("A dossier is owned by a member: act for one with X-Acting-Member, or name one in ownerMemberId.")


class InviteeNameRequired(AtField):
    sub_code = "InviteeNameRequired"
    message = N_("The invitee needs a name, or firstName and lastName (or a contactId whose record has them).")


class AuthenticationMethodRequired(AtField):
    sub_code = "AuthenticationMethodRequired"
    message = N_("In an aes dossier every signer needs at least one authentication method (otp_email, otp_sms).")


class EmailRequired(AtField):
    sub_code = "EmailRequired"
    message = N_(
        "otp_email needs the invitee's email address: give email, or a contactId whose record has a verified one."
    )


class PhoneNumberRequired(AtField):
    sub_code = "PhoneNumberRequired"
    message = N_(
        "otp_sms needs the invitee's phone number: give phoneNumber, or a contactId whose record has a verified mobile."
    )


class InviteeNotFound(AtField):
    sub_code = "InviteeNotFound"
    message = N_("This dossier has no invitee with this id (leave the id out to add an invitee).")


class InviteeRepeated(AtField):
    sub_code = "InviteeRepeated"
    message = N_("This invitee id is given twice.")


class ExchangeContactMismatch(AtField):
    sub_code = "ExchangeContactMismatch"
    message = N_("The exchange belongs to another contact than the dossier's contactId.")


class NoSigners(BadRequest):
    sub_code = "NoSigners"
    message = N_("The dossier needs at least one signer or approver before it is sent.")


class DossierNotDraft(Conflict):
    sub_code = "DossierNotDraft"
    message = N_("The dossier is %(state)s; only a draft can be changed or deleted.")


class DossierNotPending(Conflict):
    sub_code = "DossierNotPending"
    message = N_("The dossier is %(state)s; only a pending dossier can be cancelled.")


class DossierStateInvalid(Conflict):
    sub_code = "DossierStateInvalid"
    message = N_("The dossier cannot go from %(current)s to %(target)s.")


class InviteeStateInvalid(Conflict):
    sub_code = "InviteeStateInvalid"
    message = N_("The invitee cannot go from %(current)s to %(target)s.")


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


class AuthenticationMethodNotUsed(BadRequest):
    sub_code = "AuthenticationMethodNotUsed"
    message = N_("You are not asked to confirm your identity with %(method)s.")


class CodeNotSent(BadRequest):
    sub_code = "CodeNotSent"
    message = N_("No code is waiting; ask for a new one.")


class CodeExpired(BadRequest):
    sub_code = "CodeExpired"
    message = N_("The code has expired or was tried too often; ask for a new one.")
    keeps_writes = True


class CodeNoMatch(BadRequest):
    sub_code = "CodeNoMatch"
    message = N_("The code does not match; %(attempts_left)s tries left.")
    keeps_writes = True  # the failed attempt must count


class SignerLocked(Forbidden):
    sub_code = "SignerLocked"
    message = N_("Too many wrong codes: try again in %(retry_after)s seconds.")
    keeps_writes = True  # the lockout must stay

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class CodeResendTooSoon(TooManyRequests):
    sub_code = "CodeResendTooSoon"
    message = N_("A code was sent a moment ago; try again in %(retry_after)s seconds.")


class AuthenticationRequired(Forbidden):
    sub_code = "SignerAuthenticationRequired"
    message = N_("Confirm your identity with the codes sent to you before you sign.")


# Invites and the signer's access by the invite token.


class DossierNotSendable(Conflict):
    sub_code = "DossierNotSendable"
    message = N_("The dossier is %(state)s; invites go out only for a draft or a pending dossier.")


class InviteNotFound(NotFound):
    sub_code = "InviteNotFound"
    message = N_("This dossier has no invite with this id.")


class InviteeUnknown(AtField):
    sub_code = "InviteeUnknown"
    message = N_("This dossier has no invitee with this id.")


class InviteeFinished(AtField):
    sub_code = "InviteeFinished"
    message = N_("This invitee has already finished (%(state)s); there is nothing to invite them to.")


class InviteeEmailMissing(AtField):
    sub_code = "InviteeEmailMissing"
    message = N_("The email channel needs the invitee's email address; give the invitee one, or use the link channel.")


class SignerAuthenticationMissing(BadRequest):
    sub_code = "SignerAuthenticationMissing"
    message = N_(
        "The signer %(invitee)s of this aes dossier has no authentication method; add otp_email or otp_sms "
        "before sending."
    )


class SignerEmailMissing(BadRequest):
    sub_code = "SignerEmailMissing"
    message = N_("The invitee %(invitee)s authenticates by otp_email but has no email address; add one before sending.")


class SignerPhoneMissing(BadRequest):
    sub_code = "SignerPhoneMissing"
    message = N_("The invitee %(invitee)s authenticates by otp_sms but has no phone number; add one before sending.")


class InviteTokenInvalid(Unauthorized):
    """An unknown, malformed or forged invite token, or one of another dossier. The attempt
    counts towards the client address's limit, so it is committed."""

    sub_code = "InviteTokenInvalid"
    message = N_("This invitation link is not valid. Open the link from the most recent message you received.")
    keeps_writes = True


class InviteTokenRateLimited(TooManyRequests):
    sub_code = "InviteTokenRateLimited"
    message = N_("Too many invalid invitation links from your address; try again in %(retry_after)s seconds.")
    keeps_writes = True


class Gone(AppError):
    status = 410
    code = "Gone"
    sub_code = "Gone"
    message = N_("This is no longer available.")


class InviteExpired(Gone):
    sub_code = "InviteExpired"
    message = N_("This invitation has expired; ask the sender for a new one.")


class InviteReplaced(Gone):
    sub_code = "InviteReplaced"
    message = N_("This invitation was replaced by a newer one; open the link from the most recent message.")


class DossierEnded(Gone):
    sub_code = "DossierEnded"
    message = N_("The dossier is %(state)s; nothing can be signed in it any more.")


class InviteNotOpenYet(Conflict):
    sub_code = "InviteNotOpenYet"
    message = N_("It is not your turn yet: you will be invited when those before you have finished.")


class AuthorityNotFound(NotFound):
    """No such CA: the tenant (or the installation) has not signed anything yet."""

    sub_code = "AuthorityNotFound"
    message = N_("There is no certification authority here: nothing has been signed with it yet.")


class SigningKeyUnreadable(ServiceUnavailable):
    """A sealed CA, seal, responder or TSA key cannot be opened with the configured server secrets."""

    sub_code = "SigningKeyUnreadable"
    message = N_("A signing key cannot be opened with the configured server secrets (%(credential)s).")


class PdfMissing(BadRequest):
    sub_code = "PdfMissing"
    message = N_(
        "Send the PDF as the request body (Content-Type application/pdf) or as the file part of a multipart form."
    )


class TooManySignatures(BadRequest):
    sub_code = "TooManySignatures"
    message = N_("The document has %(count)s signatures; at most %(limit)s are validated.")


# --- documents and fields of a dossier -------------------------------------------------------


class DocumentNotFound(NotFound):
    sub_code = "DocumentNotFound"
    message = N_("The dossier has no document with this id.")


class PageNotFound(NotFound):
    sub_code = "PageNotFound"
    message = N_("The document has %(pages)s pages; there is no page %(page)s.")


class TooManyDocuments(BadRequest):
    sub_code = "TooManyDocuments"
    message = N_("The file %(file)s was not added: a dossier holds at most %(limit)s documents.")


class DocumentsTooLarge(PayloadTooLarge):
    sub_code = "DocumentsTooLarge"
    message = N_(
        "The file %(file)s was not added: a dossier's documents may take %(limit)s bytes together, "
        "and %(used)s are taken."
    )


class UploadUrlInvalid(Unauthorized):
    """A token (the credential of a request without an API key) that matches no upload URL
    of this dossier, or one that expired. Whatever the reason, the answer is the same (no
    probing), and the attempt counts against the caller's address: the counter must commit
    with the refusal."""

    sub_code = "UploadUrlInvalid"
    message = N_("This upload URL is not valid (it has expired, or it is for another dossier); ask for a new one.")
    keeps_writes = True


class FieldTargetRequired(AtField):
    sub_code = "FieldTargetRequired"
    message = N_(
        "Give either fieldName (an empty signature field of the document) or page, x, y, width and height, not both."
    )


class FieldNameOnlyForSignatures(AtField):
    sub_code = "FieldNameOnlyForSignatures"
    message = N_("An existing field (fieldName) can only be a signature field; place the other kinds on a page.")


class SignatureFieldUnknown(AtField):
    sub_code = "SignatureFieldUnknown"
    message = N_("The document has no empty signature field of this name.")


class SignatureFieldRepeated(AtField):
    sub_code = "SignatureFieldRepeated"
    message = N_("This signature field is already assigned by another entry.")


class FieldPageNotFound(AtField):
    sub_code = "FieldPageNotFound"
    message = N_("The document has no such page.")


class FieldOutsidePage(AtField):
    sub_code = "FieldOutsidePage"
    message = N_("The field does not lie within the page (PDF points from its lower-left corner).")


class FieldInviteeNotFound(AtField):
    sub_code = "FieldInviteeNotFound"
    message = N_("The dossier has no invitee with this id.")


class FieldInviteeNotSigner(AtField):
    sub_code = "FieldInviteeNotSigner"
    message = N_("Only a signer signs or initials; this invitee is not a signer.")


class FieldInviteeViewer(AtField):
    sub_code = "FieldInviteeViewer"
    message = N_("A viewer fills no fields.")


class SignatureFieldMissing(BadRequest):
    """Sending needs a signature field for every signer (issue #14)."""

    sub_code = "SignatureFieldMissing"
    message = N_("Every signer needs a signature field in one of the documents; %(names)s has none.")


class NoDocuments(BadRequest):
    sub_code = "NoDocuments"
    message = N_("The dossier has no documents to sign.")


class SignedPdf(InvalidPdf):
    """A dossier certifies each document before anyone signs it, and a certification must be
    a document's first signature: a signed PDF is refused at upload, not at sending."""

    sub_code = "SignedPdf"
    message = N_("The file %(file)s is signed already (%(reason)s); upload it unsigned.")


class FieldsOfNonSigner(BadRequest):
    """An invitee's role changed after their fields were set (a signer became an approver)."""

    sub_code = "FieldsOfNonSigner"
    message = N_(
        "%(names)s cannot fill the fields assigned to them (signatures and initials need a signer, "
        "and a viewer fills nothing); change the fields or the role."
    )


# The signer's side: pages under /s/ and the signer's JSON API.


class SignerSessionEnded(Unauthorized):
    sub_code = "SignerSessionEnded"
    message = N_("Your signing session has ended. Open the link from your invitation again.")


class SignerConsentRequired(BadRequest):
    sub_code = "SignerConsentRequired"
    message = N_("Agree to the consent text before you sign.")


class AlreadySubmitted(Conflict):
    sub_code = "AlreadySubmitted"
    message = N_("You have already signed; your signature is being applied, so you can no longer decline.")


class ViewerCannotAct(Forbidden):
    sub_code = "ViewerCannotAct"
    message = N_("You are invited to view this dossier only; there is nothing to sign, approve or decline.")


class SignedDocumentsNotReady(Conflict):
    sub_code = "SignedDocumentsNotReady"
    message = N_("The signed documents are ready once everyone has signed.")


# The signing workflow: an invitee's submission and the steps that apply it (ADR 0018).


class InviteeCannotSign(Forbidden):
    sub_code = "InviteeCannotSign"
    message = N_("Only signers and approvers sign or approve a dossier.")


class InviteeAlreadyFinished(Conflict):
    sub_code = "InviteeAlreadyFinished"
    message = N_("You have already finished with this dossier (%(state)s).")


class SubmittedFieldUnknown(AtField):
    sub_code = "SubmittedFieldUnknown"
    message = N_("This is not one of your fields to fill; signatures and dates are not given as values.")


class SubmittedFieldInvalid(AtField):
    sub_code = "SubmittedFieldInvalid"
    message = N_("This value does not fit the field: text (at most 500 characters) or true/false for a checkbox.")


class SubmittedFieldRequired(AtField):
    sub_code = "SubmittedFieldRequired"
    message = N_("This field is required: fill it in (or tick it) before you sign.")


class SignatureMissing(AtField):
    sub_code = "SignatureMissing"
    message = N_("Draw your signature or type your name to sign.")


class SignatureImageInvalid(AtField):
    sub_code = "SignatureImageInvalid"
    message = N_("The drawn signature must be a PNG image of at most %(limit)s bytes.")


class DossierNotCompleted(Conflict):
    sub_code = "DossierNotCompleted"
    message = N_("The dossier is not completed yet: its signed documents can be downloaded once everyone has signed.")


class DeclineReasonMissing(BadRequest):
    sub_code = "DeclineReasonMissing"
    message = N_("Say why you decline, so that the sender knows.")
