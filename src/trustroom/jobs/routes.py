"""GET /api/v1/jobs/{id}: the state, progress and result of a long job."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from .. import i18n
from ..actor import Actor, Scope
from ..http import API_PREFIX, ApiRoute, CurrentActor, SessionDep, error_responses, require
from . import service
from .catalogue import Catalogue
from .errors import JobNotFound
from .models import Job
from .schemas import EventTypeRead, JobRead

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"], route_class=ApiRoute, responses=error_responses())
events_router = APIRouter(
    prefix=f"{API_PREFIX}/events", tags=["events"], route_class=ApiRoute, responses=error_responses()
)


@router.get("/{job_id}", response_model=JobRead, responses=error_responses(JobNotFound))
async def get_job(job_id: UUID, session: SessionDep, actor: Annotated[Actor, require(Scope.JOBS_READ)]) -> Job:
    """A job of the tenant: state, attempts, progress, result or last error."""
    return await service.get(session, actor, job_id)


def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue


@events_router.get("", response_model=list[EventTypeRead])
async def list_event_types(
    _actor: CurrentActor, catalogue: Annotated[Catalogue, Depends(get_catalogue)]
) -> list[EventTypeRead]:
    """Every event type Trustroom emits, with the JSON Schema of its `data`."""
    return [
        EventTypeRead(type=t.name, description=i18n.gettext(t.description), data_schema=t.json_schema())
        for t in catalogue
    ]
