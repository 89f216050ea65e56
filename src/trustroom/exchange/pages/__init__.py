"""HTML pages of secure exchange: the client portal under /x/ (sign-in and the room) and
the advisor portal's exchanges under /portal/exchanges."""

from __future__ import annotations

from fastapi import APIRouter

from . import advisor, client_room, client_sign_in

ROUTERS: tuple[APIRouter, ...] = (client_sign_in.router, client_room.router, advisor.router)
