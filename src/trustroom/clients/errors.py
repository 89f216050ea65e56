"""Errors of the client-records domain (sub-codes follow the reference where it names them)."""

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
    TooManyRequests,
)
from ..i18n import gettext


class WithProblems(AppError):
    """An error about particular detail fields, each named by JSON Pointer in `errors`."""

    def __init__(self, problems: list[FieldProblem], **params: object) -> None:
        super().__init__(**params)
        self.problems = problems


class DetailsInvalid(WithProblems, BadRequest):
    sub_code = "DetailsInvalid"
    message = N_("Some details do not fit the schema.")


class FieldNotUpdatable(WithProblems, Forbidden):
    sub_code = "FieldNotUpdatable"
    message = N_("You may not change some of these fields.")


class SchemaNotFound(NotFound):
    sub_code = "SchemaNotFound"
    message = N_("There is no schema with this key.")


class SchemaInvalid(BadRequest):
    sub_code = "SchemaInvalid"
    message = N_("The schema cannot be used: %(reason)s (at %(pointer)s).")


class ListNotFound(NotFound):
    sub_code = "ListNotFound"
    message = N_("There is no list with this key.")


class ListReadOnly(BadRequest):
    sub_code = "ListReadOnly"
    message = N_("The list %(list_key)s is built in and cannot be changed.")


class ListItemDuplicate(BadRequest):
    sub_code = "ListItemDuplicate"
    message = N_("The item id %(item_id)s appears more than once.")


class ContactNotFound(NotFound):
    sub_code = "ContactNotFound"
    message = N_("There is no contact with this id.")


class LegalEntityNotFound(NotFound):
    sub_code = "LegalEntityNotFound"
    message = N_("There is no legal entity with this id.")


class ContactTypeUnknown(BadRequest):
    sub_code = "ContactTypeUnknown"
    message = N_("There is no contact type %(contact_type_id)s.")


class UsernameNotUnique(BadRequest):
    sub_code = "UsernameNotUnique"
    message = N_("The username (or the email address it is derived from) is already taken.")


class UsernameRequired(BadRequest):
    sub_code = "UsernameRequired"
    message = N_("A username is required.")


class UsernameCoupled(BadRequest):
    sub_code = "UsernameCoupledWithEmail"
    message = N_("Usernames follow the email address in this tenant; change the email instead.")


class ExternalIdNotUnique(Conflict):
    sub_code = "ExternalIdNotUnique"
    message = N_("Another record already has this external id in this system.")


class ExternalConnectionNotFound(NotFound):
    sub_code = "ExternalConnectionNotFound"
    message = N_("No contact has this external id in this system.")


class RecordAnonymized(Conflict):
    sub_code = "RecordAnonymized"
    message = N_("This record was anonymized and can no longer be changed.")


class ChangeRequestNotFound(NotFound):
    sub_code = "ChangeRequestNotFound"
    message = N_("There is no change request with this id for this contact.")


class PendingChangeRequestExists(Conflict):
    sub_code = "PendingChangeRequestExists"
    message = N_("A change request for this record is already waiting for review; cancel or review it first.")


class ChangeRequestNotPending(Conflict):
    sub_code = "ChangeRequestNotPending"
    message = N_("This change request is no longer pending.")


class OwnChangeRequest(Forbidden):
    sub_code = "OwnChangeRequest"
    message = N_("You cannot review a change you asked for yourself.")


class NotInitiator(Forbidden):
    sub_code = "NotInitiator"
    message = N_("Only the member who asked for this change may cancel it.")


class ReviewerRequired(Forbidden):
    sub_code = "ReviewerRequired"
    message = N_("Only a member can review a change request; an app must act for one.")


class RejectionCommentRequired(BadRequest):
    sub_code = "CommentRequired"
    message = N_("Say why you reject the change: a comment is required.")


class NoPendingChannel(NotFound):
    sub_code = "NoPendingChannel"
    message = N_("No new value of this channel is waiting for verification.")


class KeyExpired(BadRequest):
    sub_code = "KeyExpired"
    message = N_("The verification key has expired or was tried too often; ask for a new one.")
    keeps_writes = True


class KeyNoMatch(BadRequest):
    sub_code = "KeyNoMatch"
    message = N_("The verification key does not match.")
    keeps_writes = True  # the failed attempt must count


class ResendTooSoon(TooManyRequests):
    sub_code = "ResendTooSoon"
    message = N_("A key was sent a moment ago; try again in %(retry_after)s seconds.")


class FilterInvalid(BadRequest):
    sub_code = "FilterInvalid"
    message = N_("The filter cannot be used at %(at)s: %(reason)s.")

    def __init__(self, at: str, reason: str, **params: object) -> None:
        # `reason` is a message of its own, translated here with its parameters.
        super().__init__(at=at, reason=gettext(reason) % params if params else gettext(reason))
        self.at = at


class PictureInvalid(BadRequest):
    sub_code = "PictureInvalid"
    message = N_("The picture must be a PNG or JPEG image, sent as base64.")


class PictureTooLarge(PayloadTooLarge):
    sub_code = "PictureTooLarge"
    message = N_("The picture is larger than %(limit)s bytes.")


class AccessPolicyInvalid(BadRequest):
    sub_code = "AccessPolicyInvalid"
    message = N_("The contact access policy at %(at)s cannot be used: %(reason)s.")
    DUPLICATE = N_("the contact is named twice")
    UNKNOWN_ROLE = N_("the role is not in the list legalEntityRoles")
    UNKNOWN_CONTACT = N_("there is no such contact")

    def __init__(self, at: str, reason: str) -> None:
        super().__init__(at=at, reason=gettext(reason))


class NotActingFor(Forbidden):
    sub_code = "NotActingFor"
    message = N_("This contact may see the legal entity but not act for it.")


class RetentionHoldActive(Conflict):
    sub_code = "RetentionHoldActive"
    message = N_("These contacts must be kept (retention hold) and cannot be anonymized: %(ids)s.")


class RetentionHoldNotFound(NotFound):
    sub_code = "RetentionHoldNotFound"
    message = N_("This contact has no retention hold.")


class ExportNotFound(NotFound):
    sub_code = "ExportNotFound"
    message = N_("There is no export with this id.")


class ExportNotReady(Conflict):
    sub_code = "ExportNotReady"
    message = N_("The export file is not ready yet; ask for the export's status.")


class ExportFailed(Conflict):
    sub_code = "ExportFailed"
    message = N_("This export failed and has no file; start a new one.")


class ExportExpired(AppError):
    status = 410
    code = "Gone"
    sub_code = "ExportExpired"
    message = N_("The export file has expired and was deleted; start a new export.")


class ImportFileInvalid(BadRequest):
    sub_code = "ImportFileInvalid"
    message = N_("The file %(name)s is not a JSON array of records: %(reason)s.")


class ImportRunNotFound(NotFound):
    sub_code = "ImportStatusNotFound"
    message = N_("There is no import with this status id.")


class NothingToImport(BadRequest):
    sub_code = "NothingToImport"
    message = N_("No uploaded file waits for a sync.")


class AdvisorNotFound(BadRequest):
    sub_code = "AdvisorNotFound"
    message = N_("There is no member %(member_id)s in this tenant to assign.")


class AdvisorDisabled(BadRequest):
    sub_code = "AdvisorDisabled"
    message = N_("The member %(member_id)s is deactivated and cannot be assigned.")


class ReassignToSameMember(BadRequest):
    sub_code = "ReassignToSameMember"
    message = N_("The contacts would move to the member they are already assigned to.")
