"""JSON API of e-signatures: /api/v1/dossiers and what lives inside one."""

from __future__ import annotations

from fastapi import APIRouter

from . import dossiers, invites

ROUTERS: tuple[APIRouter, ...] = (dossiers.router, invites.router)
