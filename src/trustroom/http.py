"""HTTP plumbing shared by every JSON route.

- `SessionDep`: one request, one transaction, committed *before* the response is sent
  (function-scoped dependency), so a failed commit answers 5xx, never 2xx.
- `CurrentActor` / `require(...)`: who is calling, resolved once per request by the
  authenticator the composition root installs (so lower domains need not import auth).
- Problems: every error becomes an RFC 9457 `application/problem+json` body with `code`,
  `subCode` and `correlationId`, in the request's language.
- Idempotency: create routes declare `IDEMPOTENT`; the stored answer is written in the
  same transaction as the change it describes.
"""

from __future__ import annotations

import contextlib
import email.message
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path

from . import errors, i18n
from .actor import Actor
from .db import Database, IdempotencyRecord, utcnow
from .errors import N_, AppError, FieldProblem, json_pointer
from .keys import ServerKeys
from .logs import correlation_id
from .schemas import MAX_PAGE, MAX_PAGE_SIZE, Paging, Schema, SortOrder
from .settings import Settings

log = logging.getLogger("trustroom.http")

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-Id"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


Authenticator = Callable[[Request, AsyncSession], Awaitable[Actor]]


# --- problems ---------------------------------------------------------------------------


class FieldError(Schema):
    """One bad input: `pointer` for the JSON body, or `parameter` and `in` for a parameter."""

    pointer: str | None = Field(
        None,
        description='JSON Pointer (RFC 6901) into the request body, e.g. "/details/firstName"; "" is the whole body.',
        examples=["/invitees/0/email"],
    )
    parameter: str | None = Field(None, description="The query, path or header parameter.", examples=["pageSize"])
    in_: str | None = Field(
        None, alias="in", description="Where `parameter` is: query, path, header or cookie.", examples=["query"]
    )
    message: str = Field(examples=["This field is required."])
    code: str = Field(examples=["missing"])


class Problem(Schema):
    """An RFC 9457 problem detail with Trustroom's extension members."""

    type: str = Field(examples=["urn:trustroom:problem:ResourceNotFound"])
    title: str = Field(examples=["NotFound"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["The resource does not exist."])
    instance: str | None = Field(examples=["/api/v1/members/0190b5a0-0000-7000-8000-000000000000"])
    code: str = Field(examples=["NotFound"])
    sub_code: str = Field(examples=["ResourceNotFound"])
    correlation_id: str = Field(examples=["6f1c2b1e9c7d4d0e8f3a2b1c0d9e8f7a"])
    errors: list[FieldError] | None = None


def problem_body(error: AppError, instance: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:trustroom:problem:{error.sub_code}",
        "title": error.code,
        "status": error.status,
        "detail": i18n.gettext(error.text, **error.params),
        "instance": instance,
        "code": error.code,
        "subCode": error.sub_code,
        "correlationId": correlation_id.get(),
    }
    if error.problems:
        body["errors"] = [_field_error(problem) for problem in error.problems]
    return body


def _field_error(problem: FieldProblem) -> dict[str, str]:
    located = (
        {"pointer": problem.pointer}
        if problem.pointer is not None
        else {"parameter": problem.parameter or "", "in": problem.location or ""}
    )
    return {**located, "message": i18n.gettext(problem.message), "code": problem.code}


# RFC 6750 §3: every 401 names the scheme; `invalid_token` only when credentials were sent.
WWW_AUTHENTICATE = 'Bearer realm="trustroom"'
WWW_AUTHENTICATE_INVALID = 'Bearer realm="trustroom", error="invalid_token"'


def problem_response(error: AppError, instance: str | None) -> JSONResponse:
    headers = {CORRELATION_HEADER: correlation_id.get(), **error.headers}
    if error.status == 401:
        invalid = isinstance(error, errors.InvalidApiKey)
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE_INVALID if invalid else WWW_AUTHENTICATE)
    return JSONResponse(problem_body(error, instance), error.status, headers=headers, media_type=PROBLEM_JSON)


# Pydantic's own messages, in our catalog so they reach the caller in their language.
VALIDATION_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not allowed."),
    "string_too_short": N_("This value is too short."),
    "string_too_long": N_("This value is too long."),
    "value_error": N_("This value is not valid."),
    "enum": N_("This value is not one of the allowed values."),
    "literal_error": N_("This value is not one of the allowed values."),
    "uuid_parsing": N_("This is not a valid id."),
    "int_parsing": N_("This is not a whole number."),
    "greater_than_equal": N_("This value is too small."),
    "less_than_equal": N_("This value is too large."),
}
DEFAULT_VALIDATION_MESSAGE = N_("This value is not valid.")
PARAMETER_LOCATIONS = frozenset({"query", "path", "header", "cookie"})
_ABSENT = object()


def validation_problems(raw: Sequence[Any], body: Any = _ABSENT) -> list[FieldProblem]:
    """Pydantic's errors, each located by JSON Pointer into `body` or by parameter name."""
    problems = []
    for item in raw:
        kind = str(item.get("type", "value_error"))
        message = VALIDATION_MESSAGES.get(kind, DEFAULT_VALIDATION_MESSAGE)
        where, *path = item.get("loc", ()) or ("body",)
        if where in PARAMETER_LOCATIONS:
            problems.append(FieldProblem.in_parameter(where, str(path[0]) if path else "", message, kind))
        else:
            problems.append(FieldProblem(json_pointer(*_document_path(path, body, kind)), message, kind))
    return problems


def _document_path(loc: Sequence[Any], document: Any, kind: str) -> list[Any]:
    """The parts of a Pydantic location that exist in the document.

    Pydantic puts validator names in locations (`str` and `int` for the members of a union,
    `function-after[...]`, `[key]` for a mapping's key); they are no place in the body.
    A part is kept when the document has it, and a missing field's own name is kept too.
    """
    if document is _ABSENT:
        return list(loc)
    kept: list[Any] = []
    node = document
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str) and (part in node or (last and kind == "missing")):
            kept.append(part)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            kept.append(part)
            node = node[part]
    return kept


def json_invalid(exc: json.JSONDecodeError) -> errors.JsonInvalid:
    return errors.JsonInvalid(reason=exc.msg, line=exc.lineno, column=exc.colno)


def not_utf8(exc: UnicodeDecodeError) -> errors.JsonInvalid:
    """JSON must be UTF-8 text (RFC 8259 §8.1): where the first byte that is not."""
    before = bytes(exc.object[: exc.start]).decode("utf-8", "replace")
    line = before.count("\n") + 1
    return errors.JsonInvalid(reason="Invalid UTF-8", line=line, column=len(before) - before.rfind("\n"))


def parse_json(raw: bytes | str) -> Any:
    """A JSON body, or JsonInvalid naming the line and column where it breaks."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise json_invalid(exc) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(exc) from exc


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    # FastAPI reports a body that does not parse as one error at `("body", <offset>)`.
    if len(raw) == 1 and raw[0].get("type") == "json_invalid" and isinstance(exc.body, str):
        position = raw[0]["loc"][-1] if isinstance(raw[0]["loc"][-1], int) else 0
        reason = str(raw[0].get("ctx", {}).get("error", "Expecting value"))
        decode_error = json.JSONDecodeError(reason, exc.body, position)
        return problem_response(json_invalid(decode_error), request.url.path)
    body = exc.body if exc.body is not None else _ABSENT
    error = errors.ValidationFailed(validation_problems(raw, body))
    return problem_response(error, request.url.path)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    mapped: dict[int, type[AppError]] = {
        404: errors.RouteNotFound,
        405: errors.MethodNotAllowed,
        413: errors.PayloadTooLarge,
    }
    error = mapped.get(exc.status_code, errors.BadRequest)()
    if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's answer to a body not in UTF-8
        error = not_utf8(exc.__cause__)
    response = problem_response(error, request.url.path)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def endpoints(app: Any) -> list[tuple[str, frozenset[str]]]:
    """Every HTTP endpoint as (path template, methods), looking inside included routers."""
    found = []
    for context in iter_route_contexts(app.routes):
        if context.path_format and context.methods:
            found.append((context.path_format, frozenset(context.methods)))
    return found


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        # The path with its convertors (`{contact_id:uuid}`), so `/contacts/search` is not
        # taken for a contact id.
        if context.path and context.methods and compile_path(context.path)[0].match(request.url.path):
            methods |= set(context.methods)
    return sorted(methods)


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    record = exc.record
    headers = {"Idempotency-Replayed": "true", CORRELATION_HEADER: correlation_id.get()}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, record.status, headers=headers, media_type=record.content_type)


def install_exception_handlers(app: Any) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _starlette_error)
    app.add_exception_handler(IdempotentReplay, _replay)


def _example(error: type[AppError]) -> dict[str, Any]:
    return {
        "type": f"urn:trustroom:problem:{error.sub_code}",
        "title": error.code,
        "status": error.status,
        "detail": error.message,
        "instance": "/api/v1/…",
        "code": error.code,
        "subCode": error.sub_code,
        "correlationId": "6f1c2b1e9c7d4d0e8f3a2b1c0d9e8f7a",
    }


def error_responses(*extra: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem bodies: the common ones plus a route's own errors."""
    by_status: dict[int, list[type[AppError]]] = {}
    common: tuple[type[AppError], ...] = (
        errors.BadRequest,
        errors.ValidationFailed,
        errors.Unauthorized,
        errors.InvalidApiKey,
        errors.ApiKeyRevoked,
        errors.ApiKeyExpired,
        errors.Forbidden,
        errors.NotFound,
        errors.PayloadTooLarge,  # any request past TRUSTROOM_MAX_REQUEST_BYTES
        errors.TooManyRequests,
        errors.InternalError,
    )
    for error in (*common, *extra):
        by_status.setdefault(error.status, []).append(error)
    return {status: _problem_responses(errs) for status, errs in sorted(by_status.items())}


def _problem_responses(errs: Sequence[type[AppError]]) -> dict[str, Any]:
    documented: dict[str, Any] = {
        "model": Problem,
        "description": ", ".join(sorted({e.sub_code for e in errs})),
        "content": {
            PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": {e.sub_code: {"value": _example(e)} for e in errs},
            }
        },
    }
    if errs[0].status == 401:
        documented["headers"] = {
            "WWW-Authenticate": {
                "required": True,
                "description": f'`{WWW_AUTHENTICATE}` without credentials, else with `error="invalid_token"`.',
                "schema": {"type": "string"},
            }
        }
    return documented


def _with_example(documented: dict[str, Any], error: type[AppError]) -> dict[str, Any]:
    """A copy of a documented problem response that also shows `error` (responses are shared)."""
    content = documented["content"][PROBLEM_JSON]
    return {
        **documented,
        "description": f"{documented['description']}, {error.sub_code}",
        "content": {
            PROBLEM_JSON: {**content, "examples": {**content["examples"], error.sub_code: {"value": _example(error)}}}
        },
    }


JSON_MEDIA_TYPES = "application/json"


def is_json_media_type(content_type: str) -> bool:
    """application/json or any application/*+json, parameters aside (as FastAPI parses bodies)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _require_json(request: Request) -> None:
    """A route with a JSON body refuses a body of another type, or one with no type, with 415.

    Without a body there is nothing to mistype: validation then says the body is missing.
    """
    content_type = request.headers.get("content-type")
    if content_type is None:
        sent = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        if sent:
            raise errors.ContentTypeMissing(accepted=JSON_MEDIA_TYPES)
    elif not is_json_media_type(content_type):
        raise errors.UnsupportedMediaType(content_type=content_type[:100], accepted=JSON_MEDIA_TYPES)


# --- sessions and actors ------------------------------------------------------------------


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def get_keys(request: Request) -> ServerKeys:
    keys: ServerKeys = request.app.state.keys
    return keys


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# Dependencies are `async def`: FastAPI runs a plain `def` one in the thread pool, a hop
# that costs more than the work.
async def _keys(request: Request) -> ServerKeys:
    return get_keys(request)


async def _settings(request: Request) -> Settings:
    return get_settings(request)


KeysDep = Annotated[ServerKeys, Depends(_keys)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; its transaction ends before the response is sent.

    A session that never opened a transaction (a GET answered from caches, or one that
    failed before its first statement) has nothing to commit or roll back: no round trip.
    """
    async with _transaction(request, write=request.method not in READ_METHODS) as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A write session even for a GET: for reads that may have to record something (a
    signer's invalid invite token counts against their address)."""
    async with _transaction(request, write=True) as session:
        yield session


@contextlib.asynccontextmanager
async def _transaction(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    # A context manager (not a generator iterated by `async for`): the endpoint's error
    # must reach the except clauses below, so errors that keep their writes commit them.
    session = get_database(request).session(write=write)
    request.state.session = session
    try:
        yield session
        if session.in_transaction():
            await session.commit()
    except AppError as error:
        if session.in_transaction():
            await (session.commit() if error.keeps_writes else session.rollback())
        raise
    except BaseException:
        if session.in_transaction():
            await session.rollback()
        raise
    finally:
        await session.close()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]


# Declares Bearer authentication in the OpenAPI document; the authenticator reads the header.
bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="trk_…", description="An API key.")


async def current_actor(
    request: Request,
    session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        authenticate: Authenticator = request.app.state.authenticator
        actor = await authenticate(request, session)
        request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(permission: str) -> Any:
    """A dependency that yields the actor when it holds `permission`."""

    async def dependency(actor: CurrentActor) -> Actor:
        if not actor.can(permission):
            raise errors.MissingScope(permission=permission)
        return actor

    dependency.__name__ = f"require_{permission.replace(':', '_').replace('-', '_')}"
    return Depends(dependency)


def _paging(default_order: SortOrder) -> Callable[..., Awaitable[Paging]]:
    async def paging(
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, alias="pageSize")] = 50,
        sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = default_order,
    ) -> Paging:
        return Paging(page=page, page_size=page_size, sort_order=sort_order)

    return paging


PagingDep = Annotated[Paging, Depends(_paging(SortOrder.DESCENDING))]
# For lists in name order (a catalogue), where A to Z is the natural first page.
NameOrderPagingDep = Annotated[Paging, Depends(_paging(SortOrder.ASCENDING))]


# --- idempotency --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: bytes
    content_type: str
    location: str | None


class IdempotentReplay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        # Copied out of the ORM row: the session rolls back before the answer is sent.
        self.record = StoredAnswer(record.status, record.body, record.content_type, record.location)


async def _idempotency(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Send the same key again to get the first answer instead of a second create.",
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    body = await request.body()
    fingerprint = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()
    principal = actor.principal
    found = select(IdempotencyRecord).where(
        IdempotencyRecord.tenant_id == actor.tenant_id,
        IdempotencyRecord.principal == principal,
        IdempotencyRecord.key == idempotency_key,
    )
    record = await session.scalar(found)
    ttl = timedelta(seconds=request.app.state.settings.auth.idempotency_ttl_seconds)
    if record is not None and record.created_at < utcnow() - ttl:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        record = None
    if record is not None:
        if record.fingerprint != fingerprint:
            raise errors.IdempotencyKeyReused()
        raise IdempotentReplay(record)
    request.state.idempotency = (actor.tenant_id, principal, idempotency_key, fingerprint)


LANGUAGE_PARAMETER = "language"
CLIENT_PAGES_PREFIX = "/x/"
IDEMPOTENT = Depends(_idempotency)
IDEMPOTENCY_ERRORS = (errors.IdempotencyKeyReused, errors.IdempotencyKeyInUse)
UNSUPPORTED_MEDIA_TYPE_ERRORS = (errors.UnsupportedMediaType, errors.ContentTypeMissing)


class ApiRoute(APIRoute):
    """Refuses unknown query parameters and bodies that are not JSON where JSON is taken;
    stores a create's answer under its Idempotency-Key inside the request's transaction."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.takes_json and 415 not in self.responses:
            self.responses = {**self.responses, 415: _problem_responses(UNSUPPORTED_MEDIA_TYPE_ERRORS)}
            if 400 in self.responses:
                self.responses[400] = _with_example(self.responses[400], errors.JsonInvalid)

    @property
    def takes_json(self) -> bool:
        return self.body_field is not None and not isinstance(self.body_field.field_info, params.Form)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.takes_json
        # Unknown query parameters are refused like unknown body fields: a misspelt filter
        # must not silently return everything. `language` is read by the middleware.
        known = {field.alias for field in get_flat_params(self.dependant) if isinstance(field.field_info, params.Query)}
        known.add(LANGUAGE_PARAMETER)

        async def handle(request: Request) -> Response:
            if takes_json:
                _require_json(request)
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise RequestValidationError(
                    [
                        {"loc": ("query", name), "msg": "unknown parameter", "type": "extra_forbidden"}
                        for name in unknown
                    ]
                )
            response = await handler(request)
            pending = getattr(request.state, "idempotency", None)
            if pending is not None and response.status_code < 300:
                tenant_id, principal, key, fingerprint = pending
                session: AsyncSession = request.state.session
                session.add(
                    IdempotencyRecord(
                        tenant_id=tenant_id,
                        principal=principal,
                        key=key,
                        fingerprint=fingerprint,
                        status=response.status_code,
                        body=bytes(response.body),
                        content_type=response.media_type or "application/json",
                        location=response.headers.get("location"),
                    )
                )
                try:
                    await session.flush()
                except IntegrityError as exc:
                    raise errors.IdempotencyKeyInUse() from exc
            return response

        return handle
