"""E-signatures (references 002 flexperto contract sessions and 003 CM.com Sign dossiers).

A dossier is what one person asks others to sign: a name, a signing method (`ses`, the
platform's seal for each signer's step, or `aes`, a certificate of the signer's own), a
locale for the signers' texts, reminders and an expiry, and its invitees, each a signer,
an approver or a viewer at a position (the same position is one parallel group; the groups
go in ascending order). Documents with their fields, invites with their channels, the
signer's authentication and the PAdES signatures attach to the dossier and its invitees
in tables of their own.

Life cycle: a dossier is a `draft` (changed and deleted freely by those who see it) until
its first invite makes it `pending`; it ends `completed`, `declined`, `cancelled` (with a
reason) or `expired`, and nothing leaves an end state. An invitee goes `waiting → invited
→ viewed → signed | approved | declined`. Every change of state is timestamped.

Who sees a dossier: its owner (a member) and everyone their work reports to, members who
see its contact (`clients.service.access.follows_contact`, ADR 0013), admins and apps.
"""
