"""Folders of an exchange."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from ...errors import ConcurrencyTokenMismatch
from ...http import API_PREFIX, ApiRoute, PagingDep, SessionDep, error_responses
from ...schemas import Page, Slice
from ..errors import ExchangeNotFound, FolderNameTaken, FolderNotEmpty, FolderNotFound, NameInvalid
from ..models import Folder
from ..schemas import FolderCreate, FolderRead, FolderUpdate
from ..service import folders
from .exchanges import ExchangesRead, ExchangesWrite, IfMatch, token_from

router = APIRouter(
    prefix=f"{API_PREFIX}/exchanges/{{exchange_id}}/folders",
    tags=["secure exchange"],
    route_class=ApiRoute,
    responses=error_responses(),
)


@router.post(
    "",
    status_code=201,
    response_model=FolderRead,
    responses=error_responses(ExchangeNotFound, FolderNotFound, FolderNameTaken, NameInvalid),
)
async def create_folder(
    exchange_id: UUID, body: FolderCreate, session: SessionDep, actor: ExchangesWrite
) -> FolderRead:
    """A folder at the top level or inside `parentId`."""
    folder = await folders.create(session, actor, exchange_id, body.name, body.parent_id)
    return FolderRead.model_validate(folder)


@router.get("", response_model=Page[FolderRead], responses=error_responses(ExchangeNotFound))
async def list_folders(
    exchange_id: UUID, session: SessionDep, actor: ExchangesRead, paging: PagingDep
) -> Slice[Folder]:
    """The folder tree as a list: each folder before its children, siblings by name."""
    found = await folders.list_folders(session, actor, exchange_id)
    return paging.page_of(found[paging.offset : paging.offset + paging.page_size], len(found))


@router.patch(
    "/{folder_id}",
    response_model=FolderRead,
    responses=error_responses(ExchangeNotFound, FolderNotFound, FolderNameTaken, NameInvalid, ConcurrencyTokenMismatch),
)
async def rename_folder(
    exchange_id: UUID,
    folder_id: UUID,
    body: FolderUpdate,
    session: SessionDep,
    actor: ExchangesWrite,
    if_match: IfMatch = None,
) -> FolderRead:
    """Rename a folder."""
    token = token_from(body.concurrency_token, if_match)
    folder = await folders.rename(session, actor, exchange_id, folder_id, body.name, concurrency_token=token)
    return FolderRead.model_validate(folder)


@router.delete(
    "/{folder_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(ExchangeNotFound, FolderNotFound, FolderNotEmpty),
)
async def delete_folder(
    exchange_id: UUID,
    folder_id: UUID,
    session: SessionDep,
    actor: ExchangesWrite,
    recursive: Annotated[bool, Query(description="Also delete what is inside.")] = False,
) -> None:
    """Delete a folder; one with content only with `recursive=true`."""
    await folders.delete(session, actor, exchange_id, folder_id, recursive=recursive)
