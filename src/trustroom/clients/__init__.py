"""Client records: contacts (people) and legal entities whose details follow a JSON Schema.

A tenant has one details schema per kind (`contact`, `legalEntity`), versioned; until an
admin replaces it, the built-in default applies. Per-field metadata in the schema (the
`x-field` keyword) decides who may change a field, whether a member's change needs a
second member's approval (a change request), whether it is exported, personal data, or
must be verified (email, mobile) before it applies.

Invariants: every applied change has a history row per field; a change request's
reviewer is never its initiator (also a database constraint); at most one change request
per record is pending; a member sees only the records assigned to them or their team
unless they may read all. Life cycle of a record: created → updated (directly, or through
approved change requests) → anonymized (irreversible).
"""
