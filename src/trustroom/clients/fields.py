"""The pure core of client records: what a details schema says about each field.

A details schema is a JSON Schema 2020-12 document. Objects group fields; every other
property is a field (an array is one field: it is always replaced whole). A field's
metadata sits beside it under the `x-field` keyword, which validators ignore, so the same
document serves external validation and our rules. `policies()` walks the schema once
into a map from JSON Pointer to `FieldPolicy`; diffs, change routing, export columns and
history visibility all read that map.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

FIELD_KEYWORD = "x-field"
SECTION_KEYWORD = "x-section"
LANGUAGES = ("de", "en", "fr", "it")

# Verification channels and the formats that imply them.
EMAIL = "Email"
MOBILE = "Mobile"
CHANNEL_OF_FORMAT = {"email": EMAIL, "phone": MOBILE}

_FLAGS = {
    "isExportable": False,
    "isReadOnly": False,
    "isApprovalRequired": False,
    "isMandatory": False,
    "isContactUpdatable": False,
    "isContactVisible": True,
    "isPersonalData": False,
    "requiresVerification": False,
    "isDisabled": False,
}
METADATA_KEYS = frozenset({*_FLAGS, "listKey", "labels", "order"})


class SchemaError(ValueError):
    """A details schema that cannot be used; `pointer` names the place."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


@dataclass(frozen=True)
class FieldPolicy:
    pointer: str  # /personalInformation/firstName
    key: str  # personalInformation.firstName
    section: str  # personalInformation ("" at the top)
    json_type: str | None
    format: str | None
    list_key: str | None
    labels: Mapping[str, str]
    is_exportable: bool = False
    is_read_only: bool = False
    is_approval_required: bool = False
    is_mandatory: bool = False
    is_contact_updatable: bool = False
    is_contact_visible: bool = True
    is_personal_data: bool = False
    requires_verification: bool = False
    is_disabled: bool = False
    enum: tuple[Any, ...] | None = None

    @property
    def channel(self) -> str | None:
        """Email or Mobile when a change to this field must be verified first."""
        return CHANNEL_OF_FORMAT.get(self.format or "") if self.requires_verification else None

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.key

    def metadata(self) -> dict[str, Any]:
        """The flags as the schema spells them (camelCase), for API answers."""
        return {
            "isExportable": self.is_exportable,
            "isReadOnly": self.is_read_only,
            "isApprovalRequired": self.is_approval_required,
            "isMandatory": self.is_mandatory,
            "isContactUpdatable": self.is_contact_updatable,
            "isContactVisible": self.is_contact_visible,
            "isPersonalData": self.is_personal_data,
            "requiresVerification": self.requires_verification,
            "isDisabled": self.is_disabled,
        }


@dataclass(frozen=True)
class Section:
    """A group of fields (a JSON object in the details), for rendering a form."""

    key: str
    pointer: str
    labels: Mapping[str, str]
    children: list[Section | FieldPolicy] = field(default_factory=list)

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.key.rpartition(".")[2]


@dataclass(frozen=True)
class SchemaMap:
    """A details schema, walked: every field by pointer, and the section tree in order."""

    fields: dict[str, FieldPolicy]
    root: Section

    def by_key(self, key: str) -> FieldPolicy | None:
        return self.fields.get(key_to_pointer(key))

    @cached_property
    def list_fields_by_section(self) -> dict[str, list[FieldPolicy]]:
        """The fields that take a list's ids, per section: where a subdivision finds its country."""
        found: dict[str, list[FieldPolicy]] = {}
        for policy in self.fields.values():
            if policy.list_key is not None:
                found.setdefault(policy.section, []).append(policy)
        return found

    def section(self, key: str) -> Section | None:
        """The section at a layout path key (e.g. `address`); the root for ``""``."""
        found = self.root
        for part in key.split(".") if key else ():
            child = next(
                (c for c in found.children if isinstance(c, Section) and c.key.rpartition(".")[2] == part), None
            )
            if child is None:
                return None
            found = child
        return found


def key_to_pointer(key: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in key.split("."))


def pointer_parts(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _pointer(parts: list[str]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


# --- walking a schema ---------------------------------------------------------------------


def _resolve(raw: Any, document: Mapping[str, Any], at: str, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A schema node with local `$ref`s followed and `allOf` parts merged into it."""
    if not isinstance(raw, dict):
        raise SchemaError(at, "a schema must be an object")
    node: dict[str, Any] = dict(raw)
    ref = node.pop("$ref", None)
    if ref is not None:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise SchemaError(at, "only local references (#/…) are supported")
        if ref in seen:
            raise SchemaError(at, "the reference is circular")
        target: Any = document
        for part in pointer_parts(ref[1:]):
            if not isinstance(target, dict) or part not in target:
                raise SchemaError(at, f"the reference {ref} points nowhere")
            target = target[part]
        node = {**_resolve(target, document, at, seen | {ref}), **node}
    for index, part in enumerate(node.pop("allOf", None) or ()):
        resolved = _resolve(part, document, f"{at}/allOf/{index}", seen)
        properties = {**node.get("properties", {}), **resolved.get("properties", {})}
        required = [*node.get("required", []), *resolved.get("required", [])]
        node = {**resolved, **node, "properties": properties, "required": required}
    return node


def _labels(meta: Mapping[str, Any], at: str) -> dict[str, str]:
    labels = meta.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and k in LANGUAGES and isinstance(v, str) for k, v in labels.items()
    ):
        raise SchemaError(at, "labels must map de, en, fr and it to text")
    return dict(labels)


def _field_metadata(node: Mapping[str, Any], at: str) -> dict[str, Any]:
    meta = node.get(FIELD_KEYWORD, {})
    if not isinstance(meta, dict):
        raise SchemaError(at, f"{FIELD_KEYWORD} must be an object")
    unknown = set(meta) - METADATA_KEYS
    if unknown:
        raise SchemaError(at, f"unknown {FIELD_KEYWORD} keys: {', '.join(sorted(unknown))}")
    for flag in _FLAGS:
        if flag in meta and not isinstance(meta[flag], bool):
            raise SchemaError(at, f"{flag} must be true or false")
    if "listKey" in meta and not isinstance(meta["listKey"], str):
        raise SchemaError(at, "listKey must be text")
    return meta


def _is_object(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "object" or ("properties" in node and "type" not in node)


def walk(document: Mapping[str, Any]) -> SchemaMap:
    """Every field of a details schema with its policy; refuses what the rules cannot use."""
    top = _resolve(document, document, "")
    if not _is_object(top):
        raise SchemaError("", "the top of a details schema must be an object")
    fields: dict[str, FieldPolicy] = {}
    root = Section(key="", pointer="", labels=_labels(top.get(SECTION_KEYWORD, {}), ""))
    _walk_object(top, document, [], True, root, fields)
    if not fields:
        raise SchemaError("", "the schema has no fields")
    return SchemaMap(fields=fields, root=root)


def _walk_object(
    node: Mapping[str, Any],
    document: Mapping[str, Any],
    parts: list[str],
    required_chain: bool,
    section: Section,
    fields: dict[str, FieldPolicy],
) -> None:
    properties = node.get("properties", {})
    if not isinstance(properties, dict):
        raise SchemaError(_pointer(parts), "properties must be an object")
    required = set(node.get("required", []))
    for name, raw in properties.items():
        if "." in name:
            raise SchemaError(_pointer([*parts, name]), "property names may not contain a dot")
        child_parts = [*parts, name]
        at = _pointer(child_parts)
        child = _resolve(raw, document, at)
        is_required = required_chain and name in required
        if _is_object(child):
            meta = child.get(SECTION_KEYWORD, {})
            sub = Section(key=".".join(child_parts), pointer=at, labels=_labels(meta, at))
            section.children.append(sub)
            _walk_object(child, document, child_parts, is_required, sub, fields)
            continue
        meta = _field_metadata(child, at)
        flags = {flag: meta.get(flag, default) for flag, default in _FLAGS.items()}
        json_type = child.get("type") if isinstance(child.get("type"), str) else None
        enum = child.get("enum")
        policy = FieldPolicy(
            pointer=at,
            key=".".join(child_parts),
            section=".".join(parts),
            json_type=json_type,
            format=child.get("format") if isinstance(child.get("format"), str) else None,
            list_key=meta.get("listKey"),
            labels=_labels(meta, at),
            is_exportable=flags["isExportable"],
            is_read_only=flags["isReadOnly"],
            is_approval_required=flags["isApprovalRequired"],
            # Mandatory when flagged, or when the schema itself requires it all the way up.
            is_mandatory=flags["isMandatory"] or is_required,
            is_contact_updatable=flags["isContactUpdatable"],
            is_contact_visible=flags["isContactVisible"],
            is_personal_data=flags["isPersonalData"],
            requires_verification=flags["requiresVerification"],
            is_disabled=flags["isDisabled"],
            enum=tuple(enum) if isinstance(enum, list) else None,
        )
        if policy.requires_verification and policy.channel is None:
            raise SchemaError(at, "requiresVerification needs format email or phone")
        fields[at] = policy
        section.children.append(policy)


# --- documents ----------------------------------------------------------------------------

MISSING: Any = type("Missing", (), {"__repr__": lambda _self: "MISSING"})()


def get(document: Mapping[str, Any], pointer: str) -> Any:
    """The value at `pointer`, or MISSING."""
    node: Any = document
    for part in pointer_parts(pointer):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def put(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Set (or with MISSING remove) the value at `pointer`, creating objects on the way;
    an object left empty by a removal is removed too."""
    parts = pointer_parts(pointer)
    trail: list[tuple[dict[str, Any], str]] = []
    node = document
    for part in parts[:-1]:
        if value is MISSING and not isinstance(node.get(part), dict):
            return
        trail.append((node, part))
        node = node.setdefault(part, {})
    if value is MISSING:
        node.pop(parts[-1], None)
        for parent, part in reversed(trail):
            if parent[part]:
                break
            del parent[part]
    else:
        node[parts[-1]] = copy.deepcopy(value)


def leaves(document: Mapping[str, Any], parts: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(pointer, value) for every non-object value; arrays are leaves."""
    for name, value in document.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*parts, name))
        else:
            yield _pointer([*parts, name]), value


def merge_patch(document: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON Merge Patch: objects merge, `null` removes, arrays are replaced whole."""
    merged = copy.deepcopy(dict(document))
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict):
            current = merged.get(name)
            merged[name] = merge_patch(current if isinstance(current, dict) else {}, value)
            if not merged[name]:
                del merged[name]
        else:
            merged[name] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class Change:
    pointer: str
    old: Any  # MISSING when the field had no value
    new: Any  # MISSING when the field is removed


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (1 and 1.0 are; True and 1 are not)."""
    if a is MISSING or b is MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The fields whose values differ between two documents, in pointer order."""
    before = dict(leaves(old))
    after = dict(leaves(new))
    return [
        Change(pointer, before.get(pointer, MISSING), after.get(pointer, MISSING))
        for pointer in sorted(before.keys() | after.keys())
        if not same(before.get(pointer, MISSING), after.get(pointer, MISSING))
    ]


def unknown_pointers(document: Mapping[str, Any], schema: SchemaMap) -> list[str]:
    """Values the schema has no field for."""
    return [pointer for pointer, _ in leaves(document) if pointer not in schema.fields]


def apply(document: Mapping[str, Any], changes: list[Change]) -> dict[str, Any]:
    result = copy.deepcopy(dict(document))
    for change in changes:
        put(result, change.pointer, change.new)
    return result


def wire(value: Any) -> Any:
    """MISSING as JSON null, for answers and stored history."""
    return None if value is MISSING else value


def synced_required(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the schema whose `required` lists include every isMandatory field, so an
    external validator given only the JSON Schema enforces mandatory fields too."""
    result = copy.deepcopy(dict(document))

    def visit(node: Any) -> bool:
        """Fix `node` in place; True when it holds a mandatory field somewhere below."""
        if not isinstance(node, dict):
            return False
        holds = False
        properties = node.get("properties")
        if isinstance(properties, dict):
            required = list(node.get("required", []))
            for name, child in properties.items():
                if not isinstance(child, dict):
                    continue
                meta = child.get(FIELD_KEYWORD)
                mandatory = isinstance(meta, dict) and meta.get("isMandatory") is True
                if visit(child) or mandatory:
                    holds = True
                    if name not in required:
                        required.append(name)
            if required:
                node["required"] = required
        for definition in (node.get("$defs") or {}).values():
            visit(definition)
        return holds

    visit(result)
    return result
