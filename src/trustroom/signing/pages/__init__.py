"""HTML pages of e-signatures: the signer's pages under /s/."""

from __future__ import annotations

from fastapi import APIRouter

from . import signer

ROUTERS: tuple[APIRouter, ...] = (signer.router, signer.link_router)
