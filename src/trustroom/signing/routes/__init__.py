"""JSON API of e-signatures: /api/v1/dossiers and what lives inside one."""

from __future__ import annotations

from fastapi import APIRouter

from . import documents, dossiers

ROUTERS: tuple[APIRouter, ...] = (dossiers.router, documents.router)
