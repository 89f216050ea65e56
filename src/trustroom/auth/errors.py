"""Errors of the auth domain."""

from __future__ import annotations

from ..errors import N_, BadRequest, Conflict, Forbidden, NotFound

# Declared at the platform level, where every operation's 401 answer documents them.
from ..errors import ApiKeyExpired as ApiKeyExpired
from ..errors import ApiKeyRevoked as ApiKeyRevoked
from ..errors import InvalidApiKey as InvalidApiKey


class ApiKeyNotFound(NotFound):
    sub_code = "ApiKeyNotFound"
    message = N_("There is no API key with this id.")


class MemberNotFound(NotFound):
    sub_code = "MemberNotFound"
    message = N_("There is no member with this id.")


class ActingMemberNotAllowed(Forbidden):
    sub_code = "ActingMemberNotAllowed"
    message = N_("This API key may not act for members; it needs the permission members:act.")


class ActingMemberUnknown(BadRequest):
    sub_code = "ActingMemberUnknown"
    message = N_("X-Acting-Member names no active member of this tenant.")


class ScopeNotGrantable(Forbidden):
    sub_code = "ScopeNotGrantable"
    message = N_("You cannot grant the permission %(scope)s because you do not hold it.")


class UnknownScope(BadRequest):
    sub_code = "UnknownScope"
    message = N_("The scope %(scope)s does not exist.")


class SupervisorInvalid(BadRequest):
    sub_code = "SupervisorInvalid"
    message = N_("The supervisor must be another active member of this tenant who does not report to this member.")


class EmailTaken(Conflict):
    sub_code = "EmailNotUnique"
    message = N_("A member with this email address already exists.")


class TenantNotFound(NotFound):
    sub_code = "TenantNotFound"
    message = N_("There is no tenant with this id.")


class InvitationNotFound(NotFound):
    sub_code = "InvitationNotFound"
    message = N_("There is no invitation with this id.")


class InvitationAccepted(Conflict):
    sub_code = "InvitationAlreadyAccepted"
    message = N_("The invitation was already accepted; disable the member instead.")
