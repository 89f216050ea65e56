"""The advisor portal's e-signature pages under /portal/dossiers: the list, creating a
dossier, preparing a draft (invitees, documents, fields placed on the rendered pages) and
sending it, and a sent dossier's progress."""

from __future__ import annotations

from fastapi import APIRouter

from . import dossier_draft, dossier_list, dossier_view

ROUTERS: tuple[APIRouter, ...] = (dossier_list.router, dossier_draft.router, dossier_view.router)
