"""Errors: what went wrong, in words a client can act on.

Every domain error subclasses `AppError`; it carries its HTTP status, a stable `code`
(the class of problem) and `sub_code` (the precise reason), and a message that is a
gettext message id, translated when the error is rendered (see `http.py`). Nothing here
knows about HTTP frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later, at render time."""
    return message


@dataclass(frozen=True)
class FieldProblem:
    """One bad input, located the same way everywhere (README, "Errors"):

    - in the JSON body: `pointer`, a JSON Pointer (RFC 6901) into the body as sent
      (`/details/firstName`, `/invitees/0/email`; `""` is the whole body);
    - in a request parameter: `parameter` (its name as sent) and `location` (`query`,
      `path`, `header` or `cookie`), with `pointer` None.
    """

    pointer: str | None
    message: str
    code: str
    parameter: str | None = None
    location: str | None = None

    @classmethod
    def in_parameter(cls, location: str, name: str, message: str, code: str) -> FieldProblem:
        return cls(None, message, code, parameter=name, location=location)


def json_pointer(*parts: object) -> str:
    """The RFC 6901 pointer to `parts` ("~" and "/" escaped); no parts is the whole document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "BadRequest"
    sub_code: ClassVar[str] = "BadRequest"
    message: ClassVar[str] = N_("The request could not be processed.")
    # True for refusals that must still commit what the attempt wrote (a failed-attempt
    # counter); every other error rolls the request's transaction back.
    keeps_writes: ClassVar[bool] = False

    def __init__(self, message: str | None = None, /, **params: object) -> None:
        self.text = message or self.message
        self.params: Mapping[str, object] = params
        self.headers: dict[str, str] = {}
        # Fields at fault, when the error is about particular fields (rendered as `errors`).
        self.problems: list[FieldProblem] = []
        super().__init__(self.text % params if params else self.text)


class BadRequest(AppError):
    pass


class ValidationFailed(AppError):
    """The payload does not match the schema: the only use of 422 (DESIGN.md, Errors)."""

    status = 422
    code = "UnprocessableEntity"
    sub_code = "ValidationFailed"
    message = N_("Some fields are not valid.")

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__()
        self.problems = problems


class Unauthorized(AppError):
    """No credentials at all (no `Authorization` header); a bad key is `InvalidApiKey`."""

    status = 401
    code = "Unauthorized"
    sub_code = "AuthenticationRequired"
    message = N_("Authentication is required.")


# The bad-key refusals live here rather than in auth: the HTTP edge documents them on every
# operation (error_responses), and http sits below auth. auth re-exports them.


class InvalidApiKey(Unauthorized):
    """A malformed `Authorization` header, or a key that matches none."""

    sub_code = "InvalidApiKey"
    message = N_("The API key is not valid.")


class ApiKeyExpired(InvalidApiKey):
    sub_code = "ApiKeyExpired"
    message = N_("The API key has expired.")


class ApiKeyRevoked(InvalidApiKey):
    sub_code = "ApiKeyRevoked"
    message = N_("The API key was revoked.")


class Forbidden(AppError):
    status = 403
    code = "Forbidden"
    sub_code = "PermissionDenied"
    message = N_("You are not allowed to do this.")


class NotFound(AppError):
    status = 404
    code = "NotFound"
    sub_code = "ResourceNotFound"
    message = N_("The resource does not exist.")


class RouteNotFound(NotFound):
    sub_code = "RouteNotFound"
    message = N_("There is nothing at this address.")


class MethodNotAllowed(AppError):
    status = 405
    code = "MethodNotAllowed"
    sub_code = "MethodNotAllowed"
    message = N_("This method is not allowed here.")


class Conflict(AppError):
    status = 409
    code = "Conflict"
    sub_code = "Conflict"
    message = N_("The request conflicts with the current state.")


class ConcurrencyTokenMismatch(Conflict):
    sub_code = "ConcurrencyTokenMismatch"
    message = N_("The resource was changed by someone else; reload it and try again.")

    @classmethod
    def check(cls, given: str | None, current: str) -> None:
        """Refuse a write based on a stale read; no token given means no check."""
        if given is not None and given != current:
            raise cls()


class PayloadTooLarge(AppError):
    status = 413
    code = "PayloadTooLarge"
    sub_code = "PayloadTooLarge"
    message = N_("The request body is too large.")


class TooManyRequests(AppError):
    status = 429
    code = "TooManyRequests"
    sub_code = "RateLimited"
    message = N_("Too many attempts; try again in %(retry_after)s seconds.")

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class InternalError(AppError):
    status = 500
    code = "InternalServerError"
    sub_code = "InternalServerError"
    message = N_("Something went wrong on our side. Quote the correlation id when you report it.")


class ServiceUnavailable(AppError):
    status = 503
    code = "ServiceUnavailable"
    sub_code = "ServiceUnavailable"
    message = N_("The service is temporarily unavailable.")


# Platform refusals raised by the HTTP edge.


class MissingScope(Forbidden):
    sub_code = "MissingScope"
    message = N_("This needs the permission %(permission)s.")


class IdempotencyKeyReused(AppError):
    status = 422
    code = "UnprocessableEntity"
    sub_code = "IdempotencyKeyReused"
    message = N_("This Idempotency-Key was already used with a different request.")


class IdempotencyKeyInUse(Conflict):
    sub_code = "IdempotencyKeyInUse"
    message = N_("A request with this Idempotency-Key is still being processed.")


class UnsupportedLanguage(BadRequest):
    sub_code = "UnsupportedLanguage"
    message = N_("The language %(language)s is not supported; use DE, EN, FR or IT.")


class CsrfFailed(Forbidden):
    sub_code = "CsrfTokenInvalid"
    message = N_("The form expired or did not come from this site; reload the page and try again.")


class UnsupportedMediaType(AppError):
    status = 415
    code = "UnsupportedMediaType"
    sub_code = "UnsupportedMediaType"
    message = N_("This endpoint does not take %(content_type)s; send one of: %(accepted)s.")


class ContentTypeMissing(UnsupportedMediaType):
    sub_code = "ContentTypeMissing"
    message = N_("The body has no Content-Type; send one of: %(accepted)s.")


class JsonInvalid(BadRequest):
    sub_code = "JsonInvalid"
    message = N_("The body is not valid JSON: %(reason)s at line %(line)s, column %(column)s.")


class MultipartInvalid(BadRequest):
    sub_code = "MultipartInvalid"
    message = N_("The multipart body could not be read: %(reason)s.")
