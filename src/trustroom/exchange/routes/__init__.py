"""JSON API of secure exchange: /api/v1/exchanges and what lives inside one."""

from __future__ import annotations

from fastapi import APIRouter

from . import documents, exchanges, folders

ROUTERS: tuple[APIRouter, ...] = (exchanges.router, folders.router, documents.router)
