"""What the dossier pages share: the routers' dependencies, the labels of states, roles and
kinds in the page's language, and turning refusals into messages beside form fields."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form
from pydantic import ValidationError

from ... import i18n
from ...actor import Actor, Scope
from ...errors import N_, AppError, MissingScope
from ...http import VALIDATION_MESSAGES
from ...web import Pages, get_pages
from ..evidence import texts

PagesDep = Annotated[Pages, Depends(get_pages)]
CsrfField = Annotated[str | None, Form(max_length=200)]
BASE = "/portal/dossiers"
INVALID = N_("This value is not valid.")

# The states' and roles' names are the audit report's (one translation for both).
DOSSIER_STATES = INVITEE_STATES = texts.STATES
INVITE_STATES = {
    "scheduled": N_("Scheduled"),
    "sent": N_("Sent"),
    "expired": N_("Expired"),
    "revoked": N_("Replaced"),
}
ROLES = texts.ROLES
METHODS = {"ses": N_("Simple electronic signature (SES)"), "aes": N_("Advanced electronic signature (AES)")}
AUTHENTICATION = {"otp_email": N_("Code by email"), "otp_sms": N_("Code by SMS")}
CHANNELS = {"email": N_("By email"), "link": N_("As a link I deliver myself")}
FIELD_KINDS = {
    "signature": N_("Signature"),
    "initials": N_("Initials"),
    "date": N_("Date"),
    "text": N_("Text"),
    "checkbox": N_("Checkbox"),
}
LOCALES = ("de-CH", "de-DE", "en-GB", "fr-CH", "it-CH")
# How many distinct invitee colours the stylesheet has (.invitee-0 … .invitee-7).
COLOURS = 8


def require(actor: Actor, scope: Scope) -> None:
    if not actor.can(scope):
        raise MissingScope(permission=scope)


def labels() -> dict[str, dict[str, str]]:
    """Every label the templates show for a code, in the page's language."""
    groups = {
        "dossier_states": DOSSIER_STATES,
        "invitee_states": INVITEE_STATES,
        "invite_states": INVITE_STATES,
        "roles": ROLES,
        "methods": METHODS,
        "authentication": AUTHENTICATION,
        "channels": CHANNELS,
        "field_kinds": FIELD_KINDS,
    }
    return {name: {code: i18n.gettext(text) for code, text in group.items()} for name, group in groups.items()}


def problem_messages(error: AppError) -> dict[str, str]:
    """The error's messages by the JSON Pointer they blame ("" for the whole request)."""
    if not error.problems:
        return {"": i18n.gettext(error.text, **error.params)}
    found: dict[str, str] = {}
    for problem in error.problems:
        same = problem.message == error.text
        text = i18n.gettext(error.text, **error.params) if same else i18n.gettext(problem.message)
        found.setdefault(problem.pointer or "", text)
    return found


def validation_messages(exc: ValidationError) -> dict[str, str]:
    """A schema's refusals by JSON Pointer (the body's field names, camelCase)."""
    found: dict[str, str] = {}
    for problem in exc.errors():
        pointer = "".join(f"/{part}" for part in problem["loc"])
        found.setdefault(pointer, i18n.gettext(VALIDATION_MESSAGES.get(problem["type"], INVALID)))
    return found


def json_problem(status: int, messages: dict[str, str]) -> dict[str, Any]:
    """What the page scripts read from a refusal: the general message and each field's."""
    general = messages.get("") or i18n.gettext(N_("Some fields are not valid."))
    return {
        "status": status,
        "detail": general,
        "errors": [{"pointer": pointer, "message": text} for pointer, text in messages.items() if pointer],
    }
