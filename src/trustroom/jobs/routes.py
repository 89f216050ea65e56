"""GET /api/v1/jobs/{id}: the state, progress and result of a long job."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from ..actor import Actor, Scope
from ..http import API_PREFIX, ApiRoute, SessionDep, error_responses, require
from . import service
from .errors import JobNotFound
from .models import Job
from .schemas import JobRead

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"], route_class=ApiRoute, responses=error_responses())


@router.get("/{job_id}", response_model=JobRead, responses=error_responses(JobNotFound))
async def get_job(job_id: UUID, session: SessionDep, actor: Annotated[Actor, require(Scope.JOBS_READ)]) -> Job:
    """A job of the tenant: state, attempts, progress, result or last error."""
    return await service.get(session, actor, job_id)
