"""Advisor-portal pages of client records under /portal: the contact list with name search,
the contact page (a form drawn from the schema's layout), its history, and the review queue
where a second member approves or rejects change requests.

Every page acts as the signed-in member through the same services as the API, so the
same visibility, change rules and four-eyes checks apply.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import contact_history, contacts, reviews

ROUTERS: tuple[APIRouter, ...] = (contacts.router, contact_history.router, reviews.router)
