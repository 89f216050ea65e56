"""Errors of secure exchange."""

from __future__ import annotations

from ..errors import N_, BadRequest, Conflict, NotFound, PayloadTooLarge, ServiceUnavailable


class ExchangeNotFound(NotFound):
    sub_code = "ExchangeNotFound"
    message = N_("There is no exchange with this id.")


class FolderNotFound(NotFound):
    sub_code = "FolderNotFound"
    message = N_("There is no folder with this id in this exchange.")


class DocumentNotFound(NotFound):
    sub_code = "DocumentNotFound"
    message = N_("There is no document with this id in this exchange.")


class VersionNotFound(NotFound):
    sub_code = "VersionNotFound"
    message = N_("The document has no version %(number)s.")


class UsernameNotUnique(BadRequest):
    sub_code = "UsernameNotUnique"
    message = N_("Another client account already uses this username.")


class ExternalUserIdNotUnique(BadRequest):
    sub_code = "ExternalUserIdNotUnique"
    message = N_("Another client account already has this externalUserId.")


class ExternalExchangeIdNotUnique(BadRequest):
    sub_code = "ExternalExchangeIdNotUnique"
    message = N_("Another exchange already has this externalExchangeId.")


class FolderNameTaken(Conflict):
    sub_code = "FolderNameTaken"
    message = N_("This folder already holds a folder named %(name)s.")


class FolderNotEmpty(Conflict):
    sub_code = "FolderNotEmpty"
    message = N_("The folder is not empty; delete its content first, or delete recursively.")


class NameInvalid(BadRequest):
    sub_code = "NameInvalid"
    message = N_("This name cannot be used: %(reason)s.")


class NoFileGiven(BadRequest):
    sub_code = "NoFileGiven"
    message = N_("The upload holds no file (send one multipart part named `file`).")


class DocumentTooLarge(PayloadTooLarge):
    sub_code = "DocumentTooLarge"
    message = N_("The document is larger than the %(limit)s bytes allowed.")


class DocumentNotAvailable(Conflict):
    sub_code = "DocumentNotAvailable"
    message = N_("The document cannot be downloaded: it is %(status)s.")


class DocumentNotYours(Conflict):
    sub_code = "DocumentNotYours"
    message = N_("This document belongs to the other side of the exchange; only they may do this.")


class DocumentShared(Conflict):
    sub_code = "DocumentAlreadyShared"
    message = N_("A shared document can no longer be deleted by the client.")


class ScannerUnavailable(ServiceUnavailable):
    sub_code = "ScannerUnavailable"
    message = N_("Uploads are paused: the virus scanner cannot be reached. Try again later.")


class ContactEmailMissing(BadRequest):
    sub_code = "ContactEmailMissing"
    message = N_("The contact has no verified email address; give client.email or have the contact verify one.")


class ContactMobileMissing(BadRequest):
    sub_code = "ContactMobileMissing"
    message = N_(
        "The contact has no verified mobile number, which the client's sign-in codes need; "
        "give client.mobileNumber or have the contact verify one."
    )
