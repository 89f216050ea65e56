"""GET /api/v1/audit-events: search the tenant's audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..actor import Actor, Scope
from ..http import API_PREFIX, ApiRoute, PagingDep, SessionDep, error_responses, require
from ..schemas import Page, Slice, Text, Timestamp
from . import service
from .models import AuditEvent
from .schemas import AuditEventRead, AuditFilter

router = APIRouter(
    prefix=f"{API_PREFIX}/audit-events", tags=["audit"], route_class=ApiRoute, responses=error_responses()
)


@router.get("", response_model=Page[AuditEventRead])
async def search_audit_events(
    session: SessionDep,
    paging: PagingDep,
    actor: Annotated[Actor, require(Scope.AUDIT_READ)],
    actor_id: Annotated[Text | None, Query(alias="actor", max_length=64, description="Member or API key id.")] = None,
    action: Annotated[
        Text | None, Query(max_length=100, description="Exact action, or a prefix ending in `*`.")
    ] = None,
    target_type: Annotated[Text | None, Query(alias="targetType", max_length=50)] = None,
    target_id: Annotated[Text | None, Query(alias="targetId", max_length=64)] = None,
    occurred_from: Annotated[Timestamp | None, Query(alias="from", description="Inclusive, RFC 3339.")] = None,
    occurred_to: Annotated[Timestamp | None, Query(alias="to", description="Exclusive, RFC 3339.")] = None,
) -> Slice[AuditEvent]:
    """Search the audit log, newest first unless sortOrder=Ascending."""
    criteria = AuditFilter(
        actor=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    return await service.search(session, actor, criteria, paging)
