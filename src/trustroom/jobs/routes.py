"""GET /api/v1/jobs/{id}: the state, progress and result of a long job."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from .. import i18n
from ..actor import Actor, Scope
from ..http import API_PREFIX, ApiRoute, CurrentActor, NameOrderPagingDep, SessionDep, error_responses, require
from ..schemas import Page, Slice, SortOrder
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


@events_router.get("", response_model=Page[EventTypeRead])
async def list_event_types(
    _actor: CurrentActor, catalogue: Annotated[Catalogue, Depends(get_catalogue)], paging: NameOrderPagingDep
) -> Slice[EventTypeRead]:
    """Every event type Trustroom emits, with the JSON Schema of its `data`, in name order."""
    types = list(catalogue)
    if paging.sort_order is SortOrder.DESCENDING:
        types.reverse()
    chosen = types[paging.offset : paging.offset + paging.page_size]
    return paging.page_of(
        [
            EventTypeRead(
                type=t.name, description=i18n.gettext(t.description), data_schema=t.json_schema(), formerly=t.formerly
            )
            for t in chosen
        ],
        len(types),
    )
