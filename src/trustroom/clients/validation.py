"""Checking details against their schema, with problems named by JSON Pointer.

jsonschema (Draft 2020-12) does the structural work; formats it leaves loose are checked
properly here: `email` with email-validator (syntax only, no DNS), `phone` as a valid
E.164 number with phonenumbers, `date` as an ISO calendar date. Values of fields with a
`listKey` must be ids of that list, and an item with a parent (a subdivision) must sit
under the value chosen for the parent list's field in the same section (its country).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError as MetaSchemaError
from jsonschema.exceptions import ValidationError

from ..errors import N_, FieldProblem, json_pointer
from . import fields
from .fields import SchemaMap

# What each JSON Schema keyword's failure means, in words we translate.
_MESSAGES = {
    "required": N_("This field is required."),
    "type": N_("This value has the wrong type."),
    "format": N_("This value is not in the expected format."),
    "minLength": N_("This value is too short."),
    "maxLength": N_("This value is too long."),
    "pattern": N_("This value is not in the expected format."),
    "enum": N_("This value is not one of the allowed values."),
    "const": N_("This value is not one of the allowed values."),
    "additionalProperties": N_("This field is not in the schema."),
    "minimum": N_("This value is too small."),
    "exclusiveMinimum": N_("This value is too small."),
    "maximum": N_("This value is too large."),
    "exclusiveMaximum": N_("This value is too large."),
    "minItems": N_("This list has too few entries."),
    "maxItems": N_("This list has too many entries."),
    "uniqueItems": N_("This list repeats an entry."),
}
_DEFAULT_MESSAGE = N_("This value is not valid.")
NOT_IN_LIST = N_("This value is not an entry of its list.")
NOT_UNDER_PARENT = N_("This entry does not belong to the chosen parent entry.")
UNKNOWN_FIELD = N_("This field is not in the schema.")

# Problems are JSON Pointers into the request body, where the document is its `details`.
DETAILS = "/details"


def _checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("email", raises=EmailNotValidError)
    def is_email(value: object) -> bool:
        if isinstance(value, str):
            validate_email(value, check_deliverability=False)
        return True

    @checker.checks("phone", raises=phonenumbers.NumberParseException)
    def is_phone(value: object) -> bool:
        if not isinstance(value, str):
            return True
        number = phonenumbers.parse(value, None)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return value == e164 and phonenumbers.is_valid_number(number)

    @checker.checks("date", raises=ValueError)
    def is_date(value: object) -> bool:
        if isinstance(value, str):
            if len(value) != 10:
                raise ValueError(value)
            date.fromisoformat(value)
        return True

    return checker


FORMATS = _checker()


def check_schema(document: Mapping[str, Any]) -> None:
    """Refuse a document that is not a valid JSON Schema 2020-12 (raises SchemaError)."""
    try:
        Draft202012Validator.check_schema(document)
    except MetaSchemaError as exc:
        raise fields.SchemaError("/" + "/".join(str(p) for p in exc.path), exc.message) from exc


@cache
def _validator(document_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(document_json), format_checker=FORMATS)


def _problems(error: ValidationError) -> list[FieldProblem]:
    at = json_pointer(*error.absolute_path)
    message = _MESSAGES.get(str(error.validator), _DEFAULT_MESSAGE)
    keyword = str(error.validator)
    if keyword == "required" and isinstance(error.instance, dict) and isinstance(error.validator_value, list):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [FieldProblem(f"{DETAILS}{at}/{name}", message, "required") for name in missing]
    if keyword == "additionalProperties" and isinstance(error.instance, dict) and isinstance(error.schema, dict):
        known = set(error.schema.get("properties", {}))
        extra = [name for name in error.instance if name not in known]
        return [FieldProblem(f"{DETAILS}{at}/{name}", message, "unknown_field") for name in extra]
    return [FieldProblem(f"{DETAILS}{at}", message, keyword)]


ListIds = Callable[[str], Mapping[str, str | None] | None]
"""A list's ids with their parent ids, by list key; None when there is no such list."""


def validate(document: Mapping[str, Any], schema_json: str, schema: SchemaMap, list_ids: ListIds) -> list[FieldProblem]:
    """Every problem of `document`: schema rules, unknown fields, list membership."""
    validator = _validator(schema_json)
    problems = [problem for error in validator.iter_errors(document) for problem in _problems(error)]
    reported = {problem.pointer or "" for problem in problems}
    for pointer in fields.unknown_pointers(document, schema):
        if f"{DETAILS}{pointer}" not in reported and not any(f.startswith(f"{DETAILS}{pointer}/") for f in reported):
            problems.append(FieldProblem(f"{DETAILS}{pointer}", UNKNOWN_FIELD, "unknown_field"))
    problems.extend(_list_problems(document, schema, list_ids))
    return sorted(set(problems), key=lambda problem: problem.pointer or "")


def _list_problems(document: Mapping[str, Any], schema: SchemaMap, list_ids: ListIds) -> list[FieldProblem]:
    problems = []
    for policy in schema.fields.values():
        value = fields.get(document, policy.pointer)
        if policy.list_key is None or not isinstance(value, str):
            continue
        ids = list_ids(policy.list_key)
        if ids is None:
            continue  # a list not defined (yet): the schema's own rules apply
        if value not in ids:
            problems.append(FieldProblem(f"{DETAILS}{policy.pointer}", NOT_IN_LIST, "not_in_list"))
            continue
        parent = ids[value]
        if parent is None:
            continue
        # The parent's field: a sibling whose list holds the parent id (country for a subdivision).
        for sibling in schema.list_fields_by_section[policy.section]:
            if sibling.list_key == policy.list_key:
                continue
            sibling_ids = list_ids(sibling.list_key or "")
            chosen = fields.get(document, sibling.pointer)
            if sibling_ids is not None and parent in sibling_ids and isinstance(chosen, str) and chosen != parent:
                problems.append(FieldProblem(f"{DETAILS}{policy.pointer}", NOT_UNDER_PARENT, "not_under_parent"))
    return problems
