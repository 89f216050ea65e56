"""JSON API of legal entities: /api/v1/legal-entities, with their contact access policies."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from ...http import API_PREFIX, IDEMPOTENCY_ERRORS, IDEMPOTENT, ApiRoute, SessionDep, error_responses
from .. import errors
from ..deps import VerifierDep
from ..models import RecordKind
from ..schemas import (
    ChangeRequestRead,
    ContactAccessPolicies,
    ContactAccessPolicy,
    ContactAccessPolicyRead,
    DetailsUpdate,
    DetailsUpdated,
    LegalEntityCreate,
    LegalEntityRead,
    Review,
)
from ..service import change_requests, legal_entities, records
from ..service.legal_entities import Policy
from .change_requests import REVIEW_ERRORS, change_request_read, review
from .contacts import (
    UPDATE_ERRORS,
    ContactsRead,
    ContactsWrite,
    IfMatch,
    Reviewer,
    update_details,
)

router = APIRouter(
    prefix=f"{API_PREFIX}/legal-entities",
    tags=["client records: legal entities"],
    route_class=ApiRoute,
    responses=error_responses(errors.LegalEntityNotFound),
)


def _policies(body: list[ContactAccessPolicy]) -> list[Policy]:
    return [Policy(item.contact_id, item.role_id, str(item.access)) for item in body]


async def _read(session: SessionDep, actor: ContactsRead, entity_id: UUID, response: Response) -> LegalEntityRead:
    found = await records.get(session, actor, RecordKind.LEGAL_ENTITY, entity_id)
    record = found.record
    policies = await legal_entities.policies(session, actor, record)
    response.headers["ETag"] = f'"{record.concurrency_token}"'
    return LegalEntityRead(
        id=record.id,
        details=record.details,
        contacts=[ContactAccessPolicyRead.model_validate(policy, from_attributes=True) for policy in policies],
        has_pending_change_request=found.has_pending_change_request,
        schema_version=record.schema_version,
        concurrency_token=record.concurrency_token,
        created_at=record.created_at,
        updated_at=record.updated_at,
        anonymized_at=record.anonymized_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=LegalEntityRead,
    dependencies=[IDEMPOTENT],
    responses=error_responses(
        errors.DetailsInvalid, errors.FieldNotUpdatable, errors.AccessPolicyInvalid, *IDEMPOTENCY_ERRORS
    ),
)
async def create_legal_entity(
    body: LegalEntityCreate, session: SessionDep, actor: ContactsWrite, response: Response
) -> LegalEntityRead:
    """Create a legal entity with the contacts that may see it or act for it."""
    entity = await legal_entities.create(
        session, actor, body.details, _policies(body.contacts), correlation_id=body.correlation_id
    )
    response.headers["Location"] = f"{API_PREFIX}/legal-entities/{entity.id}/details"
    return await _read(session, actor, entity.id, response)


@router.get("/{legal_entity_id:uuid}/details", response_model=LegalEntityRead)
async def get_legal_entity(
    legal_entity_id: UUID, session: SessionDep, actor: ContactsRead, response: Response
) -> LegalEntityRead:
    """A legal entity: details, contact access policies and what is pending on it."""
    return await _read(session, actor, legal_entity_id, response)


@router.put(
    "/{legal_entity_id:uuid}/details",
    response_model=DetailsUpdated,
    responses=error_responses(*UPDATE_ERRORS, errors.NotActingFor),
)
async def replace_legal_entity_details(
    legal_entity_id: UUID,
    body: DetailsUpdate,
    session: SessionDep,
    actor: ContactsWrite,
    verifier: VerifierDep,
    if_match: IfMatch = None,
) -> DetailsUpdated:
    """Replace all details, under the same rules as a contact's (approval fields wait)."""
    kind = RecordKind.LEGAL_ENTITY
    return await update_details(kind, legal_entity_id, body, session, actor, verifier, if_match, partial=False)


@router.patch(
    "/{legal_entity_id:uuid}/details",
    response_model=DetailsUpdated,
    responses=error_responses(*UPDATE_ERRORS, errors.NotActingFor),
)
async def patch_legal_entity_details(
    legal_entity_id: UUID,
    body: DetailsUpdate,
    session: SessionDep,
    actor: ContactsWrite,
    verifier: VerifierDep,
    if_match: IfMatch = None,
) -> DetailsUpdated:
    """Change some details (JSON Merge Patch)."""
    kind = RecordKind.LEGAL_ENTITY
    return await update_details(kind, legal_entity_id, body, session, actor, verifier, if_match, partial=True)


@router.put(
    "/{legal_entity_id:uuid}/contacts",
    response_model=LegalEntityRead,
    responses=error_responses(errors.AccessPolicyInvalid),
)
async def replace_contact_access(
    legal_entity_id: UUID, body: ContactAccessPolicies, session: SessionDep, actor: ContactsWrite, response: Response
) -> LegalEntityRead:
    """Replace the contacts that may see or act for the entity."""
    await legal_entities.set_policies(session, actor, legal_entity_id, _policies(body.contacts))
    return await _read(session, actor, legal_entity_id, response)


@router.get(
    "/{legal_entity_id:uuid}/change-requests/{change_request_id}",
    response_model=ChangeRequestRead,
    responses=error_responses(errors.ChangeRequestNotFound),
)
async def get_change_request(
    legal_entity_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsRead
) -> ChangeRequestRead:
    """One change request on the legal entity, with its changes."""
    found = await change_requests.get(session, actor, RecordKind.LEGAL_ENTITY, legal_entity_id, change_request_id)
    return change_request_read(found)


@router.post(
    "/{legal_entity_id:uuid}/change-requests/{change_request_id}/cancel",
    response_model=ChangeRequestRead,
    responses=error_responses(errors.ChangeRequestNotFound, errors.NotInitiator, errors.ChangeRequestNotPending),
)
async def cancel_change_request(
    legal_entity_id: UUID, change_request_id: UUID, session: SessionDep, actor: ContactsWrite
) -> ChangeRequestRead:
    """Withdraw a pending request; only the member who made it may."""
    found = await change_requests.cancel(session, actor, RecordKind.LEGAL_ENTITY, legal_entity_id, change_request_id)
    return change_request_read(found)


@router.post(
    "/{legal_entity_id:uuid}/change-requests/{change_request_id}/review",
    response_model=ChangeRequestRead,
    responses=error_responses(*REVIEW_ERRORS),
)
async def review_change_request(
    legal_entity_id: UUID,
    change_request_id: UUID,
    body: Review,
    session: SessionDep,
    actor: Reviewer,
    verifier: VerifierDep,
) -> ChangeRequestRead:
    """Approve (the change applies now) or reject (say why). Never your own request."""
    kind = RecordKind.LEGAL_ENTITY
    return await review(kind, legal_entity_id, change_request_id, body, session, actor, verifier)
