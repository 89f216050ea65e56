"""HTML pages of e-signatures: the advisor portal's under /portal/dossiers (the list,
creating a dossier, preparing a draft with invitees, documents and fields placed on the
rendered pages, sending it, a sent dossier's progress) and the signer's under /s/."""

from __future__ import annotations

from fastapi import APIRouter

from . import dossier_draft, dossier_list, dossier_view, signer

# The signer's link router last: `/s/<token>` must not shadow `/s/code` and the others.
ROUTERS: tuple[APIRouter, ...] = (
    dossier_list.router,
    dossier_draft.router,
    dossier_view.router,
    signer.router,
    signer.link_router,
)
