"""The contact page's form: the schema's layout as sections of inputs (selects for lists,
with a country's subdivisions under the country chosen), and a posted text read back as
the field's JSON type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...actor import Actor, Scope
from ...errors import N_
from ...i18n import current_language, gettext
from .. import fields, validation
from ..fields import FieldPolicy, Section
from ..service import writes
from ..service.definitions import LoadedSchema
from .record_view import Lists, as_text

INPUT_TYPES = {"email": "email", "date": "date", "phone": "tel", "date-time": "datetime-local"}
CHOOSE_PARENT_FIRST = N_("Choose the country first, save, then pick from its list.")


@dataclass
class FormField:
    name: str  # the JSON Pointer, also the form field's name
    label: str
    value: str
    input_type: str
    editable: bool
    options: list[tuple[str, str]] | None  # (value, what the reader sees)
    required: bool
    needs_approval: bool
    problem: str | None = None
    hint: str | None = None


@dataclass
class FormSection:
    label: str
    depth: int
    fields: list[FormField] = field(default_factory=list)


def form_sections(
    actor: Actor,
    schema: LoadedSchema,
    details: dict[str, Any],
    problems: dict[str, str],
    posted: dict[str, str],
    known_lists: Lists,
) -> list[FormSection]:
    """The schema's layout as sections of inputs, holding the posted values after a refusal."""
    language = current_language.get()
    sections: list[FormSection] = []

    def visit(section: Section, depth: int) -> None:
        current = FormSection(section.label(language) if depth else "", depth)
        sections.append(current)
        for child in section.children:
            if isinstance(child, Section):
                visit(child, depth + 1)
                continue
            if child.is_disabled:
                continue
            value = _value(child, details, posted)
            options, hint = _options(schema, child, value, details, posted, known_lists)
            current.fields.append(_input(actor, child, value, options, hint, problems, language))

    visit(schema.map.root, 0)
    return [section for section in sections if section.fields]


def _value(policy: FieldPolicy, details: dict[str, Any], posted: dict[str, str]) -> str:
    return posted[policy.pointer] if policy.pointer in posted else as_text(fields.get(details, policy.pointer))


def _options(
    schema: LoadedSchema,
    policy: FieldPolicy,
    value: str,
    details: dict[str, Any],
    posted: dict[str, str],
    known_lists: Lists,
) -> tuple[list[tuple[str, str]] | None, str | None]:
    """What a select offers, with the names of list items (countries, languages …) in the
    page's language; None for a free input. Items under a parent (a country's subdivisions)
    are those of the parent chosen in the same section."""
    hint = None
    if policy.json_type == "boolean":
        options = [("true", "true"), ("false", "false")]
    elif policy.list_key in known_lists:
        items = known_lists[policy.list_key]
        if any(item.parent_id is not None for item in items):
            parent = _parent_value(schema, policy, details, posted, known_lists)
            items = tuple(item for item in items if item.parent_id == parent) if parent else ()
            hint = None if parent else gettext(CHOOSE_PARENT_FIRST)
        names = {item.id: item.name for item in items}
        if policy.enum:
            options = [(as_text(option), names.get(as_text(option), as_text(option))) for option in policy.enum]
        else:
            options = list(names.items())
    elif policy.enum:
        options = [(as_text(option), as_text(option)) for option in policy.enum]
    else:
        return None, None
    if value and all(option != value for option, _ in options):
        options.insert(0, (value, value))  # a stored value the list no longer holds stays visible
    return options, hint


def _parent_value(
    schema: LoadedSchema, policy: FieldPolicy, details: dict[str, Any], posted: dict[str, str], known_lists: Lists
) -> str:
    """The value of the sibling field whose list holds this list's parents (the country)."""
    parents = {item.parent_id for item in known_lists[policy.list_key or ""]}
    for sibling in schema.map.list_fields_by_section.get(policy.section, []):
        if sibling.list_key == policy.list_key or sibling.list_key not in known_lists:
            continue
        if any(item.id in parents for item in known_lists[sibling.list_key]):
            return _value(sibling, details, posted)
    return ""


def _input(
    actor: Actor,
    policy: FieldPolicy,
    value: str,
    options: list[tuple[str, str]] | None,
    hint: str | None,
    problems: dict[str, str],
    language: str,
) -> FormField:
    kind = "number" if policy.json_type in ("number", "integer") else INPUT_TYPES.get(policy.format or "", "text")
    return FormField(
        name=policy.pointer,
        label=policy.label(language),
        value=value,
        input_type=kind,
        editable=actor.can(Scope.CONTACTS_WRITE) and writes.refusal(actor, policy) is None,
        options=options,
        required=policy.is_mandatory,
        needs_approval=writes.needs_approval(actor, policy),
        problem=problems.get(f"{validation.DETAILS}{policy.pointer}"),
        hint=hint,
    )


def parsed_value(policy: FieldPolicy, raw: str) -> Any:
    """A posted text as the field's JSON type; None (remove) for an empty one."""
    text = raw.strip()
    if not text:
        return None
    if policy.json_type == "boolean":
        return text == "true"
    if policy.json_type in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            return text  # the validator names the field
        return int(number) if policy.json_type == "integer" and number.is_integer() else number
    return text
