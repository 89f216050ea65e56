"""JSON API of advisor assignment: who advises a contact, and moving one member's contacts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Response

from ...actor import Actor, Scope
from ...errors import ConcurrencyTokenMismatch
from ...http import SessionDep, error_responses, require
from .. import errors
from ..schemas import AdvisorRead, AdvisorsRead, AdvisorsReassign, AdvisorsReassigned, AdvisorsWrite
from ..service import advisors
from .contacts import ContactsRead, IfMatch, concurrency_token, contacts_router

Assigner = Annotated[Actor, require(Scope.CONTACTS_ASSIGN)]
ASSIGN_ERRORS = (errors.AdvisorNotFound, errors.AdvisorDisabled)


def _read(found: advisors.Assignment, response: Response) -> AdvisorsRead:
    response.headers["ETag"] = f'"{found.concurrency_token}"'
    return AdvisorsRead(
        contact_id=found.record.id,
        advisors=[
            AdvisorRead(
                member_id=advisor.member.id,
                email=advisor.member.email,
                display_name=advisor.member.display_name,
                disabled=advisor.member.disabled,
                assigned_at=advisor.assigned_at,
            )
            for advisor in found.advisors
        ],
        concurrency_token=found.concurrency_token,
    )


@contacts_router.get("/{contact_id:uuid}/advisors", response_model=AdvisorsRead, tags=["client records: advisors"])
async def get_advisors(contact_id: UUID, session: SessionDep, actor: ContactsRead, response: Response) -> AdvisorsRead:
    """The members who advise the contact; they and their supervisors see it and its exchanges."""
    return _read(await advisors.get(session, actor, contact_id), response)


@contacts_router.put(
    "/{contact_id:uuid}/advisors",
    response_model=AdvisorsRead,
    tags=["client records: advisors"],
    responses=error_responses(*ASSIGN_ERRORS, ConcurrencyTokenMismatch),
)
async def replace_advisors(
    contact_id: UUID,
    body: AdvisorsWrite,
    session: SessionDep,
    actor: Assigner,
    response: Response,
    if_match: IfMatch = None,
) -> AdvisorsRead:
    """Replace the contact's advisors; every one must be an active member of the tenant."""
    token = concurrency_token(body.concurrency_token, if_match)
    found = await advisors.replace(session, actor, contact_id, body.advisor_ids, concurrency_token=token)
    return _read(found, response)


@contacts_router.post(
    "/advisors/reassign",
    response_model=AdvisorsReassigned,
    tags=["client records: advisors"],
    responses=error_responses(*ASSIGN_ERRORS, errors.ReassignToSameMember),
)
async def reassign_advisors(body: AdvisorsReassign, session: SessionDep, actor: Assigner) -> AdvisorsReassigned:
    """Move every contact of one member to another, in one transaction (one event with the counts)."""
    moved = await advisors.reassign(session, actor, body.from_member_id, body.to_member_id)
    return AdvisorsReassigned(
        from_member_id=body.from_member_id,
        to_member_id=body.to_member_id,
        contact_count=moved.moved,
        already_assigned_count=moved.already_assigned,
    )
