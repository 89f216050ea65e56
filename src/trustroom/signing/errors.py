"""Errors of e-signature dossiers.

A refusal about one value of the body names it by JSON Pointer in `errors`
(`/invitees/1/phoneNumber`), so a form can show it beside the field; `at` does the same for
errors of other domains (an unknown contact, exchange or owner).
"""

from __future__ import annotations

from ..errors import N_, AppError, BadRequest, Conflict, FieldProblem, NotFound

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
